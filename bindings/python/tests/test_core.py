"""Loading, version checks, errors, random numbers, array rules."""
import os
import subprocess
import sys

import numpy as np
import pytest

import scoresde as sd
from scoresde import _lib, errors

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _import_with(library):
    env = dict(os.environ, SCORESDE_LIBRARY=library)
    return subprocess.run([sys.executable, "-c", "import scoresde"], cwd=PKG, env=env,
                          capture_output=True, text=True)


def test_version_matches_number():
    n = sd.version_number()
    assert sd.version() == "%d.%d.%d" % (n // 10000, n // 100 % 100, n % 100)
    assert _lib.version_problem(n) is None


def test_incompatible_versions_are_refused():
    assert "needs 1.0.0" in _lib.version_problem(20000)     # 2.0.0: another major
    assert "needs 1.0.0" in _lib.version_problem(100)       # 0.1.0: too old
    assert _lib.version_problem(_lib.MIN_VERSION + 101) is None


def test_missing_library_gives_clear_error():
    r = _import_with("/nonexistent/libscoresde.so.1")
    assert r.returncode != 0
    assert "LibraryVersionError" in r.stderr and "SCORESDE_LIBRARY" in r.stderr


def test_other_library_is_refused():
    r = _import_with("libm.so.6")
    assert r.returncode != 0
    assert "is not libscoresde" in r.stderr


def test_every_status_has_its_class():
    for status, name in errors.STATUS_NAMES.items():
        if status == 0:
            continue
        exc = errors.error_for_status(status, "msg", "f")
        assert exc.status == status and exc.status_name == name
        assert isinstance(exc, sd.ScoresdeError)
        assert name in str(exc) and "msg" in str(exc)
        assert sd.strerror(status) != "unknown status"
    unknown = errors.error_for_status(-99, "later", "f")
    assert type(unknown) is sd.ScoresdeError and unknown.status == -99
    assert sd.strerror(-99) == "unknown status"
    assert issubclass(sd.InvalidArgumentError, ValueError)
    assert issubclass(sd.FileIOError, OSError)
    assert issubclass(sd.OutOfMemoryError, MemoryError)


def test_error_carries_status_name_and_message():
    with pytest.raises(sd.InvalidArgumentError) as info:
        sd.Sde.vp(0.1, 0.05)
    e = info.value
    assert e.status == -1 and e.status_name == "SCORESDE_EINVAL"
    assert "beta_max" in e.message and e.message == sd.last_error()
    assert e.function == "scoresde_sde_create_vp"


def test_rng_matches_offsets_and_is_split_invariant():
    u = sd.rng_uniform(7, 3, 0, 10)
    assert np.all((u > 0) & (u < 1))
    assert np.array_equal(sd.rng_uniform(7, 3, 4, 6), u[4:])
    z = sd.rng_normal(7, 3, sd.rng_offset(sd.RNG_PRIOR, 0), 8)
    assert np.array_equal(sd.rng_normal(7, 3, sd.rng_offset(sd.RNG_PRIOR, 5), 3), z[5:])
    assert sd.rng_offset(sd.RNG_PRIOR, 5) == (2 << 56) | 5
    # Box-Muller over the same block: z0^2 + z1^2 = -2 ln u_a (rng.h's layout)
    ua = sd.rng_uniform(7, 3, 0, 1)[0]
    zz = sd.rng_normal(7, 3, 0, 2)
    assert zz[0] ** 2 + zz[1] ** 2 == pytest.approx(-2 * np.log(ua), rel=1e-13)


def test_philox_known_answer():
    # Random123 known-answer vector for Philox4x32-10 with zero counter and key.
    assert sd.philox4x32_10((0, 0, 0, 0), (0, 0)) == (
        0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)


def test_inputs_are_converted_outputs_checked():
    with sd.Sde.vp() as sde:
        x = np.ones((3, 2))
        with pytest.raises(TypeError, match="real numbers"):
            sde.drift([["a", "b"]], 0.5)
        with pytest.raises(TypeError, match="complex"):
            sde.drift(x + 1j, 0.5)
        with pytest.raises(TypeError, match="float64"):
            sde.drift(x, 0.5, out=np.empty((3, 2), dtype=np.float32))
        with pytest.raises(ValueError, match="C-contiguous"):
            sde.drift(x, 0.5, out=np.empty((2, 3)).T)
        with pytest.raises(ValueError, match="shape"):
            sde.drift(x, np.ones(4))
        with pytest.raises(ValueError, match="shape"):
            sde.drift(x, 0.5, out=np.empty((3, 3)))
        ro = np.empty((3, 2))
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            sde.drift(x, 0.5, out=ro)
        out = np.empty((3, 2))
        assert sde.drift(x, 0.5, out=out) is out          # written in place, no copy
        inplace = np.arange(6.0).reshape(3, 2)
        expect = sde.perturb(inplace, 0.5, seed=1)
        assert sde.perturb(inplace, 0.5, seed=1, out=inplace) is inplace
        assert np.array_equal(inplace, expect)


def _exported_names():
    """The function names in lib/libscoresde.map (the library's exports)."""
    import re
    path = os.path.join(PKG, "..", "..", "lib", "libscoresde.map")
    with open(path) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return set(re.findall(r"\b(scoresde_\w+)\s*;", text))


def test_declarations_cover_the_exports():
    exported = _exported_names()
    declared = set(_lib._FUNCTIONS)
    assert declared <= exported, "declared but not exported: %s" % (declared - exported)
    for name in declared:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None and fn.errcheck is not None, name
    unbound = exported - declared
    assert not unbound, "C functions without a Python declaration: %s" % sorted(unbound)
