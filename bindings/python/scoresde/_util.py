"""Array checks, handle ownership and Python hooks shared by the classes."""

import ctypes
import os
import threading
from typing import Union

import numpy as np

from .errors import ScoresdeError

# A file name argument: what os.fsencode accepts.
StrPath = Union[str, "os.PathLike[str]"]

_tls = threading.local()


# -------------------------------------------------------------------- arrays

def _check_shape(a, name, shape):
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError("%s has shape %s, expected %s" % (name, a.shape, want))


def as_input(a, name, shape):
    """A read-only input as the C call reads it: a C-contiguous float64 array of
    `shape` (None = any size along that axis). A float64 C-contiguous ndarray is
    passed on unchanged; anything else NumPy converts to real numbers (lists,
    float32 or integer arrays, strided and Fortran-order views) is copied once.
    TypeError for what does not convert, ValueError for a shape."""
    if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous):
        if np.iscomplexobj(a):
            raise TypeError("%s must be real, not complex" % name)
        try:
            a = np.ascontiguousarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("%s must be an array of real numbers (%s)" % (name, exc)) from None
    _check_shape(a, name, shape)
    return a


def as_output(out, name, shape):
    """A new float64 array of `shape`, or the caller's `out`, which the C call
    writes in place and so must already be a writable C-contiguous float64
    ndarray of `shape` (never converted: a copy would drop the results)."""
    if out is None:
        return np.empty(shape, dtype=np.float64)
    if not isinstance(out, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray of float64, not %s"
                        % (name, type(out).__name__))
    if out.dtype != np.float64:
        raise TypeError("%s must have dtype float64, not %s" % (name, out.dtype))
    if not out.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous (it is written in place)" % name)
    _check_shape(out, name, shape)
    if not out.flags.writeable:
        raise ValueError("%s is read-only" % name)
    return out


def as_times(t, n, name="t"):
    """Per-sample times: (n,) values (converted as by as_input), or one number
    (a Python or NumPy scalar, or a 0-d array) for every sample."""
    if isinstance(t, (bool, np.bool_)):
        raise TypeError("%s must be a number or an array of numbers, not bool" % name)
    if isinstance(t, (int, float, np.integer, np.floating)) or (
            isinstance(t, np.ndarray) and t.ndim == 0):
        return np.full(n, float(t))
    return as_input(t, name, (n,))


def batch(x, name="x"):
    """An n x D batch (converted as by as_input): returns (x, n, D)."""
    x = as_input(x, name, (None, None))
    return x, x.shape[0], x.shape[1]


def cond(c, n, null_mask=None, C=None):
    """The scoresde_cond of a batch of n samples, or None for no condition.
    c: an (n, C) float64 array (one row per sample), a (C,) or (1, C) array
    (one row for every sample), or None (every sample null). null_mask: None or
    n truthy values (the samples that take the null condition). The struct
    keeps references to the arrays it points to."""
    from ._lib import Cond
    if c is None and null_mask is None:
        return None
    st = Cond(struct_size=ctypes.sizeof(Cond))
    if c is not None:
        c = as_input(c, "cond", (None,) if np.ndim(c) == 1 else (None, None))
        if c.ndim == 1:
            c = c.reshape(1, -1)
        if c.shape[0] not in (1, n):
            raise ValueError("cond has %d rows, expected %d (one per sample) or 1"
                             % (c.shape[0], n))
        st.C, st.c, st.rows = c.shape[1], c.ctypes.data, c.shape[0]
    else:
        st.C = C or 0
    if null_mask is not None:
        mask = np.ascontiguousarray(np.asarray(null_mask, dtype=bool).astype(np.uint8))
        if mask.shape != (n,):
            raise ValueError("null_mask has shape %s, expected (%d,)" % (mask.shape, n))
        st.null_mask = mask.ctypes.data
    else:
        mask = None
    st._keep = (c, mask)
    return st


def fresh_seed(seed):
    """seed, or for None a fresh 64-bit seed from the operating system's entropy
    (so each call differs, as NumPy's default_rng() does; the caller reports it)."""
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError("seed must be an int or None, not %s" % type(seed).__name__)
    if not 0 <= int(seed) < 1 << 64:
        raise ValueError("seed %d is outside [0, 2**64)" % seed)
    return int(seed)


def ptr(a):
    """The address of an array's data for a c_void_p argument (None stays NULL)."""
    return None if a is None else a.ctypes.data


def view(address, shape, writeable):
    """A NumPy array over C memory, without copying."""
    size = 1
    for s in shape:
        size *= s
    if size == 0 or not address:
        return np.empty(shape)
    arr = np.frombuffer((ctypes.c_double * size).from_address(address),
                        dtype=np.float64).reshape(shape)
    if not writeable:
        arr.flags.writeable = False
    return arr


def store(dest, value, what):
    """Copy a hook's result into the library's output buffer, checking its shape."""
    value = np.asarray(value, dtype=np.float64)
    if value.shape != dest.shape:
        raise ValueError("%s returned shape %s, expected %s" % (what, value.shape, dest.shape))
    dest[...] = value


# --------------------------------------------------------------------- hooks

class Stop(Exception):
    """Raised inside a progress trampoline when the Python hook returned True:
    the C call stops with ECALLBACK, and call_stoppable raises that error."""


def call_stoppable(func, *args, hooks=None):
    """call() for a run whose progress hook may ask to stop: the stop is
    reported the same way for fit and the samplers, as the CallbackError of
    the library's SCORESDE_ECALLBACK; what was done is kept."""
    try:
        return call(func, *args, hooks=hooks)
    except Stop as stop:
        error = getattr(stop, "scoresde_error", None)
        if error is None:     # the library finished the run anyway
            return 0
        raise error from None


class Hooks:
    """The CFUNCTYPE objects of one handle (kept alive with it) and the
    exceptions its hooks raised on threads other than the calling one."""

    def __init__(self, parents=()):
        self.cfuncs = []
        self.parents = list(parents)   # hook sets a copy of ours still calls
        self.orphans = []
        self.lock = threading.Lock()

    def wrap(self, cfunctype, body):
        """A C callback running body(*args); any exception it raises makes the
        callback return 1 (so the C call stops) and is kept for the caller."""
        def trampoline(*args):
            try:
                body(*args)
                return 0
            except BaseException as exc:  # noqa: B902 - everything must stop the C call
                pending = getattr(_tls, "pending", None)
                if pending is not None:
                    pending.append(exc)
                else:
                    with self.lock:
                        self.orphans.append(exc)
                return 1
        cf = cfunctype(trampoline)
        self.cfuncs.append(cf)
        return cf

    def take_orphan(self):
        with self.lock:
            if self.orphans:
                return self.orphans.pop(0)
        for parent in self.parents:
            exc = parent.take_orphan()
            if exc is not None:
                return exc
        return None


def call(func, *args, hooks=None):
    """Call a C function; if a Python hook raised during it, re-raise that
    exception (with its own traceback) instead of the library's ECALLBACK error,
    which is attached as the attribute `scoresde_error` and as a note."""
    for a in args:
        if isinstance(a, Handle) and not a._usable():
            raise ValueError("%s is closed" % type(a).__name__)
    saved = getattr(_tls, "pending", None)
    pending = []
    _tls.pending = pending
    error = None
    try:
        result = func(*args)
    except ScoresdeError as err:
        error = err
        result = None
    finally:
        _tls.pending = saved
    hook_exc = pending[0] if pending else (hooks.take_orphan() if hooks is not None else None)
    if hook_exc is not None:
        if error is not None:
            hook_exc.scoresde_error = error
            if hasattr(hook_exc, "add_note"):
                hook_exc.add_note("(raised in a hook; the library call failed with: %s)"
                                  % error)
        raise hook_exc
    if error is not None:
        raise error
    return result


class Handle:
    """An owned (or borrowed) C handle with close(), a context manager and a
    __del__ safety net."""

    _free = None   # set by subclasses: the C free function

    def __init__(self, address, hooks=None, owner=None):
        self._ptr = address
        self._hooks = hooks if hooks is not None else Hooks()
        self._owner = owner          # a borrowed handle keeps its owner alive

    def _usable(self):
        return bool(self._ptr) and (self._owner is None or not self._owner.closed)

    @property
    def _as_parameter_(self):
        # u.call checks first; this keeps a direct lib call from passing NULL.
        if not self._usable():
            raise ValueError("%s is closed" % type(self).__name__)
        return ctypes.c_void_p(self._ptr)

    @property
    def closed(self):
        return not self._usable()

    def close(self):
        """Free the C object now (idempotent). A borrowed handle just lets go."""
        address, self._ptr = self._ptr, None
        if address and self._owner is None:
            type(self)._free(address)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass

