"""The binding's name tables are the library's (scoresde/common.h's Names):
each equals the enumerators of the public headers, lower-cased after the
object's prefix, so neither the library's rows nor the binding can drift
from the header's contract."""
import os
import re

import pytest

import scoresde as sd
from scoresde import sampler, train

INCLUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "include",
                       "scoresde")


def enumerators(header, enum, prefix):
    """{lower-case name after prefix: value} of one typedef enum of a header."""
    text = open(os.path.join(INCLUDE, header)).read()
    body = re.search(r"typedef enum %s \{(.*?)\} %s;" % (enum, enum), text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return {m.group(1)[len(prefix):].lower(): int(m.group(2))
            for m in re.finditer(r"\b(%s\w+)\s*=\s*(-?\d+)" % prefix, body)}


def test_sampler_tables_are_the_headers():
    assert sampler.METHODS == enumerators("sampler.h", "scoresde_sampler_method_t",
                                          "SCORESDE_SAMPLER_")
    assert sampler.SAMPLER_SETTINGS == enumerators("sampler.h", "scoresde_sampler_setting_t",
                                                   "SCORESDE_SAMPLER_")
    values = {
        "predictor": ("scoresde_sampler_predictor_t", "SCORESDE_SAMPLER_PREDICTOR_"),
        "corrector": ("scoresde_sampler_corrector_t", "SCORESDE_SAMPLER_CORRECTOR_"),
        "batch_norms": ("scoresde_sampler_norms_t", "SCORESDE_SAMPLER_NORMS_"),
        "grid": ("scoresde_sampler_grid_t", "SCORESDE_SAMPLER_GRID_"),
        "solver": ("scoresde_sampler_solver_t", "SCORESDE_SAMPLER_SOLVER_"),
        "divergence": ("scoresde_sampler_divergence_t", "SCORESDE_SAMPLER_DIVERGENCE_"),
        "bound_time": ("scoresde_sampler_bound_time_t", "SCORESDE_SAMPLER_BOUND_TIME_"),
        "final_step": ("scoresde_sampler_final_t", "SCORESDE_SAMPLER_FINAL_"),
    }
    assert set(sampler._VALUES) == set(values)
    for name, (enum, prefix) in values.items():
        assert sampler._VALUES[name] == enumerators("sampler.h", enum, prefix), name


def test_loss_and_trainer_tables_are_the_headers():
    assert train.LOSS_KINDS == enumerators("loss.h", "scoresde_loss_kind_t", "SCORESDE_LOSS_")
    assert {k: v[0] for k, v in train.LOSS_SETTINGS.items()} == enumerators(
        "loss.h", "scoresde_loss_setting_t", "SCORESDE_LOSS_")
    values = {"time_mode": ("scoresde_loss_time_mode_t", "SCORESDE_LOSS_TIME_"),
              "weighting": ("scoresde_loss_weighting_t", "SCORESDE_LOSS_WEIGHT_"),
              "reduction": ("scoresde_loss_reduction_t", "SCORESDE_LOSS_REDUCE_"),
              "probe": ("scoresde_loss_probe_t", "SCORESDE_LOSS_PROBE_")}
    for name, (_, _, names) in train.LOSS_SETTINGS.items():
        if name in values:
            assert names == enumerators("loss.h", *values[name]), name
        else:
            assert names is None, name
    assert {k: v[0] for k, v in train.TRAIN_SETTINGS.items()} == enumerators(
        "train.h", "scoresde_train_setting_t", "SCORESDE_TRAIN_")


def test_names_take_effect():
    """A name the library gives selects what its id does."""
    for name, method in sampler.METHODS.items():
        with sd.Sampler(name) as s:
            assert s.method == method
    with sd.Sampler("pc", predictor="euler_maruyama", grid="karras") as s:
        assert s.get("predictor") == 1 and s.get("grid") == 2
    with pytest.raises(ValueError, match="uniform_t"):
        sd.Sampler("pc", grid="uniform")
