"""Exact conditional models, conditional hooks and conditional sampling (issue 11)."""

import numpy as np
import pytest

import scoresde as sd
from scoresde.errors import InvalidArgumentError


def _mixture():
    sde = sd.Sde.vp()
    means = np.array([[[-3.0, 0.0], [-3.0, 3.0]], [[3.0, 0.0], [3.0, -3.0]]])
    var = np.full((2, 2, 2), 0.25)
    return sd.Model.cond_gmm(sde, np.array([0.3, 0.7]), np.array([[0.6, 0.4], [0.25, 0.75]]),
                             means, var)


def test_cond_gmm_sampling_and_guidance():
    m = _mixture()
    assert m.cond_dim == 1
    s = sd.Sampler("dpmpp", steps=30)
    x, st = s.sample(m, 2000, seed=1, cond=np.array([1.0]))
    assert abs(x[:, 0].mean() - 3.0) < 0.1            # class 1 is on the right
    null, _ = s.sample(m, 2000, seed=1)               # the null condition: the mixture
    assert abs((null[:, 0] < 0).mean() - 0.3) < 0.05
    s.set(guidance_scale=0.0)
    same, _ = s.sample(m, 2000, seed=1, cond=np.array([1.0]))
    assert np.array_equal(same, x)
    s.set(guidance_scale=2.0)
    assert s.get("guidance_scale") == 2.0
    g, _ = s.sample(m, 10, seed=1, cond=np.zeros((10, 1)))
    assert np.isfinite(g).all()


def test_linear_gaussian_posterior_and_likelihood():
    sde = sd.Sde.ve()
    S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    A = np.array([[1.0, 0.0], [0.5, 1.0], [-0.3, 0.8]])
    Se = np.diag([0.2, 0.3, 0.25])
    m0 = np.array([0.5, -1.0])
    m = sd.Model.linear_gaussian(sde, m0, S0, A, Se)
    y = np.array([1.2, -0.4, 0.9])
    P = np.linalg.inv(S0) + A.T @ np.linalg.inv(Se) @ A
    Sp = np.linalg.inv(P)
    mp = Sp @ (np.linalg.inv(S0) @ m0 + A.T @ np.linalg.inv(Se) @ y)
    x, _ = sd.Sampler("ode").sample(m, 3000, seed=2, cond=y)
    assert np.allclose(x.mean(axis=0), mp, atol=0.05)
    assert np.allclose(np.cov(x.T), Sp, atol=0.03)
    t = np.full(4, 1e-5)
    pts = x[:4]
    exact = m.log_density(pts, t, cond=y)
    logp, lat, _ = sd.Sampler("ode").likelihood(m, pts, cond=y, latent=True)
    # the prior N(0, sigma_max^2 I) for the exact p_T(. | y), as the C tests do
    logp += m.log_density(lat, np.full(4, sde.end_time), cond=y) - sde.prior_logp(lat)
    assert np.allclose(logp, exact, atol=1e-3)


def test_cond_hook_and_errors():
    m = _mixture()

    def score(x, t, c, null):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            cond = None if null[i] else c[i:i + 1]
            out[i] = m.score(x[i:i + 1], t[i:i + 1], cond=cond)[0]
        return out

    h = sd.Model.from_cond_score(sd.Sde.vp(), 2, 1, score)
    s = sd.Sampler("pc", steps=5, guidance_scale=1.0)
    a, _ = s.sample(h, 4, seed=3, cond=np.array([[0.0], [1.0], [1.0], [0.0]]))
    b, _ = s.sample(m, 4, seed=3, cond=np.array([[0.0], [1.0], [1.0], [0.0]]))
    assert np.array_equal(a, b)
    with pytest.raises(InvalidArgumentError):
        s.sample(m, 4, cond=np.array([[2.0]]))         # label out of range
    plain = sd.Model.gmm(sd.Sde.vp(), np.array([1.0]), np.zeros((1, 2)), np.ones((1, 2)))
    with pytest.raises(InvalidArgumentError):
        s.sample(plain, 4)                             # guidance needs a conditional model


def _lg_fixture():
    sde = sd.Sde.vp()
    S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    A = np.array([[1.0, 0.0], [0.5, 1.0], [-0.3, 0.8]])
    Se = np.diag([0.2, 0.3, 0.25])
    m0 = np.array([0.5, -1.0])
    return sde, sd.Model.linear_gaussian(sde, m0, S0, A, Se), m0, S0, A, Se


def test_iid_gauss_matches_the_n_observation_posterior():
    sde, m, m0, S0, A, Se = _lg_fixture()
    ys = np.array([[1.2, -0.4, 0.9], [0.8, 0.1, 1.1], [1.5, -0.2, 0.4]])
    P0 = np.linalg.inv(S0)
    Pp = P0 + A.T @ np.linalg.inv(Se) @ A
    iid = sd.Model.iid(m, ys, method="gauss", prior_precision=P0, posterior_precision=Pp)
    assert iid.kind == sd.ModelKind.IID and iid.cond_dim == 0 and iid.dim == 2
    N = len(ys)
    P = P0 + N * A.T @ np.linalg.inv(Se) @ A
    SN = np.linalg.inv(P)
    mN = SN @ (P0 @ m0 + A.T @ np.linalg.inv(Se) @ ys.sum(axis=0))
    x = np.array([[0.3, -0.7], [1.5, 0.2]])
    alpha, sigma = sde.marginal(np.array([0.5]))[:2]
    s = iid.score(x, 0.5)
    C = alpha[0] ** 2 * SN + sigma[0] ** 2 * np.eye(2)
    want = -(np.linalg.inv(C) @ (x - alpha[0] * mN).T).T
    assert np.allclose(s, want, rtol=1e-10, atol=1e-12)
    samples, _ = sd.Sampler("dpmpp", steps=30).sample(iid, 3000, seed=3)
    assert np.allclose(samples.mean(axis=0), mN, atol=0.03)
    fac = sd.Model.iid(m, ys, method="factorized")
    assert np.allclose(fac.score(x, 0.0), -(P @ (x - mN).T).T, rtol=1e-10)
    with pytest.raises(InvalidArgumentError, match="takes no precisions"):
        sd.Model.iid(m, ys, method="factorized", prior_precision=P0)
    with pytest.raises(ValueError):
        sd.Model.iid(m, ys, method="median")
    with pytest.raises(ValueError, match="shape"):
        sd.Model.iid(m, np.zeros((2, 2)))


def test_support_hook_redraws_outside_samples():
    sde = sd.Sde.vp()
    m = sd.Model.gmm(sde, np.array([1.0]), np.array([[0.0]]), np.array([[1.0]]))
    s = sd.Sampler("pc", steps=100, corrector="none")
    plain, st0 = s.sample(m, 500, seed=4)
    assert st0["redrawn"] == 0 and st0["outside"] == 0
    s.set_support(lambda x: x[:, 0] < -0.5)
    x, st = s.sample(m, 500, seed=4)
    assert (x[:, 0] >= -0.5).all() and st["outside"] == 0
    assert st["redrawn"] >= (plain[:, 0] < -0.5).sum()
    kept = plain[:, 0] >= -0.5
    assert np.array_equal(x[kept], plain[kept])
    s.set(support_retries=0)
    _, st = s.sample(m, 500, seed=4)
    assert st["redrawn"] == 0 and st["outside"] == (plain[:, 0] < -0.5).sum()

    def boom(x):
        raise RuntimeError("support hook failed")
    s.set_support(boom)
    with pytest.raises(RuntimeError, match="support hook failed"):
        s.sample(m, 5, seed=4)
    s.set_support(None)
    again, _ = s.sample(m, 500, seed=4)
    assert np.array_equal(again, plain)
