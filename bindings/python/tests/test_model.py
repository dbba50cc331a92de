"""The Model class: the mixture against its closed form, Python hook models,
model files, handle lifetimes."""
import gc
import os

import numpy as np
import pytest

import scoresde as sd

W = np.array([0.3, 0.7])
MU = np.array([[-1.0, 0.5], [2.0, -0.5]])
V = np.array([[0.5, 1.0], [0.25, 2.0]])
T = np.array([0.0, 0.05, 0.3, 0.7, 1.0])
X = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0], [-1.0, 1.0], [2.0, 2.0]])


def gmm_closed(sde, x, t):
    """Score and log-density of sum_k w_k N(alpha mu_k, alpha^2 v_k + sigma^2)."""
    alpha, sigma = sde.marginal(t)[:2]
    a = alpha[:, None, None]
    var = a ** 2 * V[None] + sigma[:, None, None] ** 2          # n x K x D
    diff = x[:, None, :] - a * MU[None]
    logc = (np.log(W)[None] - 0.5 * np.log(2 * np.pi * var).sum(-1)
            - 0.5 * (diff ** 2 / var).sum(-1))                  # n x K
    m = logc.max(1, keepdims=True)
    logp = (m + np.log(np.exp(logc - m).sum(1, keepdims=True)))[:, 0]
    r = np.exp(logc - logp[:, None])                            # responsibilities
    score = (r[:, :, None] * (-diff / var)).sum(1)
    return score, logp


@pytest.fixture
def vp():
    with sd.Sde.vp() as sde:
        yield sde


@pytest.fixture
def gmm(vp):
    with sd.Model.gmm(vp, W, MU, V) as m:
        yield m


def test_gmm_matches_closed_form(vp, gmm):
    assert gmm.kind == sd.ModelKind.GMM and gmm.dim == 2
    score, logp = gmm_closed(vp, X, T)
    np.testing.assert_allclose(gmm.score(X, T), score, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(gmm.log_density(X, T), logp, rtol=1e-12)
    alpha, sigma = vp.marginal(T)[:2]
    s = gmm.score(X, T)
    np.testing.assert_allclose(gmm.predict_data(X, T),
                               (X + sigma[:, None] ** 2 * s) / alpha[:, None], rtol=1e-12)
    np.testing.assert_allclose(gmm.predict_noise(X, T), -sigma[:, None] * s, rtol=1e-12)


def test_gmm_derivatives_match_finite_differences(gmm):
    h = 1e-5
    t = T[1:]
    x = X[1:].copy()
    n, D = x.shape
    jac = np.empty((n, D, D))
    for j in range(D):
        e = np.zeros(D)
        e[j] = h
        jac[:, :, j] = (gmm.score(x + e, t) - gmm.score(x - e, t)) / (2 * h)
    div = gmm.divergence(x, t)
    np.testing.assert_allclose(div, np.trace(jac, axis1=1, axis2=2), rtol=1e-6, atol=1e-6)
    v = np.cos(x)
    jv, s = gmm.jvp(x, t, v, return_score=True)
    np.testing.assert_allclose(jv, np.einsum("nij,nj->ni", jac, v), rtol=1e-6, atol=1e-6)
    assert np.array_equal(s, gmm.score(x, t))
    # probes e_1..e_D: the Hutchinson estimate is exactly tr(J) / D
    probes = np.ascontiguousarray(np.broadcast_to(np.eye(D), (n, D, D)))
    np.testing.assert_allclose(gmm.hutchinson(x, t, probes), div / D, rtol=1e-13)


def test_gmm_samples_follow_the_mixture(gmm):
    n = 20000
    t = 0.3
    xs = gmm.sample(t, seed=42, n=n)
    alpha, sigma = gmm.sde.marginal(np.array([t]))[:2]
    mean = alpha[0] * (W @ MU)
    second = (W[:, None] * (alpha[0] ** 2 * (V + MU ** 2) + sigma[0] ** 2)).sum(0)
    var = second - mean ** 2
    # |sample mean - mean| < 5 standard errors: never flakes at this seed
    assert np.all(np.abs(xs.mean(0) - mean) < 5 * np.sqrt(var / n))
    # samples depend on the sample number only, not on how a run is split
    tail = gmm.sample(np.full(10, t), seed=42, first_sample=n - 10)
    assert np.array_equal(tail, xs[-10:])


def test_python_score_hook_matches_gmm(vp, gmm):
    seen = []

    def score(x, t):
        seen.append(x.shape)
        assert not x.flags.writeable and not t.flags.writeable
        return gmm.score(x, t)

    def divergence(x, t):
        return gmm.divergence(x, t)

    with sd.Model.from_score(vp, 2, score, divergence) as m:
        assert m.kind == sd.ModelKind.SCORE_FN and m.dim == 2
        assert np.array_equal(m.score(X, T), gmm.score(X, T))
        assert np.array_equal(m.divergence(X, T), gmm.divergence(X, T))
        assert seen[0] == X.shape
        # Jacobian products by central differences of the hook (model.h)
        v = np.sin(X[1:])
        np.testing.assert_allclose(m.jvp(X[1:], T[1:], v), gmm.jvp(X[1:], T[1:], v),
                                   rtol=1e-6, atol=1e-7)
        with pytest.raises(sd.UnsupportedError):
            m.log_density(X, T)
        with pytest.raises(sd.UnsupportedError):
            m.sample(0.5, seed=1, n=3)
        with pytest.raises(sd.UnsupportedError, match="cannot|hook|saved|callback"):
            m.to_bytes()
    with sd.Model.from_score(vp, 2, score) as nodiv:
        with pytest.raises(sd.UnsupportedError):
            nodiv.divergence(X, T)


def test_python_denoiser_hook_matches_gmm(vp, gmm):
    with sd.Model.from_denoiser(vp, 2, gmm.predict_data) as m:
        assert m.kind == sd.ModelKind.DENOISER_FN
        t = T[1:]
        np.testing.assert_allclose(m.score(X[1:], t), gmm.score(X[1:], t), rtol=1e-9,
                                   atol=1e-12)
        assert np.array_equal(m.predict_data(X, T), gmm.predict_data(X, T))
        with pytest.raises(sd.InvalidArgumentError):
            m.score(X[:1], T[:1])            # sigma(0) = 0: no score from a denoiser


class HookFailure(RuntimeError):
    pass


def test_exception_in_score_hook_reraises_with_traceback(vp):
    def score(x, t):
        raise HookFailure("no score today")

    with sd.Model.from_score(vp, 2, score) as m:
        with pytest.raises(HookFailure, match="no score today") as info:
            m.score(X, T)
        assert info.value.scoresde_error.status == -5
        assert any(f.name == "score" for f in info.traceback)
        with pytest.raises(ValueError, match="score hook returned shape"):
            sd.Model.from_score(vp, 2, lambda x, t: np.zeros(3)).score(X, T)


def test_model_errors(vp, gmm):
    with pytest.raises(sd.DimensionError, match="dimension 3"):
        gmm.score(np.ones((2, 3)), 0.5)
    with pytest.raises(sd.InvalidArgumentError):
        gmm.score(X, 1.5)
    with pytest.raises(sd.InvalidArgumentError):
        sd.Model.gmm(vp, np.array([1.0, -1.0]), MU, V)
    with pytest.raises(ValueError, match="variances"):
        sd.Model.gmm(vp, W, MU, V[:1])
    assert gmm.num_params == 0  # no trainable parameters: a count of 0, not an error
    for call in (lambda: gmm.get_params(np.empty(0)),
                 lambda: gmm.set_params(np.empty(1)),
                 lambda: gmm.score_backward(X, T, X, np.zeros(1)),
                 lambda: gmm.probe_backward(X, T, np.ones((5, 1, 2)), np.ones((5, 1)),
                                            np.zeros(1))):
        with pytest.raises(sd.UnsupportedError, match="(?i)gmm|mixture|kind"):
            call()
    with sd.Sde.custom(1.0, lambda x, t: -x, lambda t: np.ones_like(t)) as bare:
        with pytest.raises(sd.UnsupportedError):
            sd.Model.gmm(bare, W, MU, V)


def test_files_round_trip(tmp_path, gmm):
    path = tmp_path / "m.sde"
    gmm.save(path)
    data = gmm.to_bytes()
    assert path.read_bytes() == data
    with sd.Model.load(path) as a, sd.Model.from_bytes(data) as b:
        assert np.array_equal(a.score(X, T), gmm.score(X, T))
        assert np.array_equal(b.log_density(X, T), gmm.log_density(X, T))
        assert a.sde.kind == sd.SdeKind.VP
    with pytest.raises(sd.CorruptError):
        sd.Model.from_bytes(data[:-5])
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0x40
    with pytest.raises(sd.CorruptError):
        sd.Model.from_bytes(broken)
    with pytest.raises(sd.FileIOError) as info:
        sd.Model.load(tmp_path / "missing.sde")
    assert "missing.sde" in info.value.message
    with pytest.raises(sd.FileIOError):
        gmm.save(tmp_path / "no" / "such" / "dir.sde")
    assert os.listdir(tmp_path) == ["m.sde"]


def test_lifetimes_and_no_leaks():
    gc.collect()
    base = sd.live_allocations()

    def schedule(t):
        a = np.exp(-t)
        s = np.sqrt(1 - a * a)
        with np.errstate(divide="ignore", invalid="ignore"):
            ds = np.where(s > 0, a * a / np.where(s > 0, s, 1), np.inf)
        return a, s, -a, ds

    sde = sd.Sde.schedule(2.0, schedule)
    m = sd.Model.gmm(sde, W, MU, V)
    sde.close()
    del sde
    gc.collect()
    # the model's SDE copy still calls the Python schedule hook
    with m.clone() as c:
        assert np.array_equal(c.score(X, T), m.score(X, T))
    view = m.sde
    assert view.kind == sd.SdeKind.SCHEDULE and view.end_time == 2.0
    assert sd.live_allocations() > base
    m.close()
    assert view.closed
    with pytest.raises(ValueError, match="closed"):
        view.end_time
    with pytest.raises(ValueError, match="closed"):
        m.score(X, T)
    # __del__ frees what was not closed
    for _ in range(3):
        sd.Model.gmm(sd.Sde.ve(), W, MU, V).score(X, 0.5)
    gc.collect()
    assert sd.live_allocations() == base


def test_threads_share_a_hook_model(vp, gmm):
    """Evaluation from several threads at once (model.h): every thread gets the
    single-thread bits, and a hook failing in one thread is raised in that
    thread only."""
    import threading

    def score(x, t):
        if x[0, 0] == 99.0:
            raise HookFailure("thread-local failure")
        return gmm.score(x, t)

    want = gmm.score(X, T)
    results, errors = {}, {}
    with sd.Model.from_score(vp, 2, score) as m:
        def work(k):
            try:
                for _ in range(50):
                    x = X.copy()
                    if k == 0:
                        x[0, 0] = 99.0
                    results[k] = m.score(x, T)
            except HookFailure as exc:
                errors[k] = exc

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert set(errors) == {0}
    for k in (1, 2, 3):
        assert np.array_equal(results[k], want)
