"""The README's training example is run as written (in a temporary directory)."""
import os
import re

import numpy as np

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")


def readme_block(title):
    text = open(README, encoding="utf-8").read()
    section = text.split("## " + title, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_training_example(tmp_path, monkeypatch, capsys):
    code = readme_block("Training and sampling")
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, README, "exec"), scope)
    # the sample mean of 1000 points (sd 0.5 per axis: 5 sd = 0.08) plus model error
    assert np.all(np.abs(scope["x"].mean(0) - [2.0, -1.0]) < 0.15)
    assert (tmp_path / "run.ckpt").exists()


def test_readme_early_stopping():
    # "Options and progress": a stopping hook is a CallbackError, caught
    import scoresde as sd
    code = readme_block("Options and progress")
    rng = np.random.default_rng(3)
    data = rng.normal([2.0, -1.0], 0.5, size=(500, 2))
    with sd.Sde.vp() as sde, sd.Model.mlp(sde, 2, widths=(16,)) as net, \
            sd.Loss("dsm") as loss, sd.Trainer(net, loss, lr=3e-3, batch=64) as trainer:
        scope = {"sd": sd, "trainer": trainer, "data": data}
        exec(compile(code, README, "exec"), scope)
        assert 0 < trainer.steps < 10_000
