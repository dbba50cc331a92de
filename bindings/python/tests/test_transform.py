"""The data transform of a model (issue 13): x_data = shift + scale * x_model,
set, read, applied, saved, cloned, exported and checkpointed."""
import math

import numpy as np
import pytest

import scoresde as sd

SHIFT = np.array([300.0, -2.5])
SCALE = np.array([50.0, 0.125])
X = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0]])


@pytest.fixture
def vp():
    with sd.Sde.vp() as sde:
        yield sde


@pytest.fixture
def gmm(vp):
    with sd.Model.gmm(vp, [0.4, 0.6], [[-1.0, 0.0], [1.0, 0.5]], [[1.0, 1.0], [0.5, 2.0]]) as m:
        yield m


def test_identity_until_set(gmm):
    assert gmm.transform is None
    assert np.array_equal(gmm.to_data(X), X)
    assert np.array_equal(gmm.from_data(X), X)
    assert gmm.transform_log_det() == 0.0


def test_set_apply_and_clear(gmm):
    gmm.set_transform(SHIFT, SCALE)
    shift, scale = gmm.transform
    assert np.array_equal(shift, SHIFT) and np.array_equal(scale, SCALE)
    y = gmm.to_data(X)
    assert np.array_equal(y, SHIFT + SCALE * X)
    assert np.array_equal(gmm.from_data(y), (y - SHIFT) / SCALE)
    np.testing.assert_allclose(gmm.from_data(y), X, rtol=0, atol=1e-15 * 300)
    assert gmm.transform_log_det() == pytest.approx(math.log(50.0) + math.log(0.125), rel=1e-15)
    # the input is not modified
    x = X.copy()
    gmm.to_data(x)
    assert np.array_equal(x, X)
    # the model itself still works in model units
    assert gmm.log_density(X, 0.0).shape == (3,)
    gmm.transform = None
    assert gmm.transform is None
    gmm.transform = (SHIFT, SCALE)
    assert gmm.transform is not None


def test_density_change_of_variables(gmm):
    """ln p_data(x) = ln p_model(from_data(x)) - log_det, against the mixture
    written directly in data units."""
    gmm.set_transform(SHIFT, SCALE)
    xd = gmm.to_data(X)
    lp = gmm.log_density(gmm.from_data(xd), 0.0) - gmm.transform_log_det()
    w = np.array([0.4, 0.6])
    mu = SHIFT + SCALE * np.array([[-1.0, 0.0], [1.0, 0.5]])
    var = SCALE ** 2 * np.array([[1.0, 1.0], [0.5, 2.0]])
    comp = (np.log(w)[None] - 0.5 * np.log(2 * np.pi * var).sum(-1)[None]
            - 0.5 * ((xd[:, None, :] - mu[None]) ** 2 / var[None]).sum(-1))
    np.testing.assert_allclose(lp, np.logaddexp.reduce(comp, axis=1), rtol=1e-12)


def test_errors(gmm):
    with pytest.raises(sd.InvalidArgumentError, match=r"scale\[1\] = 0"):
        gmm.set_transform(SHIFT, [1.0, 0.0])
    with pytest.raises(sd.InvalidArgumentError, match=r"scale\[0\] = -1"):
        gmm.set_transform(SHIFT, [-1.0, 1.0])
    with pytest.raises(sd.InvalidArgumentError, match=r"shift\[1\] = nan"):
        gmm.set_transform([0.0, np.nan], SCALE)
    with pytest.raises(sd.InvalidArgumentError, match=r"scale\[0\] = inf"):
        gmm.set_transform(SHIFT, [np.inf, 1.0])
    assert gmm.transform is None  # a refused transform changes nothing
    with pytest.raises(ValueError, match="shape"):
        gmm.set_transform([1.0], [1.0])
    with pytest.raises(ValueError, match="both"):
        gmm.set_transform(SHIFT, None)
    with pytest.raises(ValueError, match="shape"):
        gmm.to_data(np.ones((2, 3)))


def test_files_and_clone(gmm):
    plain = gmm.to_bytes()
    gmm.set_transform(SHIFT, SCALE)
    data = gmm.to_bytes()
    assert len(data) == len(plain) + 16 + 8 + 2 * 2 * 8  # the XFRM section
    with sd.Model.from_bytes(data) as back, gmm.clone() as copy:
        for m in (back, copy):
            shift, scale = m.transform
            assert np.array_equal(shift, SHIFT) and np.array_equal(scale, SCALE)
        assert back.to_bytes() == data
    with sd.Model.from_bytes(plain) as old:
        assert old.transform is None
    with pytest.raises(sd.CorruptError):
        sd.Model.from_bytes(data[:-3])


def test_trainer_export_and_checkpoint(vp):
    with sd.Model.mlp(vp, 2, widths=[8], seed=1) as m, sd.Model.mlp(vp, 2, widths=[8], seed=1) as fresh, \
            sd.Loss("dsm") as loss, sd.Trainer(m, loss, warmup=0) as tr, \
            sd.Trainer(fresh, loss, warmup=0) as tr2:
        m.set_transform(SHIFT, SCALE)
        with tr.export() as e:
            assert np.array_equal(e.transform[1], SCALE)
        blob = tr.to_bytes()
        tr2.load_bytes(blob)
        assert np.array_equal(fresh.transform[0], SHIFT)
        # a checkpoint of a model without a transform clears it
        m.set_transform(None, None)
        tr2.load_bytes(tr.to_bytes())
        assert fresh.transform is None
