"""The Sde class against closed forms of the VP SDE, the RNG layout, and hooks."""
import gc

import numpy as np
import pytest

import scoresde as sd

BMIN, BMAX = 0.1, 20.0


def vp_closed(t):
    """alpha, sigma, alpha', sigma' and beta of score_sde's VP SDE."""
    beta = BMIN + t * (BMAX - BMIN)
    alpha = np.exp(-0.25 * t ** 2 * (BMAX - BMIN) - 0.5 * t * BMIN)
    sigma = np.sqrt(1 - alpha ** 2)
    dalpha = -0.5 * beta * alpha
    dsigma = -alpha * dalpha / sigma
    return alpha, sigma, dalpha, dsigma, beta


def vp_schedule(t):
    a, s, da, ds, _ = vp_closed(t)
    return a, s, da, ds


T = np.array([0.01, 0.2, 0.5, 0.9, 1.0])
X = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0], [-1.0, 1.0], [2.0, 2.0]])


def test_builtin_kinds_and_queries():
    for kind in sd.SdeKind:
        if kind in (sd.SdeKind.SCHEDULE, sd.SdeKind.CUSTOM):
            with pytest.raises(sd.InvalidArgumentError):
                sd.Sde.default(kind)
            continue
        with sd.Sde.default(kind) as sde:
            assert sde.kind == kind and sde.end_time > 0
            assert 0 < sde.sampling_eps < sde.end_time and 0 < sde.training_eps < sde.end_time
    assert sd.Sde.edm().end_time == 80.0 and sd.Sde.ou(1, 1, 3).end_time == 3.0
    assert sd.Sde.ve(0.01, 50).prior_var == pytest.approx(2500.0)
    for make in (sd.Sde.subvp, sd.Sde.ve, sd.Sde.edm, sd.Sde.cosine):
        make().close()
    with pytest.raises(sd.InvalidArgumentError, match="sigma"):
        sd.Sde.ve(1.0, 0.5)
    with pytest.raises(sd.InvalidArgumentError):
        sd.Sde.ou(-1.0, 1.0, 1.0)
    with pytest.raises(sd.InvalidArgumentError):
        sd.Sde.cosine(0.008, 1.5)


def test_vp_coefficients_match_closed_form():
    with sd.Sde.vp(BMIN, BMAX) as sde:
        a, s, da, ds, beta = vp_closed(T)
        got = sde.marginal(T)
        for g, e in zip(got, (a, s, da, ds)):
            np.testing.assert_allclose(g, e, rtol=1e-12)
        np.testing.assert_allclose(sde.drift(X, T), -0.5 * beta[:, None] * X, rtol=1e-14)
        np.testing.assert_allclose(sde.diffusion(T), np.sqrt(beta), rtol=1e-14)
        score = np.cos(X)
        lam = 0.7
        expect = -0.5 * beta[:, None] * X - (1 + lam ** 2) / 2 * beta[:, None] * score
        np.testing.assert_allclose(sde.reverse_drift(X, T, score, lam), expect, rtol=1e-13)
        np.testing.assert_allclose(sde.pf_drift(X, T, score), sde.reverse_drift(X, T, score, 0),
                                   rtol=0, atol=0)
        with pytest.raises(sd.InvalidArgumentError, match="lam"):
            sde.reverse_drift(X, T, score, -1.0)
        with pytest.raises(sd.InvalidArgumentError):
            sde.marginal(np.array([1.5]))


def test_perturb_kernel_score_prior_use_documented_streams():
    seed, first, draw = 11, 4, 3
    n, D = X.shape
    with sd.Sde.vp(BMIN, BMAX) as sde:
        xt, z = sde.perturb(X, T, seed, first, draw, return_noise=True)
        a, s = vp_closed(T)[:2]
        for i in range(n):
            zi = sd.rng_normal(seed, first + i, sd.rng_offset(sd.RNG_PERTURB, draw), D)
            assert np.array_equal(z[i], zi)
        np.testing.assert_allclose(xt, a[:, None] * X + s[:, None] * z, rtol=1e-14)
        np.testing.assert_allclose(sde.kernel_score(xt, X, T), -z / s[:, None], rtol=1e-10)
        assert sde.prior_var == 1.0
        p = sde.prior_sample(n, D, seed, first, draw)
        for i in range(n):
            assert np.array_equal(
                p[i], sd.rng_normal(seed, first + i, sd.rng_offset(sd.RNG_PRIOR, draw), D))
        np.testing.assert_allclose(
            sde.prior_logp(X), -D / 2 * np.log(2 * np.pi) - 0.5 * (X ** 2).sum(1), rtol=1e-14)


def test_discretize_ddpm_form():
    N = 100
    with sd.Sde.vp(BMIN, BMAX) as sde:
        t = np.array([0.0, 1 / 99, 50 / 99, 1.0, 98.6 / 99])
        f, G = sde.discretize(N, X, t)
        i = np.rint(t * (N - 1))
        beta = BMIN / N + i * (BMAX - BMIN) / (N * (N - 1))
        np.testing.assert_allclose(f, (np.sqrt(1 - beta) - 1)[:, None] * X, rtol=1e-12)
        np.testing.assert_allclose(G, np.sqrt(beta), rtol=1e-14)
        with pytest.raises(sd.InvalidArgumentError):
            sde.discretize(1, X, t)


def test_simulate_one_step_is_euler_maruyama():
    seed, first, draw = 5, 2, 7
    n, D = X.shape
    with sd.Sde.vp(BMIN, BMAX) as sde:
        t0, t1 = 0.2, 0.3
        x1 = sde.simulate(X, t0, t1, 1, seed, first, draw)
        beta = BMIN + t0 * (BMAX - BMIN)
        dt = t1 - t0
        for i in range(n):
            z = sd.rng_normal(seed, first + i, sd.rng_offset(sd.RNG_SIMULATE, draw), D)
            expect = X[i] - 0.5 * beta * X[i] * dt + np.sqrt(beta * dt) * z
            np.testing.assert_allclose(x1[i], expect, rtol=1e-13, atol=1e-15)
        # a run split into two calls by sample gives the same paths
        many = sde.simulate(X, 0.0, 1.0, 20, seed, first, draw)
        part = sde.simulate(X[2:].copy(), 0.0, 1.0, 20, seed, first + 2, draw)
        assert np.array_equal(many[2:], part)
        with pytest.raises(sd.InvalidArgumentError):
            sde.simulate(X, 0.5, 0.2, 3, seed)
        # first_sample by keyword; steps is a 64-bit count, checked against
        # the 2^56 draws of a purpose without truncation
        kw = sde.simulate(X[2:].copy(), 0.0, 1.0, 20, seed, first_sample=first + 2, draw=draw)
        assert np.array_equal(kw, part)
        with pytest.raises(sd.InvalidArgumentError, match=r"steps \(4294967297\)"):
            sde.simulate(X, 0.1, 0.5, 2 ** 32 + 1, seed, draw=2 ** 56 - 2 ** 33)


def test_python_schedule_matches_vp():
    with sd.Sde.schedule(1.0, vp_schedule) as sch, sd.Sde.vp(BMIN, BMAX) as vp:
        assert sch.kind == sd.SdeKind.SCHEDULE
        for g, e in zip(sch.marginal(T), vp.marginal(T)):
            np.testing.assert_allclose(g, e, rtol=1e-12)
        np.testing.assert_allclose(sch.diffusion(T), vp.diffusion(T), rtol=1e-9)
        np.testing.assert_allclose(sch.drift(X, T), vp.drift(X, T), rtol=1e-12)
        clone = sch.clone()
    # the clone outlives the original and still calls the Python hook
    gc.collect()
    np.testing.assert_allclose(clone.marginal(T)[0], vp_closed(T)[0], rtol=1e-12)
    clone.close()


def test_python_custom_ou_matches_builtin():
    theta, s = 0.7, 1.3

    def drift(x, t):
        return -theta * x

    def diffusion(t):
        return np.full(t.shape, s)

    def marginal(t):
        a = np.exp(-theta * t)
        v = s * s * (1 - np.exp(-2 * theta * t)) / (2 * theta)
        sig = np.sqrt(v)
        dv = s * s * np.exp(-2 * theta * t)
        with np.errstate(divide="ignore"):
            ds = np.where(sig > 0, dv / (2 * np.where(sig > 0, sig, 1)), np.inf)
        return a, sig, -theta * a, ds

    with sd.Sde.custom(3.0, drift, diffusion, marginal) as cu, sd.Sde.ou(theta, s, 3.0) as ou:
        assert cu.kind == sd.SdeKind.CUSTOM
        np.testing.assert_allclose(cu.drift(X, T), ou.drift(X, T), rtol=1e-14)
        np.testing.assert_allclose(cu.diffusion(T), ou.diffusion(T), rtol=1e-14)
        np.testing.assert_allclose(cu.marginal(T)[1], ou.marginal(T)[1], rtol=1e-12)
        np.testing.assert_allclose(cu.simulate(X, 0, 1, 8, 3), ou.simulate(X, 0, 1, 8, 3),
                                   rtol=1e-12, atol=1e-14)
    with sd.Sde.custom(3.0, drift, diffusion) as bare:
        with pytest.raises(sd.UnsupportedError):
            bare.marginal(T)
        with pytest.raises(sd.UnsupportedError):
            bare.prior_var


class Boom(Exception):
    pass


def test_exception_in_hook_stops_the_call_and_reraises():
    calls = []

    def drift(x, t):
        calls.append(len(t))
        raise Boom("drift failed")

    with sd.Sde.custom(1.0, drift, lambda t: np.ones_like(t)) as sde:
        with pytest.raises(Boom, match="drift failed") as info:
            sde.simulate(X, 0.0, 1.0, 50, 1)
        assert calls == [len(X)]                       # the first call stopped the run
        assert info.value.scoresde_error.status_name == "SCORESDE_ECALLBACK"
        names = [f.name for f in info.traceback]
        assert "drift" in names                        # the hook's own frame is kept
    # a schedule hook failing during creation
    with pytest.raises(ZeroDivisionError):
        sd.Sde.schedule(1.0, lambda t: 1 / 0)
    # a hook returning the wrong shape is a ValueError raised from the hook
    with sd.Sde.custom(1.0, lambda x, t: x[:1], lambda t: np.ones_like(t)) as sde:
        with pytest.raises(ValueError, match="drift hook returned shape"):
            sde.drift(X, T)
    # a schedule hook returning a non-tuple
    with pytest.raises(TypeError, match="tuple"):
        sd.Sde.schedule(1.0, lambda t: t)


def test_close_is_idempotent_and_use_after_close_fails():
    sde = sd.Sde.vp()
    sde.close()
    sde.close()
    assert sde.closed and "closed" in repr(sde)
    with pytest.raises(ValueError, match="closed"):
        sde.end_time
