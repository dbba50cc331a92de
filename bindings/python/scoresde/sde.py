"""Forward SDEs (include/scoresde/sde.h)."""

from __future__ import annotations

import ctypes
import enum

from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _util as u
from ._lib import DIFFUSION_FN, DRIFT_FN, SCHEDULE_FN, lib

__all__ = ["Sde", "SdeKind"]


class SdeKind(enum.IntEnum):
    """scoresde_sde_kind_t. Sde.kind returns a plain int for a kind this
    binding does not know yet (a newer library)."""
    VE = 1
    VP = 2
    SUBVP = 3
    SCHEDULE = 4
    COSINE = 5
    EDM = 6
    OU = 7
    CUSTOM = 8


def _schedule_body(fn):
    def body(t, n, alpha, sigma, dalpha, dsigma, _user):
        res = fn(u.view(t, (n,), False))
        if not isinstance(res, tuple) or len(res) != 4:
            raise TypeError("the schedule hook must return a tuple "
                            "(alpha, sigma, dalpha_dt, dsigma_dt)")
        for name, addr, val in zip(("alpha", "sigma", "dalpha_dt", "dsigma_dt"),
                                   (alpha, sigma, dalpha, dsigma), res):
            u.store(u.view(addr, (n,), True), val, "the schedule hook's " + name)
    return body


def _drift_body(fn):
    def body(x, t, n, D, f_out, _user):
        u.store(u.view(f_out, (n, D), True), fn(u.view(x, (n, D), False),
                                               u.view(t, (n,), False)), "the drift hook")
    return body


def _diffusion_body(fn):
    def body(t, n, g_out, _user):
        u.store(u.view(g_out, (n,), True), fn(u.view(t, (n,), False)), "the diffusion hook")
    return body


class Sde(u.Handle):
    """A forward SDE dx = f(x, t) dt + g(t) dw on [0, T]. Immutable and safe to
    share between threads (Python hooks of SCHEDULE and CUSTOM SDEs are then
    called from those threads).

    Create one with a class method (Sde.vp(), Sde.ve(), Sde.default(kind), ...).
    Free it with close() or a with-block; a model keeps its own copy, so an Sde
    may be closed once the models built on it exist.

    Batches are C-contiguous float64 arrays: x is (n, D), t is (n,) (or one
    number for every sample). Outputs are new arrays unless `out` is given.
    """

    _free = lib.scoresde_sde_free

    # ------------------------------------------------------------- creation
    @classmethod
    def _create(cls, func, *args, hooks=None):
        slot = ctypes.c_void_p()
        u.call(func, ctypes.byref(slot), *args, hooks=hooks)
        return cls(slot.value, hooks)

    @classmethod
    def default(cls, kind: Union[str, int]) -> "Sde":
        """A built-in SDE with its published defaults (not SCHEDULE or CUSTOM)."""
        return cls._create(lib.scoresde_sde_create_default, int(kind))

    @classmethod
    def vp(cls, beta_min: float = 0.1, beta_max: float = 20.0) -> "Sde":
        """The variance-preserving SDE, beta(t) linear from beta_min to beta_max on [0, 1]."""
        return cls._create(lib.scoresde_sde_create_vp, beta_min, beta_max)

    @classmethod
    def subvp(cls, beta_min: float = 0.1, beta_max: float = 20.0) -> "Sde":
        """The sub-variance-preserving SDE with the VP SDE's linear beta(t)."""
        return cls._create(lib.scoresde_sde_create_subvp, beta_min, beta_max)

    @classmethod
    def ve(cls, sigma_min: float = 0.01, sigma_max: float = 50.0) -> "Sde":
        """The variance-exploding SDE, sigma(t) geometric from sigma_min to sigma_max."""
        return cls._create(lib.scoresde_sde_create_ve, sigma_min, sigma_max)

    @classmethod
    def edm(cls, sigma_min: float = 0.002, sigma_max: float = 80.0) -> "Sde":
        """The EDM SDE: x_t = x_0 + t z on [0, sigma_max], sampled down to sigma_min."""
        return cls._create(lib.scoresde_sde_create_edm, sigma_min, sigma_max)

    @classmethod
    def cosine(cls, s: float = 0.008, T: float = 0.9946) -> "Sde":
        """The variance-preserving SDE of the cosine schedule (offset s, end time T)."""
        return cls._create(lib.scoresde_sde_create_cosine, s, T)

    @classmethod
    def ou(cls, theta: float = 1.0, s: float = 2.0 ** 0.5, T: float = 8.0) -> "Sde":
        """The Ornstein-Uhlenbeck SDE dx = -theta x dt + s dw on [0, T]."""
        return cls._create(lib.scoresde_sde_create_ou, theta, s, T)

    @classmethod
    def schedule(cls, T: float, fn: Callable[..., Any]) -> "Sde":
        """A general (alpha, sigma) SDE: fn(t) gets an (n,) array of times and
        returns (alpha, sigma, dalpha_dt, dsigma_dt), four (n,) arrays."""
        hooks = u.Hooks()
        cf = hooks.wrap(SCHEDULE_FN, _schedule_body(fn))
        return cls._create(lib.scoresde_sde_create_schedule, T, cf, None, hooks=hooks)

    @classmethod
    def custom(cls,
            T: float,
            drift: Callable[..., Any],
            diffusion: Callable[..., Any],
            marginal: Optional[Callable[..., Any]] = None) -> "Sde":
        """A custom SDE: drift(x, t) -> (n, D) array, diffusion(t) -> (n,)
        array, and optionally marginal(t) -> (alpha, sigma, dalpha_dt, dsigma_dt)
        (as for schedule) when the process has that Gaussian marginal."""
        hooks = u.Hooks()
        cd = hooks.wrap(DRIFT_FN, _drift_body(drift))
        cg = hooks.wrap(DIFFUSION_FN, _diffusion_body(diffusion))
        cm = hooks.wrap(SCHEDULE_FN, _schedule_body(marginal)) if marginal else SCHEDULE_FN()
        return cls._create(lib.scoresde_sde_create_custom, T, cd, cg, cm, None, hooks=hooks)

    def clone(self) -> Sde:
        """An independent copy (sharing this SDE's Python hooks)."""
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_sde_clone, ctypes.byref(slot), self)
        return Sde(slot.value, u.Hooks([self._hooks]))

    # -------------------------------------------------------------- queries
    @property
    def kind(self) -> Union[SdeKind, int]:
        """The SdeKind (a plain int for a kind newer than this binding)."""
        k = u.call(lib.scoresde_sde_kind, self)
        try:
            return SdeKind(k)
        except ValueError:
            return k

    @property
    def end_time(self) -> float:
        """The end time T of the SDE's interval [0, T]."""
        return u.call(lib.scoresde_sde_end_time, self)

    @property
    def sampling_eps(self) -> float:
        """The smallest time a sampler integrates down to by default."""
        return u.call(lib.scoresde_sde_sampling_eps, self)

    @property
    def training_eps(self) -> float:
        """The smallest time a loss draws by default."""
        return u.call(lib.scoresde_sde_training_eps, self)

    def _call(self, func, *args):
        return u.call(func, self, *args, hooks=self._hooks)

    # --------------------------------------------------------- coefficients
    def marginal(self, t: ArrayLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(alpha, sigma, dalpha_dt, dsigma_dt) at the times t, each (n,)."""
        t = u.as_input(t, "t", (None,))
        n = t.shape[0]
        outs = [np.empty(n) for _ in range(4)]
        self._call(lib.scoresde_sde_marginal, u.ptr(t), n, *map(u.ptr, outs))
        return tuple(outs)

    def drift(self, x: ArrayLike, t: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The forward drift f(x, t), (n, D)."""
        x, n, D = u.batch(x)
        t = u.as_times(t, n)
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_drift, u.ptr(x), u.ptr(t), n, D, u.ptr(out))
        return out

    def diffusion(self, t: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The diffusion coefficient g(t), (n,)."""
        t = u.as_input(t, "t", (None,))
        out = u.as_output(out, "out", t.shape)
        self._call(lib.scoresde_sde_diffusion, u.ptr(t), t.shape[0], u.ptr(out))
        return out

    # --------------------------------------------------------- perturbation
    def perturb(self,
            x0: ArrayLike,
            t: ArrayLike,
            seed: int,
            first_sample: int = 0,
            draw: int = 0,
            out: Optional[np.ndarray] = None,
            return_noise: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """x_t = alpha x0 + sigma z (z from Philox stream first_sample + i).
        Returns x_t, or (x_t, z) with return_noise=True. out may be x0."""
        x0, n, D = u.batch(x0, "x0")
        t = u.as_times(t, n)
        out = u.as_output(out, "out", (n, D))
        z = np.empty((n, D)) if return_noise else None
        self._call(lib.scoresde_sde_perturb, u.ptr(x0), u.ptr(t), n, D, seed, first_sample,
                   draw, u.ptr(out), u.ptr(z))
        return (out, z) if return_noise else out

    def kernel_score(self,
            xt: ArrayLike,
            x0: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        """grad_x log p(xt | x0) of the perturbation kernel, (n, D)."""
        xt, n, D = u.batch(xt, "xt")
        x0 = u.as_input(x0, "x0", (n, D))
        t = u.as_times(t, n)
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_kernel_score, u.ptr(xt), u.ptr(x0), u.ptr(t), n, D,
                   u.ptr(out))
        return out

    # ---------------------------------------------------------------- prior
    @property
    def prior_var(self) -> float:
        """The variance of the prior p_T (isotropic Gaussian) per dimension."""
        v = ctypes.c_double()
        self._call(lib.scoresde_sde_prior_var, ctypes.byref(v))
        return v.value

    def prior_sample(self,
            n: int,
            D: int,
            seed: int,
            first_sample: int = 0,
            draw: int = 0,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        """n x D draws of the prior p_T from Philox stream first_sample + i."""
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_prior_sample, n, D, seed, first_sample, draw, u.ptr(out))
        return out

    def prior_logp(self, x: ArrayLike, out: Optional[np.ndarray] = None) -> np.ndarray:
        """ln p_T(x) per sample, (n,)."""
        x, n, D = u.batch(x)
        out = u.as_output(out, "out", (n,))
        self._call(lib.scoresde_sde_prior_logp, u.ptr(x), n, D, u.ptr(out))
        return out

    # ------------------------------------------------------- discretisation
    def discretize(self, N: int, x: ArrayLike, t: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
        """(f, G): the step into the level nearest each t over N levels."""
        x, n, D = u.batch(x)
        t = u.as_times(t, n)
        f = np.empty((n, D))
        G = np.empty(n)
        self._call(lib.scoresde_sde_discretize, N, u.ptr(x), u.ptr(t), n, D, u.ptr(f),
                   u.ptr(G))
        return f, G

    def reverse_drift(self,
            x: ArrayLike,
            t: ArrayLike,
            score: ArrayLike,
            lam: float = 1.0,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        """f - lam * g^2 * score: the reverse-time drift (lam = 1: the reverse SDE)."""
        x, n, D = u.batch(x)
        t = u.as_times(t, n)
        score = u.as_input(score, "score", (n, D))
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_reverse_drift, u.ptr(x), u.ptr(t), u.ptr(score), n, D,
                   lam, u.ptr(out))
        return out

    def pf_drift(self,
            x: ArrayLike,
            t: ArrayLike,
            score: ArrayLike,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        """f - g^2 * score / 2: the probability-flow ODE's drift."""
        x, n, D = u.batch(x)
        t = u.as_times(t, n)
        score = u.as_input(score, "score", (n, D))
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_pf_drift, u.ptr(x), u.ptr(t), u.ptr(score), n, D,
                   u.ptr(out))
        return out

    # ----------------------------------------------------------- simulation
    def simulate(self,
            x0: ArrayLike,
            t0: float,
            t1: float,
            steps: int,
            seed: int,
            first_sample: int = 0,
            draw: int = 0,
            out: Optional[np.ndarray] = None) -> np.ndarray:
        """Euler-Maruyama paths from x0 at t0 to t1; out may be x0."""
        x0, n, D = u.batch(x0, "x0")
        out = u.as_output(out, "out", (n, D))
        self._call(lib.scoresde_sde_simulate, u.ptr(x0), n, D, t0, t1, steps, seed,
                   first_sample, draw, u.ptr(out))
        return out

    def __repr__(self):
        if self.closed:
            return "<scoresde.Sde closed>"
        return "<scoresde.Sde %s T=%g>" % (getattr(self.kind, "name", self.kind),
                                             self.end_time)
