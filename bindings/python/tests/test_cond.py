"""Conditions (1.1): a conditional MLP's score with per-sample, broadcast and
null conditions, its errors, and the loss and trainer taking (x, c) pairs."""
import numpy as np
import pytest

import scoresde as sd


@pytest.fixture
def vp():
    with sd.Sde.vp() as sde:
        yield sde


def test_conditional_score_broadcast_and_null(vp):
    with sd.Model.mlp(vp, 2, widths=[16], cond_dim=3, cond_null=True, seed=3) as m:
        assert (m.cond_dim, m.cond_classes, m.cond_null) == (3, 0, True)
        x = np.random.default_rng(0).normal(size=(4, 2))
        row = np.array([0.5, -1.0, 2.0])
        one = m.score(x, 0.5, cond=row)
        rep = m.score(x, 0.5, cond=np.tile(row, (4, 1)))
        assert np.array_equal(one, rep)
        null = m.score(x, 0.5)                  # the null condition
        mask = m.score(x, 0.5, cond=row, null_mask=[False, True, False, True])
        assert np.array_equal(mask[1], null[1]) and np.array_equal(mask[0], one[0])
        assert not np.array_equal(one, null)
        with pytest.raises(sd.DimensionError, match="cond->C is 2"):
            m.score(x, 0.5, cond=np.zeros((4, 2)))
        with pytest.raises(sd.InvalidArgumentError, match="sample 2, feature 0"):
            bad = np.tile(row, (4, 1))
            bad[2, 0] = np.nan
            m.score(x, 0.5, cond=bad)
        with pytest.raises(ValueError, match="rows"):
            m.score(x, 0.5, cond=np.zeros((3, 3)))


def test_labels_and_unconditional_refusal(vp):
    with sd.Model.mlp(vp, 2, widths=[8], cond_dim=1, cond_classes=3, seed=1) as m, \
            sd.Model.mlp(vp, 2, widths=[8]) as u:
        x = np.zeros((2, 2))
        m.score(x, 0.5, cond=np.array([[0.0], [2.0]]))
        with pytest.raises(sd.InvalidArgumentError, match="integer class labels"):
            m.score(x, 0.5, cond=np.array([[0.0], [3.0]]))
        with pytest.raises(sd.InvalidArgumentError, match="does not accept"):
            m.score(x, 0.5)
        with pytest.raises(sd.InvalidArgumentError, match="unconditional"):
            u.score(x, 0.5, cond=np.zeros(1))


def test_loss_and_trainer_take_pairs(vp):
    rng = np.random.default_rng(1)
    c = rng.normal(size=(64, 3))
    x = c[:, :2] + 0.1 * rng.normal(size=(64, 2))
    with sd.Model.mlp(vp, 2, widths=[16], cond_dim=3, cond_null=True, seed=2) as m, \
            sd.Loss("dsm") as loss:
        g = np.zeros(m.num_params)
        v1 = loss(m, x[:8], seed=1, grad=g, cond=c[:8])
        v2 = loss(m, x[:8], seed=1, cond=c[:8])
        assert v1 == v2 and np.any(g != 0)
        with sd.Trainer(m, loss, batch=16, lr=1e-3, cond_dropout=0.2) as tr:
            assert tr.get("cond_dropout") == 0.2
            steps, last, _ = tr.fit(x, 5, cond=c)
            assert steps == 5 and np.isfinite(last)
            tr.step(x[:4], cond=c[:4], null_mask=[0, 1, 0, 0])
            blob = tr.to_bytes()
            tr.set(cond_dropout=0.0)
            tr.load_bytes(blob)
            assert tr.get("cond_dropout") == 0.2


def test_embedding_in_every_hidden_layer(vp):
    # "embed_layers" is the conditional MLP's default: one projection of the
    # 16 time-and-condition features per hidden layer after the first, zero
    # at creation (the scores are EMBED's until trained).
    kw = dict(widths=[8, 6], cond_dim=3, seed=1)
    with sd.Model.mlp(vp, 2, **kw) as d, \
            sd.Model.mlp(vp, 2, cond_input="embed_layers", **kw) as a, \
            sd.Model.mlp(vp, 2, cond_input="embed", **kw) as b:
        assert d.num_params == a.num_params == b.num_params + 6 * 16
        x = np.random.default_rng(2).normal(size=(3, 2))
        c = np.array([0.5, -1.0, 2.0])
        assert np.array_equal(a.score(x, 0.4, cond=c), b.score(x, 0.4, cond=c))
        with pytest.raises(sd.InvalidArgumentError, match="EMBED_LAYERS is the MLP's"):
            sd.Model.resmlp(vp, 2, width=8, blocks=1, cond_dim=3, cond_input="embed_layers")
