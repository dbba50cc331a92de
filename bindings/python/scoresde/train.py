"""Score-matching losses and the trainer (include/scoresde/loss.h, train.h)."""

from __future__ import annotations

import ctypes
import os
import sys

from typing import TYPE_CHECKING, Any, Callable, Optional, TextIO, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _util as u
from ._util import StrPath
from ._lib import LOSS_WEIGHT_FN, TRAIN_PROGRESS_FN, lib

if TYPE_CHECKING:
    from .model import Model

__all__ = ["Loss", "Trainer", "ProgressBar", "progress_bar"]

def library_names(name_fn):
    """{name: id} of the library's table behind name_fn (ids 1, 2, ... up to
    the first without a name; scoresde/common.h's Names)."""
    names, i = {}, 1
    while True:
        name = name_fn(i)
        if name is None:
            return names
        names[name] = i
        i += 1


def library_values(value_fn, bounds_fn, cid):
    """{name: value} of an enum-valued setting (its values across its bounds),
    or None for a setting without named values."""
    lo, hi, is_int = _bounds(bounds_fn, cid)
    if not is_int or value_fn(cid, int(lo)) is None:
        return None
    return {value_fn(cid, v): v for v in range(int(lo), int(hi) + 1)}


def _bounds(fn, cid):
    lo, hi, is_int = ctypes.c_double(), ctypes.c_double(), ctypes.c_int()
    u.call(fn, cid, ctypes.byref(lo), ctypes.byref(hi), ctypes.byref(is_int))
    return lo.value, hi.value, bool(is_int.value)


LOSS_KINDS = library_names(lib.scoresde_loss_kind_name)
# setting name: (C id, is_int, {value names} or None), from the library's tables
LOSS_SETTINGS = {
    name: (cid, _bounds(lib.scoresde_loss_bounds, cid)[2],
           library_values(lib.scoresde_loss_value_name, lib.scoresde_loss_bounds, cid))
    for name, cid in library_names(lib.scoresde_loss_setting_name).items()}
# setting name: (C id, is_int)
TRAIN_SETTINGS = {name: (cid, _bounds(lib.scoresde_trainer_bounds, cid)[2])
                  for name, cid in library_names(lib.scoresde_trainer_setting_name).items()}
EXPORT = {"ema": 0, "raw": 1}


def lookup(table: Any, value: Any, what: str) -> int:
    """A value given by name (from `table`) or as the C enum's int."""
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise ValueError("%s %r is not one of %s" % (what, value, ", ".join(table))) from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError("%s must be a name or an int, not %s" % (what, type(value).__name__))
    return int(value)


def _setting(table, name):
    try:
        return table[name]
    except KeyError:
        raise ValueError("unknown setting %r (known: %s)" % (name, ", ".join(table))) from None


def _get(get_int, get_double, obj, cid, is_int):
    v = ctypes.c_int64() if is_int else ctypes.c_double()
    u.call(get_int if is_int else get_double, obj, cid, ctypes.byref(v))
    return v.value


class ProgressBar:
    """A plain text progress bar on a stream (stderr by default): redrawn in
    place with a carriage return, at most `width` characters of bar."""

    def __init__(self,
            total: int,
            desc: str = "",
            stream: Optional[TextIO] = None,
            width: int = 30) -> None:
        self.total, self.desc, self.width = max(int(total), 1), desc, width
        self.stream = stream if stream is not None else sys.stderr
        self.n = 0
        self.postfix = ""

    def update(self, k: int = 1) -> None:
        """Advance the bar by k steps and redraw it."""
        self.n += k
        frac = min(self.n / self.total, 1.0)
        fill = int(round(frac * self.width))
        self.stream.write("\r%s |%s%s| %d/%d %s" % (self.desc, "#" * fill,
                                                    "." * (self.width - fill), self.n,
                                                    self.total, self.postfix))
        self.stream.flush()

    def set_postfix_str(self, text: str) -> None:
        """Text shown after the bar (tqdm's method of the same name)."""
        self.postfix = text

    def close(self) -> None:
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def progress_bar(total: int, desc: str = "") -> Any:
    """A tqdm bar when tqdm is importable (and SCORESDE_NO_TQDM is unset), else a
    ProgressBar; both have update(k), set_postfix_str(s) and close()."""
    if not os.environ.get("SCORESDE_NO_TQDM"):
        try:
            from tqdm import tqdm
            return tqdm(total=total, desc=desc)
        except ImportError:
            pass
    return ProgressBar(total, desc)


class Loss(u.Handle):
    """A score-matching loss: Loss("dsm", time_mode="uniform", ...). Kinds and
    settings take names (LOSS_KINDS, LOSS_SETTINGS) or the C enum ints.
    Evaluation is read-only and thread-safe; set() is not."""

    _free = lib.scoresde_loss_free

    def __init__(self, kind: Union[str, int] = "dsm", **settings: Any) -> None:
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_loss_create, ctypes.byref(slot), lookup(LOSS_KINDS, kind, "kind"))
        super().__init__(slot.value)
        self._reference = None
        self.set(**settings)

    def _usable(self):
        ref = getattr(self, "_reference", None)
        return super()._usable() and (ref is None or not ref.closed)

    @property
    def kind(self) -> int:
        """The loss kind's C value (LOSS_KINDS)."""
        return u.call(lib.scoresde_loss_kind, self)

    def set(self, **settings: Any) -> Any:
        """Set settings by name, e.g. set(weighting="g2", eps=1e-5)."""
        for name, value in settings.items():
            cid, is_int, names = _setting(LOSS_SETTINGS, name)
            if is_int:
                value = lookup(names or {}, value, name)
                u.call(lib.scoresde_loss_set_int, self, cid, value)
            else:
                u.call(lib.scoresde_loss_set_double, self, cid, float(value))
        return self

    def get(self, name: str) -> Union[int, float]:
        """A setting's value by name: an int (integer settings) or a float."""
        cid, is_int, _ = _setting(LOSS_SETTINGS, name)
        return _get(lib.scoresde_loss_get_int, lib.scoresde_loss_get_double, self, cid, is_int)

    @staticmethod
    def bounds(name: str) -> Tuple[float, float, bool]:
        """(lower, upper, is_int) of a setting (EPS also takes NaN)."""
        return _bounds(lib.scoresde_loss_bounds, _setting(LOSS_SETTINGS, name)[0])

    @staticmethod
    def default(kind: Union[str, int], name: str) -> float:
        """The value a new loss of `kind` starts with for setting `name`."""
        value = ctypes.c_double()
        u.call(lib.scoresde_loss_default, lookup(LOSS_KINDS, kind, "kind"),
               _setting(LOSS_SETTINGS, name)[0], ctypes.byref(value))
        return value.value

    def set_reference(self, model: Model) -> None:
        """ESM's reference model (kept alive by the loss); None clears it."""
        u.call(lib.scoresde_loss_set_reference, self, model)
        self._reference = model
        if model is not None:
            self._hooks.parents.append(model._hooks)

    def set_weight(self, fn: Optional[Callable[..., Any]]) -> None:
        """The USER weighting: fn(t) -> (n,) weights >= 0 (selects it)."""
        def body(t, n, w, _user):
            u.store(u.view(w, (n,), True), fn(u.view(t, (n,), False)), "the weight hook")
        cf = self._hooks.wrap(LOSS_WEIGHT_FN, body)
        u.call(lib.scoresde_loss_set_weight_fn, self, cf, None)

    def __call__(self,
            model: Model,
            x0: ArrayLike,
            seed: int = 0,
            first_sample: int = 0,
            per_sample: bool = False,
            grad: Optional[ArrayLike] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Union[float, Tuple[Any, ...]]:
        """The batch loss of x0 (n, D) for `model`; with per_sample=True returns
        (loss, values (n,)); grad, an (num_params,) array, gets the gradient ADDED.
        cond: the conditions of a conditional model, (n, C) or (C,) for all;
        null_mask: n booleans, the samples that take the null condition."""
        x0, n, D = u.batch(x0, "x0")
        values = np.empty(n) if per_sample else None
        if grad is not None:
            u.as_output(grad, "grad", (None,))
        value = ctypes.c_double()
        u.call(lib.scoresde_loss_eval_cond, self, model, u.ptr(x0), n, D,
               u.cond(cond, n, null_mask, model.cond_dim), seed, first_sample,
               ctypes.byref(value), u.ptr(values), u.ptr(grad),
               0 if grad is None else grad.shape[0],
               hooks=u.Hooks([self._hooks, model._hooks]))
        return (value.value, values) if per_sample else value.value

    def __repr__(self):
        if self.closed:
            return "<scoresde.Loss closed>"
        names = {v: k for k, v in LOSS_KINDS.items()}
        return "<scoresde.Loss %s>" % names.get(self.kind, self.kind)


class Trainer(u.Handle):
    """Adam(W) with warm-up, clipping and an EMA, training `model` (an MLP,
    whose parameters it updates in place) on `loss`. Both are kept alive by the
    trainer and must not be used by another thread while a trainer call runs.
    Settings by name (TRAIN_SETTINGS): Trainer(model, loss, lr=1e-3, batch=256)."""

    _free = lib.scoresde_trainer_free

    def __init__(self, model: Model, loss: Loss, **settings: Any) -> None:
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_trainer_create, ctypes.byref(slot), model, loss)
        super().__init__(slot.value, u.Hooks([model._hooks, loss._hooks]))
        self.model, self.loss = model, loss
        self.set(**settings)

    model = loss = None     # set by __init__ once the C trainer exists

    def _usable(self):
        # the model and loss are borrowed by the C trainer: closing either ends it
        borrowed = [h for h in (self.model, self.loss) if h is not None]
        return super()._usable() and not any(h.closed for h in borrowed)

    def set(self, **settings: Any) -> Any:
        """Set settings by name (TRAIN_SETTINGS), e.g. set(lr=1e-3, batch=256)."""
        for name, value in settings.items():
            cid, is_int = _setting(TRAIN_SETTINGS, name)
            if is_int:
                u.call(lib.scoresde_trainer_set_int, self, cid, lookup({}, value, name))
            else:
                u.call(lib.scoresde_trainer_set_double, self, cid, float(value))
        return self

    def get(self, name: str) -> Union[int, float]:
        """A setting's value by name: an int (integer settings) or a float."""
        cid, is_int = _setting(TRAIN_SETTINGS, name)
        return _get(lib.scoresde_trainer_get_int, lib.scoresde_trainer_get_double, self, cid,
                    is_int)

    @staticmethod
    def bounds(name: str) -> Tuple[float, float, bool]:
        """(lower, upper, is_int) of a setting."""
        return _bounds(lib.scoresde_trainer_bounds, _setting(TRAIN_SETTINGS, name)[0])

    @staticmethod
    def default(name: str) -> float:
        """The value a new trainer starts with for setting `name`."""
        value = ctypes.c_double()
        u.call(lib.scoresde_trainer_default, _setting(TRAIN_SETTINGS, name)[0],
               ctypes.byref(value))
        return value.value

    @property
    def num_params(self) -> int:
        """The number of parameters the trainer updates."""
        return u.call(lib.scoresde_trainer_num_params, self)

    @property
    def steps(self) -> int:
        """The number of applied optimiser steps."""
        return u.call(lib.scoresde_trainer_steps, self)

    def _cond(self, cond: Optional[ArrayLike], n: int, null_mask: Optional[ArrayLike]) -> Any:
        return u.cond(cond, n, null_mask, self.model.cond_dim)

    def step(self,
             x0: ArrayLike,
             cond: Optional[ArrayLike] = None,
             null_mask: Optional[ArrayLike] = None) -> float:
        """One step on the batch x0 (n, D) (with its conditions, as Loss takes
        them); returns the batch loss."""
        x0, n, D = u.batch(x0, "x0")
        value = ctypes.c_double()
        u.call(lib.scoresde_trainer_step_cond, self, u.ptr(x0), n, D,
               self._cond(cond, n, null_mask), ctypes.byref(value), hooks=self._hooks)
        return value.value

    def backward(self,
                 x0: ArrayLike,
                 first_sample: int = 0,
                 cond: Optional[ArrayLike] = None,
                 null_mask: Optional[ArrayLike] = None) -> float:
        """Loss and gradient of x0 into the trainer's buffer; returns the loss."""
        x0, n, D = u.batch(x0, "x0")
        value = ctypes.c_double()
        u.call(lib.scoresde_trainer_backward_cond, self, u.ptr(x0), n, D,
               self._cond(cond, n, null_mask), first_sample, ctypes.byref(value),
               hooks=self._hooks)
        return value.value

    def get_grad(self, out: Optional[np.ndarray] = None) -> np.ndarray:
        """A copy of the gradient buffer, (num_params,)."""
        out = u.as_output(out, "out", (self.num_params,))
        u.call(lib.scoresde_trainer_get_grad, self, u.ptr(out), out.shape[0])
        return out

    def set_grad(self, grad: ArrayLike) -> None:
        """Replace the gradient buffer (num_params,) before apply()."""
        grad = u.as_input(grad, "grad", (None,))
        u.call(lib.scoresde_trainer_set_grad, self, u.ptr(grad), grad.shape[0])

    def apply(self) -> float:
        """One optimiser step with the gradient buffer; returns its norm before clipping."""
        norm = ctypes.c_double()
        u.call(lib.scoresde_trainer_apply, self, ctypes.byref(norm))
        return norm.value

    def get_ema(self, out: Optional[np.ndarray] = None) -> np.ndarray:
        """A copy of the EMA parameters, (num_params,)."""
        out = u.as_output(out, "out", (self.num_params,))
        u.call(lib.scoresde_trainer_get_ema, self, u.ptr(out), out.shape[0])
        return out

    def fit(self,
            data: ArrayLike,
            steps: int,
            progress: Union[None, bool, Callable[..., Any]] = None,
            cond: Optional[ArrayLike] = None,
            null_mask: Optional[ArrayLike] = None) -> Tuple[int, float, float]:
        """Run `steps` steps on minibatches (the BATCH setting) drawn from data (m, D),
        with row r of cond ((m, C), or (C,) for every row) and of null_mask (m
        booleans) for data row r (a conditional model).

        progress: None; True for a progress bar (tqdm when installed, else a
        text bar on stderr); or a callable hook(step, loss, ema_loss) called
        after every step, which may return True to stop early: fit then raises
        CallbackError, as a sampler's run does (the steps done, the stopping one
        included, are kept: self.steps counts them). An exception raised by the
        hook stops the run and is re-raised here (steps done are kept too).
        Returns (steps run in this call, last loss, its moving average)."""
        data, m, D = u.batch(data, "data")
        c = self._cond(cond, m, null_mask)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError("steps (%r) must be an int >= 0" % (steps,))
        start = self.steps
        last = [float("nan"), float("nan")]
        bar = progress_bar(steps, "fit") if progress is True else None
        hook = progress if callable(progress) else None

        def body(step, loss, ema, _user):
            last[0], last[1] = loss, ema
            if bar is not None:
                bar.set_postfix_str("loss %.4g" % ema)
                bar.update(1)
            if hook is not None and hook(step, loss, ema):
                raise u.Stop()

        hooks = u.Hooks([self._hooks])
        cf = hooks.wrap(TRAIN_PROGRESS_FN, body)
        try:
            u.call_stoppable(lib.scoresde_trainer_fit_cond, self, u.ptr(data), m, D, c, steps,
                             cf, None, hooks=hooks)
        finally:
            if bar is not None:
                bar.close()
        return self.steps - start, last[0], last[1]

    # ---------------------------------------------------------- checkpoints
    def to_bytes(self) -> bytes:
        """The bytes save() would write."""
        data = ctypes.c_void_p()
        size = ctypes.c_size_t()
        u.call(lib.scoresde_trainer_save_buffer, self, ctypes.byref(data), ctypes.byref(size))
        try:
            return ctypes.string_at(data.value, size.value)
        finally:
            lib.scoresde_buffer_free(data)

    def save(self, path: StrPath) -> None:
        """Save the training state atomically to `path`."""
        u.call(lib.scoresde_trainer_save, self, os.fsencode(path))

    def load(self, path: StrPath) -> None:
        """Restore a checkpoint (same model architecture and loss configuration)."""
        u.call(lib.scoresde_trainer_load, self, os.fsencode(path))

    def load_bytes(self, data: bytes) -> None:
        """Restore a checkpoint from the bytes of to_bytes() (bytes-like)."""
        buf = bytes(data)
        u.call(lib.scoresde_trainer_load_buffer, self, buf, len(buf))

    def export(self, which: str = "ema") -> Model:
        """A new Model for sampling carrying the EMA ("ema") or current ("raw") parameters."""
        from .model import Model
        slot = ctypes.c_void_p()
        u.call(lib.scoresde_trainer_export, ctypes.byref(slot), self,
               lookup(EXPORT, which, "which"))
        return Model(slot.value, u.Hooks([self.model._hooks]))

    def __repr__(self):
        if self.closed:
            return "<scoresde.Trainer closed>"
        return "<scoresde.Trainer %d params, %d steps>" % (self.num_params, self.steps)
