"""What a NumPy user expects of the binding: inputs converted, outputs strict,
pickling, seed=None, type hints and docstrings, Python-spelled messages and a
package whose version is the library's."""
import inspect
import os
import pickle
import re

import numpy as np
import pytest

import scoresde as sd

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def gmm():
    with sd.Sde.vp() as sde:
        with sd.Model.gmm(sde, np.array([0.3, 0.7]), np.array([[-1.0, 0.5], [2.0, 0.0]]),
                          np.array([[0.2, 0.3], [0.4, 0.1]])) as model:
            yield model


def test_read_only_inputs_accept_what_numpy_users_pass(gmm):
    x = gmm.sample(0.4, seed=3, n=6)
    want = gmm.score(x, 0.4)
    fortran = np.asfortranarray(x)
    strided = np.repeat(x, 2, axis=0)[::2]
    assert not fortran.flags.c_contiguous and not strided.flags.c_contiguous
    for same in (x.tolist(), fortran, strided):
        np.testing.assert_array_equal(gmm.score(same, 0.4), want)
    # NumPy scalars, 0-d arrays and lists as times: the same as the float64 times
    for t in (np.float64(0.4), np.float32(0.4), np.array(0.4), [np.float32(0.4)] * 6):
        value = float(np.asarray(t, dtype=np.float64).flat[0])
        np.testing.assert_array_equal(gmm.score(x, t), gmm.score(x, np.full(6, value)))
    # float32 data is rounded once to float64: the result is the float64 call's
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(gmm.score(x32, 0.4), gmm.score(x32.astype(np.float64), 0.4))
    # integers convert too (weights and means of a model)
    with sd.Sde.vp() as sde, sd.Model.gmm(sde, [1], [[0, 0]], [[1, 1]]) as unit:
        assert unit.dim == 2
    s = gmm.score(x32, 0.4)
    assert s.dtype == np.float64 and s.flags.c_contiguous
    with pytest.raises(TypeError, match="x must be"):
        gmm.score([["one", "two"]], 0.4)
    with pytest.raises(TypeError, match="bool"):
        gmm.score(x, True)


def test_in_place_outputs_keep_the_strict_check(gmm):
    x = gmm.sample(0.4, seed=3, n=6)
    with pytest.raises(TypeError, match="out must have dtype float64"):
        gmm.score(x, 0.4, out=np.empty((6, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        gmm.score(x, 0.4, out=np.empty((2, 6)).T)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        gmm.score(x, 0.4, out=[[0.0, 0.0]] * 6)


def test_models_pickle_through_their_file_bytes(gmm):
    x = gmm.sample(0.3, seed=5, n=5)
    with pickle.loads(pickle.dumps(gmm)) as back:
        assert back.kind == sd.ModelKind.GMM
        np.testing.assert_array_equal(back.score(x, 0.3), gmm.score(x, 0.3))
    with sd.Sde.vp() as sde, sd.Model.from_score(sde, 2, lambda x, t: -x) as hooked:
        with pytest.raises(sd.UnsupportedError):
            pickle.dumps(hooked)


def test_samplers_pickle_with_settings_and_grid(gmm):
    with sd.Sampler("ode", steps=7, solver="rk4", rtol=1e-4) as s:
        with pickle.loads(pickle.dumps(s)) as back:
            assert back.method == s.method
            for name in sd.sampler.SAMPLER_SETTINGS:
                a, b = s.get(name), back.get(name)
                assert a == b or (a != a and b != b), name   # NaN: the library's choice
    grid = np.array([1.0, 0.6, 0.3, 0.1, 1e-3])
    with sd.Sampler("pc", corrector="none") as s:
        s.set_grid(grid)
        with pickle.loads(pickle.dumps(s)) as back, sd.Sde.vp() as sde:
            np.testing.assert_array_equal(back.times(sde), s.times(sde))
            a, _ = s.sample(gmm, 4, seed=9)
            b, _ = back.sample(gmm, 4, seed=9)
            np.testing.assert_array_equal(a, b)
        s.set_guidance(lambda x, t: np.zeros_like(x))
        with pytest.raises(TypeError, match="guidance"):
            pickle.dumps(s)


def test_seed_none_draws_a_fresh_seed_and_reports_it(gmm):
    with sd.Sampler("pc", steps=5, corrector="none") as s:
        a, sa = s.sample(gmm, 3)
        b, sb = s.sample(gmm, 3)
        assert isinstance(sa["seed"], int) and 0 <= sa["seed"] < 2 ** 64
        assert sa["seed"] != sb["seed"] and not np.array_equal(a, b)
        again, st = s.sample(gmm, 3, seed=sa["seed"])
        np.testing.assert_array_equal(again, a)
        assert st["seed"] == sa["seed"]
        with pytest.raises(TypeError, match="seed"):
            s.sample(gmm, 3, seed=1.5)
        with pytest.raises(ValueError, match="seed"):
            s.sample(gmm, 3, seed=-1)


def test_bits_per_dim_takes_bits_explicitly():
    logp = np.array([-3.0])
    with pytest.raises(TypeError):
        sd.bits_per_dim(logp, 2)
    np.testing.assert_allclose(sd.bits_per_dim(logp, 2, 8), 3.0 / (2 * np.log(2)) + 8)


def test_messages_spell_the_python_fix(gmm):
    with sd.Sde.vp() as sde, sd.Model.from_score(sde, 2, lambda x, t: -x) as hooked:
        with pytest.raises(sd.UnsupportedError) as err:
            hooked.divergence(np.zeros((1, 2)), 0.5)
    assert "Model.hutchinson()" in str(err.value) and "scoresde_model_" not in err.value.message
    with sd.Sampler("ode") as s, pytest.raises(sd.InvalidArgumentError) as err:
        s.set(h_init=-1.0)
    assert "sampler setting h_init" in err.value.message
    assert err.value.function == "scoresde_sampler_set_double"     # the C function, still


def _public_callables():
    for name in sd.__all__:
        obj = getattr(sd, name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__", "__call__"):
                    continue
                fn = member.fget if isinstance(member, property) else \
                    getattr(member, "__func__", member)
                if inspect.isfunction(fn):
                    yield "%s.%s" % (name, attr), fn
        elif inspect.isfunction(obj):
            yield name, obj


def test_public_api_has_type_hints_and_docstrings():
    assert "np" not in sd.__all__
    assert os.path.exists(os.path.join(os.path.dirname(sd.__file__), "py.typed"))
    seen = 0
    for name, fn in _public_callables():
        seen += 1
        sig = inspect.signature(fn)
        assert fn.__doc__ or name.endswith("__init__"), name + " has no docstring"
        assert sig.return_annotation is not inspect.Signature.empty, name + " -> ?"
        for p in list(sig.parameters.values())[1 if "." in name else 0:]:
            if p.name not in ("self", "cls"):
                assert p.annotation is not inspect.Parameter.empty, "%s(%s)" % (name, p.name)
    assert seen > 80


def test_package_version_is_the_library_version():
    text = open(os.path.join(HERE, "..", "pyproject.toml"), encoding="utf-8").read()
    version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    meson = open(os.path.join(HERE, "..", "..", "..", "meson.build"), encoding="utf-8").read()
    assert version == re.search(r"version: '([^']+)'", meson).group(1)


def test_a_wrong_library_path_is_a_clear_import_error(tmp_path):
    import subprocess
    import sys
    env = dict(os.environ, SCORESDE_LIBRARY=str(tmp_path / "nothing.so"))
    proc = subprocess.run([sys.executable, "-c", "import scoresde"], env=env,
                          cwd=os.path.join(HERE, ".."), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "LibraryVersionError" in proc.stderr and "SCORESDE_LIBRARY" in proc.stderr
