"""Score models and model files (include/scoresde/model.h, model_io.h)."""

from __future__ import annotations

import ctypes
import enum
import os

from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _util as u
from ._util import StrPath
from ._lib import (COND_FN, DENOISER_FN, DIVERGENCE_FN, MLP_MAX_HIDDEN, SCORE_FN, MlpOptions,
                   ResMlpOptions, lib)
from .sde import Sde

__all__ = ["Model", "ModelKind", "MLP_ACTIVATIONS", "MLP_OUTPUTS", "MLP_EMBEDDINGS",
           "IID_METHODS"]

# Names of the MLP's option values (SCORESDE_MLP_*; values frozen).
MLP_ACTIVATIONS = {"silu": 0, "relu": 1, "tanh": 2, "softplus": 3, "gelu_tanh": 4, "gelu": 5}
MLP_OUTPUTS = {"score": 0, "noise": 1, "data": 2, "edm": 3}
MLP_EMBEDDINGS = {"auto": 0, "fourier": 1, "sinusoidal": 2}
MLP_PRECISIONS = {"float64": 0, "float32": 1}
MLP_COND_INPUTS = {"concat": 1, "embed": 2, "embed_layers": 3}
# Methods of Model.iid (SCORESDE_IID_*; values frozen).
IID_METHODS = {"factorized": 1, "gauss": 2}


def _choice(table, value, name):
    """A name from `table` or one of its int values (a newer library's value passes)."""
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("%s %r is not one of %s" % (name, value, ", ".join(table))) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be a name or an int, not %s" % (name, type(value).__name__))
    return value


class ModelKind(enum.IntEnum):
    """SCORESDE_MODEL_*. Model.kind returns a plain int for a newer kind."""
    GMM = 1
    SCORE_FN = 2
    DENOISER_FN = 3
    MLP = 4
    COND_GMM = 5
    LINEAR_GAUSSIAN = 6
    IID = 7
    RESMLP = 8


def _batch_body(fn, width, what):
    """A score / denoiser / divergence hook: fn(x, t) -> (n, D) or (n,)."""
    def body(x, t, n, D, out, _user):
        shape = (n, D) if width else (n,)
        u.store(u.view(out, shape, True), fn(u.view(x, (n, D), False),
                                             u.view(t, (n,), False)), what)
    return body


def _path(path):
    return os.fsencode(path)


class Model(u.Handle):
    """A score model s(x, t) for a forward SDE (it keeps its own copy of the SDE).

    Create one with Model.gmm(), Model.from_score(), Model.from_denoiser(),
    Model.load() or Model.from_bytes(). Evaluation is read-only and thread-safe
    (Python hooks are then called from several threads). x is (n, D), t is (n,)
    or one number; results are new float64 arrays unless `out` is given.
    """

    _free = lib.scoresde_model_free

    @classmethod
    def _create(cls, func, *args, hooks=None):
        slot = ctypes.c_void_p()
        u.call(func, ctypes.byref(slot), *args, hooks=hooks)
        return cls(slot.value, hooks)

    @classmethod
    def gmm(cls, sde: Sde, weights: ArrayLike, means: ArrayLike, variances: ArrayLike) -> Model:
        """The exact model of sum_k w_k N(mu_k, diag(v_k)) under `sde`:
        weights (K,), means and variances (K, D)."""
        means, K, D = u.batch(means, "means")
        weights = u.as_input(weights, "weights", (K,))
        variances = u.as_input(variances, "variances", (K, D))
        return cls._create(lib.scoresde_model_create_gmm, sde, K, D, u.ptr(weights),
                           u.ptr(means), u.ptr(variances), hooks=u.Hooks([sde._hooks]))

    @classmethod
    def cond_gmm(cls,
            sde: Sde,
            class_probs: ArrayLike,
            weights: ArrayLike,
            means: ArrayLike,
            variances: ArrayLike) -> Model:
        """The exact class-conditional mixture: class_probs (K,), weights (K, M),
        means and variances (K, M, D). The condition is the label k as a float
        (cond of shape (n, 1) or (1,)); the null condition is the whole mixture."""
        means = np.ascontiguousarray(means, dtype=np.float64)
        if means.ndim != 3:
            raise ValueError("means must have shape (K, M, D), not %s" % (means.shape,))
        K, M, D = means.shape
        class_probs = u.as_input(class_probs, "class_probs", (K,))
        weights = u.as_input(weights, "weights", (K, M))
        variances = u.as_input(variances, "variances", (K, M, D))
        return cls._create(lib.scoresde_model_create_cond_gmm, sde, K, M, D, u.ptr(class_probs),
                           u.ptr(weights), u.ptr(means), u.ptr(variances),
                           hooks=u.Hooks([sde._hooks]))

    @classmethod
    def linear_gaussian(cls,
            sde: Sde,
            prior_mean: ArrayLike,
            prior_cov: ArrayLike,
            A: ArrayLike,
            noise_cov: ArrayLike,
            b: Optional[ArrayLike] = None) -> Model:
        """The exact posterior of theta ~ N(prior_mean, prior_cov) given
        y = A theta + b + N(0, noise_cov): prior_mean (D,), prior_cov (D, D),
        A (C, D), noise_cov (C, C), b (C,) or None. The condition is y (C
        features); the null condition is the prior."""
        A = np.ascontiguousarray(A, dtype=np.float64)
        if A.ndim != 2:
            raise ValueError("A must have shape (C, D), not %s" % (A.shape,))
        C, D = A.shape
        prior_mean = u.as_input(prior_mean, "prior_mean", (D,))
        prior_cov = u.as_input(prior_cov, "prior_cov", (D, D))
        noise_cov = u.as_input(noise_cov, "noise_cov", (C, C))
        if b is not None:
            b = u.as_input(b, "b", (C,))
        return cls._create(lib.scoresde_model_create_linear_gaussian, sde, D, C,
                           u.ptr(prior_mean), u.ptr(prior_cov), u.ptr(A), u.ptr(b),
                           u.ptr(noise_cov), hooks=u.Hooks([sde._hooks]))

    @classmethod
    def iid(cls,
            cond_model: Model,
            y: ArrayLike,
            prior: Optional[Model] = None,
            method: Union[str, int] = "gauss",
            prior_precision: Optional[ArrayLike] = None,
            posterior_precision: Optional[ArrayLike] = None) -> Model:
        """The posterior of N independent observations y, (N, C) or (C,) for one,
        composed from cond_model, a model of p(theta | y) for one observation (model.h,
        "IID observations"): an unconditional model usable by every sampler.
        prior: an unconditional model of the prior under the same SDE, or None
        for cond_model's null condition. method "gauss" (Geffner et al. 2023's
        Gaussian correction; needs prior_precision and posterior_precision,
        (D, D) each: the prior's inverse covariance and one observation's
        posterior inverse covariance) or "factorized" (sum of scores minus
        (N - 1) prior scores; exact at t = 0 only; no precisions)."""
        C = cond_model.cond_dim
        y = np.ascontiguousarray(y, dtype=np.float64)
        if y.ndim == 1:   # one observation
            y = y.reshape(1, -1)
        if y.ndim != 2 or y.shape[1] != C:
            raise ValueError("y must have shape (N, %d), not %s" % (C, y.shape))
        D = cond_model.dim
        pp = None if prior_precision is None else u.as_input(prior_precision,
                                                              "prior_precision", (D, D))
        qp = None if posterior_precision is None else u.as_input(
            posterior_precision, "posterior_precision", (D, D))
        parents = [cond_model._hooks] + ([prior._hooks] if prior is not None else [])
        return cls._create(lib.scoresde_model_create_iid, cond_model, prior, y.shape[0],
                           u.ptr(y), _choice(IID_METHODS, method, "method"), u.ptr(pp),
                           u.ptr(qp), hooks=u.Hooks(parents))

    @classmethod
    def mlp(cls,
            sde: Sde,
            D: int,
            widths: Optional[Sequence[int]] = None,
            activation: Union[str, int, None] = None,
            output: Union[str, int, None] = None,
            embedding: Union[str, int, None] = None,
            embed_dim: Optional[int] = None,
            fourier_scale: Optional[float] = None,
            sigma_data: Optional[float] = None,
            precision: Union[str, int, None] = None,
            seed: Optional[int] = None,
            chunk_rows: Optional[int] = None,
            n_threads: Optional[int] = None,
            cond_dim: Optional[int] = None,
            cond_input: Union[str, int, None] = None,
            cond_classes: Optional[int] = None,
            cond_null: Optional[bool] = None) -> Model:
        """A trainable MLP score network of dimension D (scoresde_mlp_options):
        every option left None keeps the library's default (three hidden layers
        of 256, SiLU, noise output, ...). widths is the list of hidden widths;
        activation, output, embedding and precision take names (MLP_ACTIVATIONS,
        ...) or the C enum values. A conditional model: cond_dim = C features per
        sample, cond_input "embed_layers" (default: the time and condition
        embedding enters every hidden layer), "embed" (the first layer only) or
        "concat" (MLP_COND_INPUTS),
        cond_classes = K for integer labels (cond_dim 1), cond_null=True to accept
        the null condition (train with the trainer's cond_dropout)."""
        opts = MlpOptions()
        u.call(lib.scoresde_model_mlp_options_init, ctypes.byref(opts), ctypes.sizeof(opts))
        if widths is not None:
            widths = list(widths)
            if len(widths) > MLP_MAX_HIDDEN:
                raise ValueError("widths has %d layers, at most %d" % (len(widths),
                                                                       MLP_MAX_HIDDEN))
            for i, w in enumerate(widths):
                if isinstance(w, bool) or not isinstance(w, int) or w < 0:
                    raise ValueError("widths[%d] (%r) is not a non-negative int" % (i, w))
            opts.n_hidden = len(widths)
            # The library copies the widths during the call; ctypes keeps the
            # array alive through opts until then.
            opts.widths = (ctypes.c_size_t * max(len(widths), 1))(*widths)
        for name, table in (("activation", MLP_ACTIVATIONS), ("output", MLP_OUTPUTS),
                            ("embedding", MLP_EMBEDDINGS), ("precision", MLP_PRECISIONS),
                            ("cond_input", MLP_COND_INPUTS)):
            value = locals()[name]
            if value is not None:
                setattr(opts, name, _choice(table, value, name))
        if cond_null is not None:
            cond_null = int(bool(cond_null))
        for name in ("embed_dim", "fourier_scale", "sigma_data", "seed", "chunk_rows",
                     "n_threads", "cond_dim", "cond_classes", "cond_null"):
            value = locals()[name]
            if value is not None:
                setattr(opts, name, value)
        return cls._create(lib.scoresde_model_create_mlp, sde, D, ctypes.byref(opts),
                           hooks=u.Hooks([sde._hooks]))

    @classmethod
    def resmlp(cls, sde: Sde, D: int, **options: Any) -> Model:
        """A trainable residual MLP score network of dimension D
        (scoresde_resmlp_options): keyword options width, blocks, activation,
        output, embedding, embed_dim, fourier_scale, sigma_data, precision,
        seed, chunk_rows, n_threads, cond_dim, cond_input, cond_classes,
        cond_null, with the meanings and names of Model.mlp's; every option
        not given keeps the library's default (4 blocks of width 256, SiLU,
        noise output, ...)."""
        opts = ResMlpOptions()
        u.call(lib.scoresde_model_resmlp_options_init, ctypes.byref(opts),
               ctypes.sizeof(opts))
        names = {"activation": MLP_ACTIVATIONS, "output": MLP_OUTPUTS,
                 "embedding": MLP_EMBEDDINGS, "precision": MLP_PRECISIONS,
                 "cond_input": MLP_COND_INPUTS}
        plain = ("width", "blocks", "embed_dim", "fourier_scale", "sigma_data", "seed",
                 "chunk_rows", "n_threads", "cond_dim", "cond_classes", "cond_null")
        for name, value in options.items():
            if value is None:
                continue
            if name in names:
                value = _choice(names[name], value, name)
            elif name == "cond_null":
                value = int(bool(value))
            elif name not in plain:
                raise TypeError("Model.resmlp() has no option %r" % name)
            setattr(opts, name, value)
        return cls._create(lib.scoresde_model_create_resmlp, sde, D, ctypes.byref(opts),
                           hooks=u.Hooks([sde._hooks]))

    @classmethod
    def from_score(cls,
            sde: Sde,
            D: int,
            score: Callable[..., Any],
            divergence: Optional[Callable[..., Any]] = None) -> Model:
        """A model whose score is score(x, t) -> (n, D) array; divergence(x, t)
        -> (n,) array, if given, is the exact divergence of the score."""
        hooks = u.Hooks([sde._hooks])
        cs = hooks.wrap(SCORE_FN, _batch_body(score, True, "the score hook"))
        cd = (hooks.wrap(DIVERGENCE_FN, _batch_body(divergence, False, "the divergence hook"))
              if divergence else DIVERGENCE_FN())
        return cls._create(lib.scoresde_model_create_score_fn, sde, D, cs, cd, None,
                           hooks=hooks)

    @classmethod
    def from_denoiser(cls,
            sde: Sde,
            D: int,
            denoiser: Callable[..., Any],
            divergence: Optional[Callable[..., Any]] = None) -> Model:
        """A model from a denoiser(x, t) -> (n, D) estimate of E[x0 | x_t], by
        Tweedie's formula; divergence(x, t) -> (n,) is div_x of the denoiser."""
        hooks = u.Hooks([sde._hooks])
        cs = hooks.wrap(DENOISER_FN, _batch_body(denoiser, True, "the denoiser hook"))
        cd = (hooks.wrap(DIVERGENCE_FN, _batch_body(divergence, False, "the divergence hook"))
              if divergence else DIVERGENCE_FN())
        return cls._create(lib.scoresde_model_create_denoiser_fn, sde, D, cs, cd, None,
                           hooks=hooks)

    @classmethod
    def from_cond_score(cls,
            sde: Sde,
            D: int,
            C: int,
            score: Callable[..., Any],
            divergence: Optional[Callable[..., Any]] = None,
            accepts_null: bool = True) -> Model:
        """A conditional model whose score is score(x, t, c, null) -> (n, D):
        c is (n, C) (a broadcast row repeated), null an (n,) bool array (True:
        the null condition, row ignored). divergence(x, t, c, null) -> (n,)."""
        return cls._cond_hook(lib.scoresde_model_create_cond_score_fn, sde, D, C, score,
                              divergence, accepts_null, "the score hook")

    @classmethod
    def from_cond_denoiser(cls,
            sde: Sde,
            D: int,
            C: int,
            denoiser: Callable[..., Any],
            divergence: Optional[Callable[..., Any]] = None,
            accepts_null: bool = True) -> Model:
        """A conditional model from denoiser(x, t, c, null) -> (n, D) (Tweedie);
        divergence(x, t, c, null) -> (n,) is div_x of the denoiser."""
        return cls._cond_hook(lib.scoresde_model_create_cond_denoiser_fn, sde, D, C, denoiser,
                              divergence, accepts_null, "the denoiser hook")

    @classmethod
    def _cond_hook(cls, func, sde, D, C, fn, divergence, accepts_null, what):
        hooks = u.Hooks([sde._hooks])

        def wrap(f, batch, name):
            def body(x, t, n, D_, c, stride, mask, out, _user):
                if c:
                    rows = u.view(c, (n if stride else 1, C), False)
                    cc = rows if stride else np.broadcast_to(rows, (n, C))
                else:
                    cc = np.zeros((n, C))
                null = (np.ones(n, dtype=bool) if not c else
                        np.zeros(n, dtype=bool) if not mask else
                        np.ctypeslib.as_array(ctypes.cast(mask, ctypes.POINTER(ctypes.c_uint8)),
                                              (n,)) != 0)
                res = f(u.view(x, (n, D_), False), u.view(t, (n,), False), cc, null)
                u.store(u.view(out, (n, D_) if batch else (n,), True), res, name)
            return hooks.wrap(COND_FN, body)
        cs = wrap(fn, True, what)
        cd = wrap(divergence, False, "the divergence hook") if divergence else COND_FN()
        return cls._create(func, sde, D, C, int(bool(accepts_null)), cs, cd, None, hooks=hooks)

    @classmethod
    def load(cls, path: StrPath) -> Model:
        """Load a model file written by save()."""
        return cls._create(lib.scoresde_model_load, _path(path))

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        """Load a model from the bytes of a model file (bytes-like)."""
        buf = bytes(data)
        return cls._create(lib.scoresde_model_load_buffer, buf, len(buf))

    def save(self, path: StrPath) -> None:
        """Save atomically to `path` (GMM and trainable kinds on built-in SDEs)."""
        u.call(lib.scoresde_model_save, self, _path(path), hooks=self._hooks)

    def to_bytes(self) -> bytes:
        """The bytes save() would write."""
        data = ctypes.c_void_p()
        size = ctypes.c_size_t()
        u.call(lib.scoresde_model_save_buffer, self, ctypes.byref(data), ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            lib.scoresde_buffer_free(data)

    def __reduce__(self):
        # A model pickles as its model file; kinds without one (Python hooks,
        # custom SDEs) raise the library's UnsupportedError from to_bytes().
        return Model.from_bytes, (self.to_bytes(),)

    def clone(self) -> Model:
        """An independent copy of the model (Python hooks are shared)."""
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_model_clone, ctypes.byref(slot), self)
        return Model(slot.value, u.Hooks([self._hooks]))

    # -------------------------------------------------------------- getters
    @property
    def dim(self) -> int:
        """The data dimension D."""
        return u.call(lib.scoresde_model_dim, self)

    @property
    def kind(self) -> Union[ModelKind, int]:
        """The ModelKind (a plain int for a kind newer than this binding)."""
        k = u.call(lib.scoresde_model_kind, self)
        try:
            return ModelKind(k)
        except ValueError:
            return k

    @property
    def sde(self) -> Sde:
        """The model's own SDE, borrowed: usable while the model is open."""
        return Sde(u.call(lib.scoresde_model_sde, self), self._hooks, owner=self)

    # ----------------------------------------------------------- evaluation
    def _xt(self, x, t):
        x, n, D = u.batch(x)
        return x, u.as_times(t, n), n, D

    def _cond(self, cond, n, null_mask):
        return u.cond(cond, n, null_mask, self.cond_dim)

    def _eval(self, func, x, t, out, per_sample=False, cond=None, null_mask=None):
        x, t, n, D = self._xt(x, t)
        out = u.as_output(out, "out", (n,) if per_sample else (n, D))
        u.call(func, self, u.ptr(x), u.ptr(t), n, D, self._cond(cond, n, null_mask), u.ptr(out),
               hooks=self._hooks)
        return out

    # Every evaluation takes cond (rows of the condition: (n, C), or (C,) for
    # one row for every sample) and null_mask (n booleans: the samples that
    # take the null condition); both None is the unconditional 1.0 call.
    def score(self,
            x: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """The score s(x, t) = grad_x log p_t(x), (n, D)."""
        return self._eval(lib.scoresde_model_score_cond, x, t, out, cond=cond,
                          null_mask=null_mask)

    def predict_data(self,
            x: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """The denoised estimate E[x0 | x_t = x], (n, D)."""
        return self._eval(lib.scoresde_model_predict_data_cond, x, t, out, cond=cond,
                          null_mask=null_mask)

    def predict_noise(self,
            x: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """The noise estimate E[z | x_t = x], (n, D)."""
        return self._eval(lib.scoresde_model_predict_noise_cond, x, t, out, cond=cond,
                          null_mask=null_mask)

    def divergence(self,
            x: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """The exact divergence of the score per sample, (n,)."""
        return self._eval(lib.scoresde_model_divergence_cond, x, t, out, per_sample=True, cond=cond,
                          null_mask=null_mask)

    def log_density(self,
            x: ArrayLike,
            t: ArrayLike,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """ln p_t(x) per sample (kinds with a closed-form density), (n,)."""
        return self._eval(lib.scoresde_model_log_density_cond, x, t, out, per_sample=True, cond=cond,
                          null_mask=null_mask)

    def jvp(self,
            x: ArrayLike,
            t: ArrayLike,
            v: ArrayLike,
            return_score: bool = False,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """(ds/dx) v per sample; with return_score=True, (jv, score)."""
        x, t, n, D = self._xt(x, t)
        v = u.as_input(v, "v", (n, D))
        jv = np.empty((n, D))
        s = np.empty((n, D)) if return_score else None
        u.call(lib.scoresde_model_jvp_cond, self, u.ptr(x), u.ptr(t), n, D,
               self._cond(cond, n, null_mask), u.ptr(v), u.ptr(s), u.ptr(jv),
               hooks=self._hooks)
        return (jv, s) if return_score else jv

    def hutchinson(self,
            x: ArrayLike,
            t: ArrayLike,
            probes: ArrayLike,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """Divergence estimates from probes of shape (n, M, D)."""
        x, t, n, D = self._xt(x, t)
        probes = u.as_input(probes, "probes", (n, None, D))
        est = np.empty(n)
        u.call(lib.scoresde_model_hutchinson_cond, self, u.ptr(x), u.ptr(t), n, D,
               self._cond(cond, n, null_mask), u.ptr(probes), probes.shape[1], u.ptr(est),
               hooks=self._hooks)
        return est

    def sample(self,
            t: ArrayLike,
            seed: int,
            first_sample: int = 0,
            n: Optional[int] = None,
            out: Optional[np.ndarray] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """Exact samples of p_t (mixtures): t is (n,) or a number with n given."""
        if n is None:
            t = u.as_input(t, "t", (None,))
            n = t.shape[0]
        else:
            t = u.as_times(t, n)
        D = self.dim
        out = u.as_output(out, "out", (n, D))
        u.call(lib.scoresde_model_sample_cond, self, u.ptr(t), n, D,
               self._cond(cond, n, null_mask), seed, first_sample, u.ptr(out),
               hooks=self._hooks)
        return out

    @property
    def cond_dim(self) -> int:
        """Condition features per sample C (0: unconditional)."""
        return u.call(lib.scoresde_model_cond_dim, self)

    @property
    def cond_classes(self) -> int:
        """K > 0 if the condition is an integer class label in [0, K), else 0."""
        return u.call(lib.scoresde_model_cond_classes, self)

    @property
    def cond_null(self) -> bool:
        """Whether the model accepts the null condition."""
        return bool(u.call(lib.scoresde_model_cond_null, self))

    # ------------------------------------------------------- data transform
    def set_transform(self, shift: Optional[ArrayLike], scale: Optional[ArrayLike]) -> None:
        """Set the data transform x_data = shift + scale * x_model, (D,) each
        (scale > 0, finite); both None clears it. Saved with the model, copied
        by clone. Not thread-safe with other calls on the model."""
        if shift is None and scale is None:
            u.call(lib.scoresde_model_set_transform, self, None, None)
            return
        if shift is None or scale is None:
            raise ValueError("give both shift and scale, or neither to clear the transform")
        D = self.dim
        shift = u.as_input(shift, "shift", (D,))
        scale = u.as_input(scale, "scale", (D,))
        u.call(lib.scoresde_model_set_transform, self, u.ptr(shift), u.ptr(scale))

    @property
    def transform(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(shift, scale), (D,) arrays each, or None when no transform is set
        (the identity). Assigning (shift, scale) or None sets or clears it."""
        if not u.call(lib.scoresde_model_has_transform, self):
            return None
        D = self.dim
        shift, scale = np.empty(D), np.empty(D)
        u.call(lib.scoresde_model_get_transform, self, u.ptr(shift), u.ptr(scale))
        return shift, scale

    @transform.setter
    def transform(self, value: Optional[Tuple[ArrayLike, ArrayLike]]) -> None:
        if value is None:
            self.set_transform(None, None)
        else:
            shift, scale = value
            self.set_transform(shift, scale)

    def to_data(self, x: ArrayLike) -> np.ndarray:
        """Rows (n, D) in model units mapped to data units (a new array)."""
        x = np.array(u.as_input(x, "x", (None, self.dim)), dtype=np.float64, order="C")
        u.call(lib.scoresde_model_to_data, self, u.ptr(x), x.shape[0])
        return x

    def from_data(self, x: ArrayLike) -> np.ndarray:
        """Rows (n, D) in data units mapped to model units (a new array)."""
        x = np.array(u.as_input(x, "x", (None, self.dim)), dtype=np.float64, order="C")
        u.call(lib.scoresde_model_from_data, self, u.ptr(x), x.shape[0])
        return x

    def transform_log_det(self) -> float:
        """sum_j ln scale_j: ln p_data(x) = ln p_model(from_data(x)) - this."""
        out = ctypes.c_double()
        u.call(lib.scoresde_model_transform_log_det, self, ctypes.byref(out))
        return out.value

    # ------------------------------------------------------ trainable kinds
    @property
    def num_params(self) -> int:
        """The number of trainable parameters; 0 for kinds without them."""
        return u.call(lib.scoresde_model_num_params, self)

    def get_params(self, out: Optional[np.ndarray] = None) -> np.ndarray:
        """A copy of the trainable parameters, (num_params,)."""
        out = u.as_output(out, "out", (self.num_params,))
        u.call(lib.scoresde_model_get_params, self, u.ptr(out), out.shape[0])
        return out

    def set_params(self, theta: ArrayLike) -> None:
        """Replace the parameters (not thread-safe with other calls on the model)."""
        theta = u.as_input(theta, "theta", (None,))
        u.call(lib.scoresde_model_set_params, self, u.ptr(theta), theta.shape[0])

    def copy_params_from(self, src: Model) -> None:
        """Copy src's parameters (same kind and architecture) into this model."""
        u.call(lib.scoresde_model_copy_params, self, src)

    def score_backward(self,
            x: ArrayLike,
            t: ArrayLike,
            score_grad: ArrayLike,
            param_grad: np.ndarray,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """ADD to param_grad the gradient of sum(score_grad * s(x, t))."""
        x, t, n, D = self._xt(x, t)
        score_grad = u.as_input(score_grad, "score_grad", (n, D))
        u.as_output(param_grad, "param_grad", (None,))
        u.call(lib.scoresde_model_score_backward_cond, self, u.ptr(x), u.ptr(t), n, D,
               self._cond(cond, n, null_mask), u.ptr(score_grad), u.ptr(param_grad), param_grad.shape[0], hooks=self._hooks)
        return param_grad

    def probe_backward(self,
            x: ArrayLike,
            t: ArrayLike,
            probes: ArrayLike,
            weights: ArrayLike,
            param_grad: np.ndarray,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> np.ndarray:
        """ADD to param_grad the gradient of sum w_im v_im^T (ds/dx) v_im."""
        x, t, n, D = self._xt(x, t)
        probes = u.as_input(probes, "probes", (n, None, D))
        M = probes.shape[1]
        weights = u.as_input(weights, "weights", (n, M))
        u.as_output(param_grad, "param_grad", (None,))
        u.call(lib.scoresde_model_probe_backward_cond, self, u.ptr(x), u.ptr(t), n, D,
               self._cond(cond, n, null_mask), u.ptr(probes), M, u.ptr(weights), u.ptr(param_grad), param_grad.shape[0],
               hooks=self._hooks)
        return param_grad

    def __repr__(self):
        if self.closed:
            return "<scoresde.Model closed>"
        return "<scoresde.Model %s D=%d>" % (getattr(self.kind, "name", self.kind), self.dim)
