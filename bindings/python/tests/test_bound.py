"""Sampler.bound and Sampler.report (include/scoresde/bound.h) and their settings."""
import numpy as np
import pytest

import scoresde as sd
from scoresde.sampler import REPORT_COLUMNS


@pytest.fixture
def vp():
    with sd.Sde.vp() as sde:
        yield sde


@pytest.fixture
def gauss(vp):
    with sd.Model.gmm(vp, np.array([1.0]), np.array([[0.5, -1.0]]),
                      np.array([[0.3, 0.3]])) as m:
        yield m


def test_bound_terms_and_settings(gauss):
    x = np.random.default_rng(0).normal([0.5, -1.0], np.sqrt(0.3), (50, 2))
    with sd.Sampler("pc", bound_draws=4, bound_time="uniform", eps=0.05) as s:
        assert s.get("bound_draws") == 4 and s.get("bound_time") == 1
        b = s.bound(gauss, x, seed=3)
        np.testing.assert_array_equal(b["nll"], (b["prior"] + b["score"]) + b["boundary"])
        assert np.all(b["stderr"] > 0)
        again = s.bound(gauss, x, seed=3)
        np.testing.assert_array_equal(again["nll"], b["nll"])
        # the bound exceeds -ln p_0 on average (exact score: a small gap)
        nll0 = -gauss.log_density(x, 0.0)
        assert np.mean(b["nll"] - nll0) > -3 * np.std(b["nll"] - nll0) / np.sqrt(50)
        cols, st = s.report(gauss, x, kind="bound", seed=3)
        np.testing.assert_array_equal(cols["total"], b["nll"])
        assert set(REPORT_COLUMNS) <= set(cols) and st["nfe"] == 4
        assert cols["summary"]["bpd"] == pytest.approx(np.mean(b["nll"]) / (2 * np.log(2)))


def test_report_dequantised_ode(gauss):
    x = np.array([[0.0, 255.0], [128.0, 3.0]])
    with sd.Sampler("ode", solver="rk4", steps=50, dequant_bits=8, dequant_draws=3,
                    data_scale=2.0, data_shift=-1.0) as s:
        cols, _ = s.report(gauss, x, kind="ode")
        np.testing.assert_allclose(cols["dequant"], 2 * (8 * np.log(2) - np.log(2.0)))
        np.testing.assert_array_equal(cols["total"], ((cols["prior"] + cols["flow"])
                                                      + cols["boundary"]) + cols["dequant"])
        assert np.all(np.isfinite(cols["stderr"]))
        with pytest.raises(sd.ScoresdeError, match=r"x\[1\]"):
            s.report(gauss, np.array([[0.0, 2.5]]), kind="ode")
        with pytest.raises(ValueError, match="kind"):
            s.report(gauss, x, kind="elbo")
