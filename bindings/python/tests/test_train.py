"""Loss, Trainer and Sampler classes, their hooks and error paths, and the
end-to-end case: train an MLP on 2-D data, sample, compare with the data."""
import io
import os

import numpy as np
import pytest

import scoresde as sd
from scoresde.sampler import METHODS, SAMPLER_SETTINGS

W = np.array([0.3, 0.7])
MU = np.array([[-1.0, 0.5], [2.0, -0.5]])
V = np.array([[0.5, 1.0], [0.25, 2.0]])


@pytest.fixture
def vp():
    with sd.Sde.vp() as sde:
        yield sde


@pytest.fixture
def gmm(vp):
    with sd.Model.gmm(vp, W, MU, V) as m:
        yield m


@pytest.fixture
def mlp(vp):
    with sd.Model.mlp(vp, 2, widths=[16, 16], seed=3) as m:
        yield m


def mixture_data(m, seed):
    """The test mixture: mass 0.3 at (-2, 0) (sd 0.3), 0.7 at (2, 1) (sd 0.5)."""
    rng = np.random.default_rng(seed)
    first = rng.random(m) < 0.3
    return np.ascontiguousarray(np.where(first[:, None], rng.normal([-2, 0], 0.3, (m, 2)),
                                         rng.normal([2, 1], 0.5, (m, 2))))


# ---------------------------------------------------------------------- MLP
def test_mlp_options(vp):
    with sd.Model.mlp(vp, 3, widths=[8, 4], activation="tanh", output="score",
                      embedding="sinusoidal", embed_dim=6, seed=9) as m:
        assert m.kind == sd.ModelKind.MLP and m.dim == 3
        # (3 + 6) * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3 parameters of three dense layers
        assert m.num_params == 9 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3
    # widths=[]: no hidden layer; widths None: the library's three layers of 256
    with sd.Model.mlp(vp, 2, widths=[], embed_dim=4) as lin:
        assert lin.num_params == (2 + 4) * 2 + 2
    with sd.Model.mlp(vp, 2, embed_dim=4) as dflt:
        assert dflt.num_params == 6 * 256 + 256 + 2 * (256 * 256 + 256) + 256 * 2 + 2
    with pytest.raises(sd.InvalidArgumentError, match="embed_dim"):
        sd.Model.mlp(vp, 2, embed_dim=3)
    with pytest.raises(ValueError, match="activation"):
        sd.Model.mlp(vp, 2, activation="swish")
    with pytest.raises(ValueError, match="widths"):
        sd.Model.mlp(vp, 2, widths=[4] * 65)
    with pytest.raises(sd.InvalidArgumentError):
        sd.Model.mlp(vp, 0)


# --------------------------------------------------------------------- Loss
def test_loss_dsm_matches_closed_form_and_gradient(vp, mlp):
    """With the exact score, ESM against the mixture itself is 0; DSM's value
    equals the mean of its per-sample values; the gradient matches central
    differences of the loss in one parameter."""
    x0 = mixture_data(64, 1)
    with sd.Loss("dsm", reduction="half_sum") as loss:
        assert loss.kind == 5
        value, per = loss(mlp, x0, seed=4, per_sample=True)
        assert value == pytest.approx(per.mean(), rel=1e-12)
        grad = np.zeros(mlp.num_params)
        assert loss(mlp, x0, seed=4, grad=grad) == value
        theta = mlp.get_params()
        for k in (0, mlp.num_params - 1):
            h = 1e-5
            tp = theta.copy()
            tp[k] += h
            mlp.set_params(tp)
            up = loss(mlp, x0, seed=4)
            tp[k] -= 2 * h
            mlp.set_params(tp)
            down = loss(mlp, x0, seed=4)
            assert grad[k] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)
        mlp.set_params(theta)


def test_loss_esm_reference_and_errors(vp, gmm):
    x0 = np.ascontiguousarray(MU.copy())
    with sd.Loss("esm") as loss:
        with pytest.raises(sd.InvalidArgumentError, match="reference"):
            loss(gmm, x0)
        loss.set_reference(gmm)
        assert loss(gmm, x0) == 0.0
        with pytest.raises(ValueError, match="unknown setting"):
            loss.set(colour=1)
        with pytest.raises(sd.InvalidArgumentError):
            loss.set(num_probes=0)
        with pytest.raises(ValueError, match="time_mode"):
            loss.set(time_mode="sometimes")
        with pytest.raises(TypeError):
            loss(gmm, [["a", "b"]])
        with pytest.raises(sd.DimensionError):
            loss(gmm, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="kind"):
        sd.Loss("nope")
    with pytest.raises(sd.InvalidArgumentError):
        sd.Loss(99)


def test_loss_user_weight_hook(vp, mlp):
    x0 = mixture_data(16, 2)
    with sd.Loss("dsm") as loss:
        base = loss(mlp, x0, seed=1, per_sample=True)[1]
        loss.set(weighting="uniform")
        unweighted = loss(mlp, x0, seed=1, per_sample=True)[1]
        loss.set_weight(lambda t: 3.0 * np.ones_like(t))
        np.testing.assert_allclose(loss(mlp, x0, seed=1, per_sample=True)[1], 3 * unweighted,
                                   rtol=1e-12)
        assert not np.allclose(base, unweighted)

        def bad(t):
            raise RuntimeError("weight boom")
        loss.set_weight(bad)
        with pytest.raises(RuntimeError, match="weight boom") as info:
            loss(mlp, x0)
        assert isinstance(info.value.scoresde_error, sd.CallbackError)


# ------------------------------------------------------------------ Trainer
def test_loss_and_trainer_settings_tables(vp, mlp):
    """Every setting's bounds, default (a new object starts there) and set/get
    round trip by name, the ids matching the C enums, NaN only for loss EPS."""
    from scoresde.train import LOSS_KINDS, LOSS_SETTINGS, TRAIN_SETTINGS
    assert sorted(c[0] for c in LOSS_SETTINGS.values()) == list(range(1, 12))
    assert sorted(c[0] for c in TRAIN_SETTINGS.values()) == list(range(1, 12))
    for kind in LOSS_KINDS:
        with sd.Loss(kind) as loss:
            for name, (_, is_int, _) in LOSS_SETTINGS.items():
                lo, hi, b_int = sd.Loss.bounds(name)
                assert b_int == is_int and lo <= hi
                want, got = sd.Loss.default(kind, name), loss.get(name)
                assert (np.isnan(want) and np.isnan(got)) or got == want, (kind, name)
    with sd.Loss("dsm") as loss:
        loss.set_weight(lambda t: np.ones_like(t))
        for name, (_, is_int, _) in LOSS_SETTINGS.items():
            lo, hi, _ = sd.Loss.bounds(name)
            for v in (lo, hi):
                loss.set(**{name: int(v) if is_int else v})
                assert loss.get(name) == v
        loss.set(eps=float("nan"))
        assert np.isnan(loss.get("eps"))
        with pytest.raises(sd.InvalidArgumentError, match="outside its bounds"):
            loss.set(p_std=float("nan"))
    with sd.Loss("dsm") as dsm, sd.Trainer(mlp, dsm) as tr:
        for name, (_, is_int) in TRAIN_SETTINGS.items():
            lo, hi, b_int = sd.Trainer.bounds(name)
            assert b_int == is_int and lo <= hi
            assert tr.get(name) == sd.Trainer.default(name), name
            if name != "seed":
                for v in (lo, hi):
                    tr.set(**{name: int(v) if is_int else v})
                    assert tr.get(name) == v
        tr.set(seed=-1)
        assert tr.get("seed") == -1
        with pytest.raises(sd.InvalidArgumentError, match="batch = 0 is outside"):
            tr.set(batch=0)


def test_trainer_step_is_backward_then_apply(vp):
    """step() equals backward() + apply(); get/set_grad round-trip; the EMA
    and checkpoints restore the state bit for bit."""
    x0 = mixture_data(32, 3)
    with sd.Model.mlp(vp, 2, widths=[8], seed=1) as a, sd.Model.mlp(vp, 2, widths=[8],
                                                                     seed=1) as b, \
            sd.Loss("dsm") as loss, sd.Trainer(a, loss, lr=1e-2, warmup=0) as ta, \
            sd.Trainer(b, loss, lr=1e-2, warmup=0) as tb:
        assert ta.num_params == a.num_params and ta.steps == 0
        la = ta.step(x0)
        lb = tb.backward(x0, first_sample=0)
        g = tb.get_grad()
        tb.set_grad(g)
        norm = tb.apply()
        assert la == lb and norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
        np.testing.assert_array_equal(a.get_params(), b.get_params())
        assert ta.steps == tb.steps == 1
        # EMA after one step: d = min(0.9999, 2/11) < 1 keeps part of p0
        assert not np.array_equal(ta.get_ema(), a.get_params())
        blob = ta.to_bytes()
        after = [ta.step(x0) for _ in range(3)]
        p_after = a.get_params()
        ta.load_bytes(blob)
        assert ta.steps == 1
        assert [ta.step(x0) for _ in range(3)] == after
        np.testing.assert_array_equal(a.get_params(), p_after)
        with ta.export("raw") as raw, ta.export() as ema:
            np.testing.assert_array_equal(raw.get_params(), p_after)
            np.testing.assert_array_equal(ema.get_params(), ta.get_ema())
            raw.copy_params_from(ema)
            np.testing.assert_array_equal(raw.get_params(), ta.get_ema())
        with pytest.raises(sd.CorruptError):
            ta.load_bytes(blob[:-9] + b"x" * 9)
        with pytest.raises(sd.InvalidArgumentError):
            ta.set_grad(np.full(ta.num_params, np.nan))
        with pytest.raises(ValueError):
            ta.set_grad(np.zeros(3))          # EDIM: DimensionError is a ValueError


def test_trainer_file_checkpoint_and_errors(vp, mlp, gmm, tmp_path):
    x0 = mixture_data(16, 4)
    with sd.Loss("dsm") as loss:
        with pytest.raises(sd.UnsupportedError, match="kind|GMM|trainable"):
            sd.Trainer(gmm, loss)
        with sd.Trainer(mlp, loss, warmup=0) as tr:
            tr.step(x0)
            path = os.fspath(tmp_path / "ckpt.sde")
            tr.save(path)
            p1 = mlp.get_params()
            tr.step(x0)
            tr.load(path)
            np.testing.assert_array_equal(mlp.get_params(), p1)
            with pytest.raises(sd.FileIOError):
                tr.load(os.fspath(tmp_path / "missing"))
            with pytest.raises(sd.InvalidArgumentError, match="lr = -1 is outside"):
                tr.set(lr=-1.0)
            with pytest.raises(ValueError, match="unknown setting"):
                tr.set(momentum=0.9)
            with pytest.raises(ValueError, match="steps"):
                tr.fit(x0, -1)
        assert tr.closed
    with sd.Loss("dsm") as loss, sd.Trainer(mlp, loss) as tr:
        loss.close()
        with pytest.raises(ValueError, match="closed"):
            tr.step(x0)


def test_fit_progress_hook_bar_and_stop(vp, mlp, monkeypatch):
    data = mixture_data(200, 5)
    seen = []
    with sd.Loss("dsm") as loss, sd.Trainer(mlp, loss, batch=16) as tr:
        done, last, ema = tr.fit(data, 5, progress=lambda s, l, e: seen.append((s, l, e)))
        assert done == 5 and [s for s, _, _ in seen] == [1, 2, 3, 4, 5]
        assert (last, ema) == seen[-1][1:]
        # a stop is a CallbackError, as for a sampler; the steps done are kept
        with pytest.raises(sd.CallbackError) as info:
            tr.fit(data, 10, progress=lambda s, l, e: s >= 7)
        assert info.value.status == -5 and tr.steps == 7

        def boom(step, loss_, ema_):
            raise KeyError("progress boom")
        with pytest.raises(KeyError, match="progress boom") as info:
            tr.fit(data, 10, progress=boom)
        assert isinstance(info.value.scoresde_error, sd.CallbackError)
        assert tr.steps == 8                      # the stopping step is kept
        # the text bar (tqdm turned off), drawn on a captured stream
        monkeypatch.setenv("SCORESDE_NO_TQDM", "1")
        stream = io.StringIO()
        monkeypatch.setattr("sys.stderr", stream)
        tr.fit(data, 3, progress=True)
        text = stream.getvalue()
        assert "3/3" in text and "#" * 30 in text and text.endswith("\n")


# ------------------------------------------------------------------ Sampler
def test_sampler_settings_bounds_and_errors():
    with sd.Sampler("pc", steps=10, predictor="euler_maruyama", snr=0.2) as s:
        assert s.method == 1
        assert s.get("steps") == 10 and s.get("predictor") == 1
        assert s.get("snr") == 0.2
        assert sd.Sampler.bounds("steps") == (1.0, 1e6, True)
        assert sd.Sampler.bounds("snr") == (0.0, 100.0, False)
        assert sd.Sampler.default("snr") == 0.16
        # per-method defaults: a new sampler starts at them; NaN = library's choice
        assert sd.Sampler.default("steps", "edm") == 17
        assert sd.Sampler.default("grid", "dpmpp") == 3
        assert np.isnan(sd.Sampler.default("eps")) and np.isnan(s.get("h_init"))
        for method in METHODS:
            with sd.Sampler(method) as f:
                for name in SAMPLER_SETTINGS:
                    np.testing.assert_equal(f.get(name), sd.Sampler.default(name, method))
        s.set(eps=0.0, h_min=0.0)
        assert s.get("eps") == 0.0
        s.set(eps=float("nan"))
        assert np.isnan(s.get("eps"))
        with pytest.raises(sd.InvalidArgumentError, match="h_init"):
            s.set(h_init=0.0)
        with pytest.raises(sd.InvalidArgumentError, match="0"):
            s.set(steps=0)
        with pytest.raises(TypeError):
            s.set(steps=2.5)
        with pytest.raises(TypeError):
            s.set(snr="high")
        with pytest.raises(ValueError, match="unknown sampler setting"):
            s.set(colour=1)
        with pytest.raises(ValueError, match="solver"):
            s.set(solver="leapfrog")
        with pytest.raises(sd.InvalidArgumentError):
            s.set(snr=float("nan"))
        c = s.clone()
        c.set(steps=3)
        assert s.get("steps") == 10 and c.get("steps") == 3
        c.close()
    with pytest.raises(ValueError, match="method"):
        sd.Sampler("magic")


def test_sampler_grid_times(vp):
    with sd.Sampler("ode", steps=4) as s:
        t = s.times(vp)
        np.testing.assert_allclose(t, np.linspace(1.0, 1e-3, 5), rtol=1e-14)
        s.set_grid(np.array([1.0, 0.5, 0.1]))
        assert s.get("steps") == 2 and s.get("grid") == 4
        np.testing.assert_array_equal(s.times(vp), [1.0, 0.5, 0.1])
        with pytest.raises(sd.InvalidArgumentError):
            s.set_grid(np.array([0.5, 1.0]))


def test_sampler_exact_model_runs(vp, gmm):
    """With the exact mixture score the ODE sampler and its encoder invert each
    other, likelihoods match the closed-form density, and every run reports
    stats."""
    with sd.Sampler("ode", solver="rk4", steps=200) as s:
        x, st = s.sample(gmm, 8, seed=1)
        assert st["nfe"] == 800 and st["t_final"] == pytest.approx(1e-3)
        z, st = s.encode(gmm, x)
        x2, _ = s.sample(gmm, 8, x_T=z)
        np.testing.assert_allclose(x2, x, atol=1e-6)
        logp, lat, st = s.likelihood(gmm, x, latent=True)
        # the change of variables along the exact flow: ln p_eps(x) - ln p_T(x_T)
        # is what the ODE integrates; the library adds the prior's ln p_T
        # (the mixture's own p_T differs from the prior by ~1e-2 at T = 1)
        exact = gmm.log_density(x, 1e-5) - gmm.log_density(lat, 1.0) + vp.prior_logp(lat)
        np.testing.assert_allclose(logp, exact, atol=1e-4)
        bpd = sd.bits_per_dim(logp, 2, bits=8, scale=2.0)
        np.testing.assert_allclose(bpd, -logp / (2 * np.log(2)) - 1 + 8, rtol=1e-12)
    with sd.Sampler("pc", steps=20) as s:
        y = np.ascontiguousarray(np.tile([0.7, 0.0], (4, 1)))
        xi, _ = s.inpaint(gmm, y, [True, False], seed=2)
        np.testing.assert_array_equal(xi[:, 0], 0.7)
        with pytest.raises(sd.DimensionError):
            s.inpaint(gmm, y, [True, False, True])
        with pytest.raises(sd.InvalidArgumentError):
            s.encode(gmm, y)                       # encode needs the ODE method
        # Langevin on N(1, 1): stationary variance 1 / (1 - delta / 2)
        s.set(steps=300, langevin_step=0.1)
        x0 = np.zeros((4000, 1))
        xl, _ = s.langevin(lambda x: 1.0 - x, x0, seed=3)
        # 5-sigma bounds for 4000 (nearly independent) samples: sd of the mean
        # sqrt(v / n) = 0.016, of the variance v sqrt(2 / n) = 0.024
        v = 1 / (1 - 0.05)
        assert abs(xl.mean() - 1.0) < 5 * np.sqrt(v / 4000)
        assert abs(xl.var() - v) < 5 * v * np.sqrt(2 / 4000)


def test_sampler_hooks(vp, gmm):
    calls = []
    with sd.Sampler("pc", steps=6, corrector="none") as s:
        x, _ = s.sample(gmm, 3, seed=1, progress=lambda k, t, nfe: calls.append((k, t, nfe)))
        assert [k for k, _, _ in calls] == [1, 2, 3, 4, 5, 6]
        assert calls[-1][1] == pytest.approx(1e-3)
        with pytest.raises(sd.CallbackError):
            s.sample(gmm, 3, progress=lambda k, t, nfe: k == 2)

        def boom(k, t, nfe):
            raise ZeroDivisionError("progress boom")
        with pytest.raises(ZeroDivisionError, match="progress boom"):
            s.sample(gmm, 3, progress=boom)
        # guidance: a zero gradient changes nothing; a constant one shifts
        # the samples; an exception in it is re-raised
        s.set_guidance(lambda x, t: np.zeros_like(x), 2.0)
        xg, _ = s.sample(gmm, 3, seed=1)
        np.testing.assert_array_equal(xg, x)
        s.set_guidance(lambda x, t: np.ones_like(x), 1.0)
        xs, _ = s.sample(gmm, 3, seed=1)
        assert np.all(xs > x)

        def bad(x, t):
            raise LookupError("guidance boom")
        s.set_guidance(bad)
        with pytest.raises(LookupError, match="guidance boom") as info:
            s.sample(gmm, 3)
        assert isinstance(info.value.scoresde_error, sd.CallbackError)
        s.set_guidance(lambda x, t: np.zeros(3))
        with pytest.raises(ValueError, match="guidance hook returned shape"):
            s.sample(gmm, 3)
        s.set_guidance(None)
        np.testing.assert_array_equal(s.sample(gmm, 3, seed=1)[0], x)
        # a guidance exception raised on a worker thread (THREADS = 2, one
        # sample per block) is still re-raised in the caller
        s.set(threads=2, block=1)
        s.set_guidance(bad)
        with pytest.raises(LookupError, match="guidance boom"):
            s.sample(gmm, 4)
        s.set_guidance(None)


def test_sampler_text_progress_bar(gmm, monkeypatch):
    monkeypatch.setenv("SCORESDE_NO_TQDM", "1")
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with sd.Sampler("pc", steps=4, corrector="none") as s:
        s.sample(gmm, 2, progress=True)
    assert "4/4" in stream.getvalue() and "t 0.001" in stream.getvalue()


# --------------------------------------------------------------- end to end
def test_end_to_end_train_then_sample(vp):
    """Train an MLP with DSM on the two-component mixture, sample 2000 points
    with the PC sampler (reverse diffusion) and the probability-flow ODE (RK4),
    and compare with the data. Fixed seeds: deterministic. Bounds, for
    n = 2000 samples against 4000 data points: the mass of the left component
    (0.3) has sd sqrt(0.21 (1/2000 + 1/4000)) = 0.0125; 5 sd plus 0.02 for the
    model's error gives 0.085. The mean of x_1 (variance 3.55) has sd
    sqrt(3.55 (1/2000 + 1/4000)) = 0.052, 5 sd = 0.26; of x_2 (variance 0.41)
    0.018, 5 sd = 0.09. Covariance entries within 15% of the data's plus 0.05
    (sd of a sample variance v sqrt(2/n) is 3%). The untrained network fails
    these bounds (checked below), so the test can fail."""
    data = mixture_data(4000, 11)
    mean, cov = data.mean(0), np.cov(data.T)
    left = (data[:, 0] < 0).mean()

    def check(x):
        assert abs((x[:, 0] < 0).mean() - left) < 0.085
        assert abs(x[:, 0].mean() - mean[0]) < 0.26
        assert abs(x[:, 1].mean() - mean[1]) < 0.09
        np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.15, atol=0.05)

    with sd.Model.mlp(vp, 2, widths=[64, 64], seed=1) as model, sd.Loss("dsm") as loss, \
            sd.Trainer(model, loss, lr=3e-3, warmup=100, batch=256, ema_rate=0.99) as tr:
        with tr.export() as untrained, sd.Sampler("ode", solver="rk4", steps=20) as s:
            with pytest.raises(AssertionError):
                check(s.sample(untrained, 500, seed=1)[0])
        steps, last, ema = tr.fit(data, 1500)
        assert steps == 1500 and ema < 0.3
        with tr.export() as trained:
            with sd.Sampler("pc", steps=200, corrector="none") as pc:
                check(pc.sample(trained, 2000, seed=3)[0])
            with sd.Sampler("ode", solver="rk4", steps=50) as ode:
                check(ode.sample(trained, 2000, seed=3)[0])


# -------------------------------------------------------------- residual MLP
def test_resmlp_options_identity_training_and_files(vp):
    """Model.resmlp takes the options by keyword; an untrained model is the
    parameterisation's identity (the output layer starts at zero); a few DSM
    steps train it; files round-trip it bit for bit."""
    W, B, E, D = 8, 2, 4, 3
    with sd.Model.resmlp(vp, D, width=W, blocks=B, embed_dim=E, activation="gelu",
                         output="data", seed=4) as m:
        assert m.kind == sd.ModelKind.RESMLP and m.dim == D
        # W_in, b_in; per block 2 LayerNorm vectors, two layers; P, p; final LN; out
        assert m.num_params == W * D + W + B * (4 * W + 2 * W * W) + B * W * E + B * W \
            + 2 * W + D * W + D
        x = np.random.default_rng(0).normal(size=(5, D))
        t = np.full(5, 0.5)
        _, sigma, _, _ = vp.marginal(t)
        np.testing.assert_array_equal(m.score(x, t), (-1.0 / (sigma * sigma))[:, None] * x)
        x0 = np.ascontiguousarray(np.random.default_rng(1).normal(size=(64, D)))
        with sd.Loss("dsm") as loss, sd.Trainer(m, loss, warmup=0) as tr:
            for _ in range(3):
                assert np.isfinite(tr.step(x0))
        with sd.Model.from_bytes(m.to_bytes()) as back:
            assert back.kind == sd.ModelKind.RESMLP
            np.testing.assert_array_equal(back.score(x, t), m.score(x, t))
    with sd.Model.resmlp(vp, 2, width=4, blocks=1, cond_dim=1, cond_classes=3,
                         cond_null=True) as c:
        assert c.cond_dim == 1
    with pytest.raises(sd.InvalidArgumentError, match="width"):
        sd.Model.resmlp(vp, 2, width=0)
    with pytest.raises(ValueError, match="activation"):
        sd.Model.resmlp(vp, 2, activation="swish")
    with pytest.raises(TypeError, match="widths"):
        sd.Model.resmlp(vp, 2, widths=[4])


def test_new_samplers():
    """The samplers of issue 15 by name, with their named settings."""
    with sd.Sde.vp() as sde:
        g = sd.Model.gmm(sde, [1.0], [[0.5, -1.0]], [[0.3, 0.3]])
        for method in ("ipndm", "ddim", "dpmpp_sde", "restart"):
            with sd.Sampler(method, final_step="tweedie", eta=0.5, grid="power", power=2.0) as s:
                x, stats = s.sample(g, 400, seed=1)
                assert stats["nfe"] > 1
                assert abs(x[:, 0].mean() - 0.5) < 0.15
    assert sd.Sampler.default("order", "ipndm") == 4
    assert sd.Sampler.default("restart_k", "restart") == 2
    assert sd.Sampler.default("restart_tmax", "restart") == 0.3
    with sd.Sampler("ddim", threshold=0.995, threshold_bound=1.0) as s:
        assert s.get("threshold") == 0.995
    assert sd.Sampler.default("batch_norms", "pc") == 2
