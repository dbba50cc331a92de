"""libscoresde from Python: a ctypes binding.

Loads libscoresde.so.1 (or the file named by the environment variable
SCORESDE_LIBRARY, e.g. a build tree's lib/libscoresde.so.1) and refuses a
library of an incompatible version with LibraryVersionError.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from . import _util as u
from ._lib import lib
from .errors import (BusyError, CallbackError, CorruptError, DimensionError,  # noqa: F401
                     FileIOError, FormatVersionError, InvalidArgumentError,
                     LibraryVersionError, NumericError, OutOfMemoryError, ScoresdeError,
                     UnsupportedError, STATUS_NAMES)
from .model import Model, ModelKind  # noqa: F401
from .sde import Sde, SdeKind  # noqa: F401
from .train import Loss, ProgressBar, Trainer, progress_bar  # noqa: F401
from .sampler import Sampler, bits_per_dim  # noqa: F401

__version__ = lib.scoresde_version_string()

# scoresde_rng_purpose_t (rng.h)
RNG_PERTURB, RNG_PRIOR, RNG_SIMULATE, RNG_TIME = 1, 2, 3, 4
RNG_PROBE, RNG_SAMPLER, RNG_MODEL, RNG_BATCH = 5, 6, 7, 8


def version() -> str:
    """The loaded library's version string, "MAJOR.MINOR.PATCH"."""
    return lib.scoresde_version_string()


def version_number() -> int:
    """The loaded library's version, MAJOR * 10000 + MINOR * 100 + PATCH."""
    return lib.scoresde_version_number()


def strerror(status: int) -> str:
    """The static English text of a C status code."""
    return lib.scoresde_strerror(status)


def last_error() -> str:
    """The calling thread's most recent failure message of the C library."""
    return lib.scoresde_last_error()


def live_allocations() -> int:
    """Blocks allocated by the library and not yet freed (leak checks)."""
    return lib.scoresde_live_allocations()


def rng_offset(purpose: int, k: int) -> int:
    """SCORESDE_RNG_OFFSET(purpose, k)."""
    return ((purpose & 0xFF) << 56) | (k & ((1 << 56) - 1))


def rng_uniform(seed: int,
        stream: int,
        offset: int,
        n: int,
        out: Optional[np.ndarray] = None) -> np.ndarray:
    """Uniforms in (0, 1): elements offset .. offset+n-1 of a Philox stream."""
    out = u.as_output(out, "out", (n,))
    u.call(lib.scoresde_rng_uniform, seed, stream, offset, n, u.ptr(out))
    return out


def rng_normal(seed: int,
        stream: int,
        offset: int,
        n: int,
        out: Optional[np.ndarray] = None) -> np.ndarray:
    """Standard normals: elements offset .. offset+n-1 of a Philox stream."""
    out = u.as_output(out, "out", (n,))
    u.call(lib.scoresde_rng_normal, seed, stream, offset, n, u.ptr(out))
    return out


def philox4x32_10(counter: Sequence[int], key: Sequence[int]) -> Tuple[int, int, int, int]:
    """The raw Philox4x32-10 block: four uint32 words from (counter[4], key[2])."""
    import ctypes
    c = (ctypes.c_uint32 * 4)(*counter)
    k = (ctypes.c_uint32 * 2)(*key)
    o = (ctypes.c_uint32 * 4)()
    lib.scoresde_philox4x32_10(c, k, o)
    return tuple(o)


__all__ = ["Sde", "SdeKind", "Model", "ModelKind", "Loss", "Trainer", "Sampler",
           "bits_per_dim", "ProgressBar", "progress_bar", "ScoresdeError", "version",
           "version_number", "strerror", "last_error", "live_allocations", "rng_offset",
           "rng_uniform", "rng_normal", "philox4x32_10", "STATUS_NAMES", "BusyError",
           "CallbackError", "CorruptError", "DimensionError", "FileIOError",
           "FormatVersionError", "InvalidArgumentError", "LibraryVersionError", "NumericError",
           "OutOfMemoryError", "UnsupportedError"]
