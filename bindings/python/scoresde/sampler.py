"""Samplers, probability-flow ODE solvers and likelihoods (include/scoresde/sampler.h)."""

from __future__ import annotations

import ctypes

from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _util as u
from ._lib import GUIDANCE_FN, SAMPLER_PROGRESS_FN, SCORE_FN, SUPPORT_FN, SamplerStats, lib
from .errors import DimensionError
from .train import library_names, library_values, lookup, progress_bar

if TYPE_CHECKING:
    from .model import Model
    from .sde import Sde

__all__ = ["Sampler", "METHODS", "SAMPLER_SETTINGS", "REPORT_KINDS", "REPORT_COLUMNS",
           "bits_per_dim"]

# The library's tables (scoresde/common.h's Names): method name -> id, setting
# name -> SCORESDE_SAMPLER_* id (the type and bounds come from the library too;
# eps, h_init and h_min take float("nan"), the library's choice and their
# default), and the named values of the enum-valued settings.
METHODS = library_names(lib.scoresde_sampler_method_name)
SAMPLER_SETTINGS = library_names(lib.scoresde_sampler_setting_name)
_VALUES = {name: library_values(lib.scoresde_sampler_value_name, lib.scoresde_sampler_bounds, cid)
           for name, cid in SAMPLER_SETTINGS.items()}
_VALUES = {name: values for name, values in _VALUES.items() if values is not None}
# Likelihood reports (include/scoresde/bound.h): kinds and the columns of a row.
REPORT_KINDS = {"ode": 1, "bound": 2}
REPORT_COLUMNS = ("prior", "flow", "boundary", "dequant", "total", "bpd", "stderr")


def _setting(name):
    try:
        return SAMPLER_SETTINGS[name]
    except KeyError:
        raise ValueError("unknown sampler setting %r (known: %s)"
                         % (name, ", ".join(SAMPLER_SETTINGS))) from None


def _stats(stats, seed):
    return {"nfe": stats.nfe, "accepted": stats.accepted, "rejected": stats.rejected,
            "t_final": stats.t_final, "redrawn": stats.redrawn, "outside": stats.outside,
            "seed": seed}


def bits_per_dim(logp: ArrayLike, D: int, bits: int, scale: float = 1.0) -> np.ndarray:
    """-logp / (D ln 2) - log2(scale) + bits per sample (sampler.h): `bits` is
    the bits per value of the quantised data (8 for 8-bit images; 1 to 64)."""
    logp = u.as_input(logp, "logp", (None,))
    out = np.empty(logp.shape[0])
    u.call(lib.scoresde_bits_per_dim, u.ptr(logp), logp.shape[0], D, bits, scale, u.ptr(out))
    return out


def _restore(method, settings, grid):
    """Unpickle a Sampler (see Sampler.__reduce__)."""
    sampler = Sampler(method, **settings)
    if grid is not None:
        sampler.set_grid(grid)
    return sampler


class Sampler(u.Handle):
    """A sampling method and its settings: Sampler("pc", steps=500, corrector="none").

    Settings are set by name (SAMPLER_SETTINGS); enum-valued ones take names or
    the C ints. Every call returns (array, stats) where stats is a dict with nfe,
    accepted, rejected, t_final and seed. A random call's seed=None (the default)
    draws a fresh seed, which stats["seed"] reports; passing that seed (or any
    int) reproduces the run. Sampling is thread-safe; setters are not.
    A sampler pickles as its method, settings and grid (not its Python hooks).
    """

    _free = lib.scoresde_sampler_free

    def __init__(self, method: Union[str, int] = "pc", **settings: Any) -> None:
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_sampler_create, ctypes.byref(slot),
               lookup(METHODS, method, "method"))
        super().__init__(slot.value)
        self._guidance = None
        self._support = None
        self._custom_grid = None
        self.set(**settings)

    @property
    def method(self) -> int:
        """The method's C value (METHODS)."""
        return u.call(lib.scoresde_sampler_method, self)

    # --------------------------------------------------------------- settings
    @staticmethod
    def bounds(name: str) -> Tuple[float, float, bool]:
        """(lower, upper, is_int) of a setting (eps, h_init, h_min also take NaN)."""
        lo, hi, is_int = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
        u.call(lib.scoresde_sampler_bounds, _setting(name), ctypes.byref(lo), ctypes.byref(hi),
               ctypes.byref(is_int))
        return lo.value, hi.value, bool(is_int.value)

    @staticmethod
    def default(name: str, method: Union[str, int] = "pc") -> float:
        """The value a new sampler of `method` starts with (NaN: the library chooses)."""
        value = ctypes.c_double()
        u.call(lib.scoresde_sampler_default, lookup(METHODS, method, "method"), _setting(name),
               ctypes.byref(value))
        return value.value

    def set(self, **settings: Any) -> Sampler:
        """Set settings by name; an int setting refuses a non-integral value."""
        for name, value in settings.items():
            cid = _setting(name)
            if self.bounds(name)[2]:
                if name in _VALUES:
                    value = lookup(_VALUES[name], value, name)
                elif isinstance(value, bool):
                    value = int(value)
                elif not isinstance(value, (int, np.integer)):
                    raise TypeError("setting %s takes an int, not %r" % (name, value))
                u.call(lib.scoresde_sampler_set_int, self, cid, int(value))
            else:
                if isinstance(value, (bool, str)):
                    raise TypeError("setting %s takes a float, not %r" % (name, value))
                u.call(lib.scoresde_sampler_set_double, self, cid, float(value))
        return self

    def get(self, name: str) -> Union[int, float]:
        """The current value of a setting (an int for integer settings)."""
        cid = _setting(name)
        if self.bounds(name)[2]:
            v = ctypes.c_int64()
            u.call(lib.scoresde_sampler_get_int, self, cid, ctypes.byref(v))
        else:
            v = ctypes.c_double()
            u.call(lib.scoresde_sampler_get_double, self, cid, ctypes.byref(v))
        return v.value

    def set_grid(self, t: ArrayLike) -> None:
        """The caller's decreasing time grid (STEPS becomes len(t) - 1)."""
        t = u.as_input(t, "t", (None,))
        u.call(lib.scoresde_sampler_set_grid, self, u.ptr(t), t.shape[0])
        self._custom_grid = t.copy()   # kept for pickling

    def times(self, sde: Sde) -> np.ndarray:
        """The grid for `sde`: STEPS + 1 times from T down to eps."""
        t = np.empty(self.get("steps") + 1)
        u.call(lib.scoresde_sampler_times, self, sde, u.ptr(t), t.shape[0], hooks=sde._hooks)
        return t

    def set_guidance(self, fn: Optional[Callable[..., Any]], scale: float = 1.0) -> None:
        """fn(x, t) -> (n, D) grad_x log p(y | x, t), used as s + scale * fn;
        None removes it. An exception raised by fn is re-raised by the call."""
        if fn is None:
            u.call(lib.scoresde_sampler_set_guidance, self, GUIDANCE_FN(), None, 0.0)
            self._guidance = None
            return

        def body(x, t, n, D, out, _user):
            u.store(u.view(out, (n, D), True),
                    fn(u.view(x, (n, D), False), u.view(t, (n,), False)), "the guidance hook")
        cf = self._hooks.wrap(GUIDANCE_FN, body)
        u.call(lib.scoresde_sampler_set_guidance, self, cf, None, float(scale))
        self._guidance = cf

    def set_support(self, fn: Optional[Callable[..., Any]]) -> None:
        """fn(x) -> (n,) booleans, True for each sample (row of x) outside the
        prior's support; those samples are redrawn, at most support_retries
        times each (sampler.h, scoresde_sampler_set_support), and stats
        reports "redrawn" and "outside". None removes it."""
        if fn is None:
            u.call(lib.scoresde_sampler_set_support, self, SUPPORT_FN(), None)
            self._support = None
            return

        def body(x, n, D, outside, _user):
            flags = np.asarray(fn(u.view(x, (n, D), False)))
            if flags.shape != (n,):
                raise ValueError("the support hook must return %d flags, not shape %s"
                                 % (n, flags.shape))
            dst = np.ctypeslib.as_array(ctypes.cast(outside, ctypes.POINTER(ctypes.c_ubyte)),
                                        (n,))
            dst[:] = flags.astype(bool)
        cf = self._hooks.wrap(SUPPORT_FN, body)
        u.call(lib.scoresde_sampler_set_support, self, cf, None)
        self._support = cf

    # ------------------------------------------------------------------ runs
    def __reduce__(self):
        if self._support is not None:
            raise TypeError("a Sampler with a support hook does not pickle; remove it "
                            "with set_support(None) and set it again after loading")
        if self._guidance is not None:
            raise TypeError("a Sampler with a guidance hook does not pickle; remove it "
                            "with set_guidance(None) and set it again after loading")
        settings = {name: self.get(name) for name in SAMPLER_SETTINGS if name != "grid"}
        grid = self.get("grid")
        custom = self._custom_grid if grid == _VALUES["grid"]["array"] else None
        if custom is None:
            settings["grid"] = grid
        return _restore, (self.method, settings, custom)

    def _run(self, func, args, progress, total, desc, hooks, seed=None):
        """Call func(*args, stats) with the progress hook installed for this call:
        progress None, True (a bar) or hook(step, t, nfe) returning True to stop."""
        stats = SamplerStats()
        stats.struct_size = ctypes.sizeof(SamplerStats)
        hooks = u.Hooks([self._hooks] + list(hooks))
        bar = hook = None
        if progress is True:
            bar = progress_bar(total, desc)
        elif callable(progress):
            hook = progress
        elif progress not in (None, False):
            raise TypeError("progress must be None, True or a callable")
        if bar is not None or hook is not None:
            def body(step, t, nfe, _user):
                if bar is not None:
                    bar.set_postfix_str("t %.3g" % t)
                    bar.update(1)
                if hook is not None and hook(step, t, nfe):
                    raise u.Stop()
            u.call(lib.scoresde_sampler_set_progress, self,
                   hooks.wrap(SAMPLER_PROGRESS_FN, body), None)
        try:
            u.call_stoppable(func, self, *args, ctypes.byref(stats), hooks=hooks)
        finally:
            if bar is not None or hook is not None:
                lib.scoresde_sampler_set_progress(self, SAMPLER_PROGRESS_FN(), None)
            if bar is not None:
                bar.close()
        return _stats(stats, seed)

    def sample(self,
            model: Model,
            n: int,
            seed: Optional[int] = None,
            first_sample: int = 0,
            x_T: Optional[ArrayLike] = None,
            out: Optional[np.ndarray] = None,
            progress: Union[None, bool, Callable[..., Any]] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """n samples of `model` (sample i of the call is sample first_sample + i
        of the run); x_T (n, D) optional starting points. Returns (x, stats).
        cond: the conditions of a conditional model, (n, C) or (C,) for every
        sample; null_mask: n bools (True: that sample takes the null condition);
        both None is the unconditional call (the null condition for a
        conditional model that accepts it). guidance_scale applies here.
        progress: None, True (a progress bar: tqdm if installed, else text) or
        hook(step, t, nfe); a hook returning True stops the run, which raises
        CallbackError, as Trainer.fit does (the output is partial). A progress
        hook is installed for the call only, so such a call must not overlap
        another on this sampler."""
        D = model.dim
        seed = u.fresh_seed(seed)
        if x_T is not None:
            x_T = u.as_input(x_T, "x_T", (n, D))
        out = u.as_output(out, "out", (n, D))
        st = self._run(lib.scoresde_sampler_sample_cond,
                       (model, u.ptr(x_T), n, D, model._cond(cond, n, null_mask), seed,
                        first_sample, u.ptr(out)),
                       progress, self.get("steps"), "sample", [model._hooks], seed)
        return out, st

    def inpaint(self,
            model: Model,
            y: ArrayLike,
            mask: ArrayLike,
            seed: Optional[int] = None,
            first_sample: int = 0,
            out: Optional[np.ndarray] = None,
            progress: Union[None, bool, Callable[..., Any]] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """PC imputation: mask (D,) of bools (True = known), y (n, D) known values;
        cond and null_mask as for sample()."""
        y, n, D = u.batch(y, "y")
        seed = u.fresh_seed(seed)
        mask = np.ascontiguousarray(np.asarray(mask, dtype=bool).astype(np.uint8))
        if mask.ndim != 1:
            raise ValueError("mask must be one-dimensional, not shape %s" % (mask.shape,))
        if mask.shape[0] != D:
            # the C call reads D flags: a shorter mask must not reach it
            raise DimensionError(-3, "the mask has %d entries; y has %d columns"
                                 % (mask.shape[0], D), "Sampler.inpaint")
        out = u.as_output(out, "out", (n, D))
        st = self._run(lib.scoresde_sampler_inpaint_cond,
                       (model, u.ptr(y), u.ptr(mask), n, D, model._cond(cond, n, null_mask),
                        seed, first_sample, u.ptr(out)),
                       progress, self.get("steps"), "inpaint", [model._hooks], seed)
        return out, st

    def encode(self,
            model: Model,
            x0: ArrayLike,
            out: Optional[np.ndarray] = None,
            progress: Union[None, bool, Callable[..., Any]] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Latents x_T of data x0 (n, D) through the probability-flow ODE (ODE
        method); cond and null_mask as for sample()."""
        x0, n, D = u.batch(x0, "x0")
        out = u.as_output(out, "out", (n, D))
        st = self._run(lib.scoresde_sampler_encode_cond,
                       (model, u.ptr(x0), n, D, model._cond(cond, n, null_mask), u.ptr(out)),
                       progress, self.get("steps"), "encode", [model._hooks])
        return out, st

    def likelihood(self,
            model: Model,
            x: ArrayLike,
            seed: Optional[int] = None,
            first_sample: int = 0,
            latent: bool = False,
            progress: Union[None, bool, Callable[..., Any]] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Tuple[Any, ...]:
        """ln p_eps(x) per sample (ODE method); with latent=True, (logp, x_T, stats).
        With cond, ln p_eps(x | cond) (cond and null_mask as for sample())."""
        x, n, D = u.batch(x, "x")
        seed = u.fresh_seed(seed)
        logp = np.empty(n)
        lat = np.empty((n, D)) if latent else None
        st = self._run(lib.scoresde_sampler_likelihood_cond,
                       (model, u.ptr(x), n, D, model._cond(cond, n, null_mask), seed,
                        first_sample, u.ptr(logp), u.ptr(lat)),
                       progress, self.get("steps"), "likelihood", [model._hooks], seed)
        return (logp, lat, st) if latent else (logp, st)

    def bound(self,
            model: Model,
            x: ArrayLike,
            seed: int = 0,
            first_sample: int = 0) -> Dict[str, np.ndarray]:
        """The variational bound on -ln p(x) per point (bound.h): a dict of arrays
        nll, stderr (Monte Carlo), prior, score, boundary (nats; nll is their sum)."""
        x, n, D = u.batch(x, "x")
        nll, se, terms = np.empty(n), np.empty(n), np.empty((n, 3))
        u.call(lib.scoresde_sampler_bound, self, model, u.ptr(x), n, D, seed, first_sample,
               u.ptr(nll), u.ptr(se), u.ptr(terms), hooks=u.Hooks([self._hooks, model._hooks]))
        return {"nll": nll, "stderr": se, "prior": terms[:, 0], "score": terms[:, 1],
                "boundary": terms[:, 2]}

    def report(self,
            model: Model,
            x: ArrayLike,
            kind: Union[str, int] = "bound",
            seed: Optional[int] = None,
            first_sample: int = 0,
            progress: Union[None, bool, Callable[..., Any]] = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """A likelihood report (bound.h) of kind "ode" or "bound": (columns, stats),
        columns a dict of per-point arrays named as REPORT_COLUMNS plus "summary":
        the mean total (nats) and bits/dim over the points with their standard
        errors across points."""
        x, n, D = u.batch(x, "x")
        seed = u.fresh_seed(seed)
        rows = np.empty((n, len(REPORT_COLUMNS)))
        k = lookup(REPORT_KINDS, kind, "kind")
        st = self._run(lib.scoresde_sampler_report,
                       (model, k, u.ptr(x), n, D, seed, first_sample, u.ptr(rows),
                        len(REPORT_COLUMNS)),
                       progress, self.get("steps"), "report", [model._hooks], seed)
        cols = {name: rows[:, j].copy() for j, name in enumerate(REPORT_COLUMNS)}
        spread = np.sqrt(1.0 / n) * (np.std(rows, axis=0, ddof=1) if n > 1 else np.nan)
        cols["summary"] = {"total": cols["total"].mean(), "total_stderr": float(spread[4]),
                           "bpd": cols["bpd"].mean(), "bpd_stderr": float(spread[5])}
        return cols, st

    def langevin(self,
            score: Callable[..., Any],
            x0: ArrayLike,
            seed: Optional[int] = None,
            first_sample: int = 0,
            out: Optional[np.ndarray] = None,
            progress: Union[None, bool, Callable[..., Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Langevin dynamics for a time-free score(x) -> (n, D) from x0 (n, D)."""
        x0, n, D = u.batch(x0, "x0")
        seed = u.fresh_seed(seed)
        out = u.as_output(out, "out", (n, D))
        hooks = u.Hooks()

        def body(x, _t, n_, D_, res, _user):
            u.store(u.view(res, (n_, D_), True), score(u.view(x, (n_, D_), False)),
                    "the score hook")
        cf = hooks.wrap(SCORE_FN, body)
        st = self._run(lib.scoresde_sampler_langevin,
                       (cf, None, u.ptr(x0), n, D, seed, first_sample, u.ptr(out)),
                       progress, self.get("steps"), "langevin", [hooks], seed)
        return out, st

    def clone(self) -> Sampler:
        """An independent copy (settings, grid and hooks, which it shares)."""
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_sampler_clone, ctypes.byref(slot), self)
        c = Sampler.__new__(Sampler)
        u.Handle.__init__(c, slot.value, u.Hooks([self._hooks]))
        c._guidance = self._guidance
        c._custom_grid = self._custom_grid
        return c

    def __repr__(self):
        if self.closed:
            return "<scoresde.Sampler closed>"
        names = {v: k for k, v in METHODS.items()}
        return "<scoresde.Sampler %s>" % names.get(self.method, self.method)
