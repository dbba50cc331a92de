"""Exceptions raised by the scoresde binding, one class per C status code."""

import re

__all__ = [
    "ScoresdeError", "InvalidArgumentError", "OutOfMemoryError", "DimensionError",
    "NumericError", "CallbackError", "FileIOError", "CorruptError", "FormatVersionError",
    "UnsupportedError", "BusyError", "LibraryVersionError", "STATUS_NAMES",
    "error_for_status", "python_spelling",
]

# The C status codes (include/scoresde/common.h); frozen there, so frozen here.
STATUS_NAMES = {
    0: "SCORESDE_OK",
    -1: "SCORESDE_EINVAL",
    -2: "SCORESDE_ENOMEM",
    -3: "SCORESDE_EDIM",
    -4: "SCORESDE_ENUMERIC",
    -5: "SCORESDE_ECALLBACK",
    -6: "SCORESDE_EIO",
    -7: "SCORESDE_ECORRUPT",
    -8: "SCORESDE_EVERSION",
    -9: "SCORESDE_EUNSUPPORTED",
    -10: "SCORESDE_EBUSY",
}


class ScoresdeError(Exception):
    """A libscoresde call failed.

    Attributes: ``status`` (the negative C status code), ``status_name``
    (e.g. ``"SCORESDE_EINVAL"``), ``message`` (scoresde_last_error() of the
    failing call) and ``function`` (the C function's name).
    """

    status = None

    def __init__(self, status, message, function=""):
        self.status = status
        self.status_name = STATUS_NAMES.get(status, "status %d" % status)
        self.message = message
        self.function = function
        where = (function + ": ") if function else ""
        super().__init__("%s%s: %s" % (where, self.status_name, message))


class InvalidArgumentError(ScoresdeError, ValueError):
    status = -1


class OutOfMemoryError(ScoresdeError, MemoryError):
    status = -2


class DimensionError(ScoresdeError, ValueError):
    status = -3


class NumericError(ScoresdeError, ArithmeticError):
    status = -4


class CallbackError(ScoresdeError):
    status = -5


class FileIOError(ScoresdeError, OSError):
    status = -6


class CorruptError(ScoresdeError):
    status = -7


class FormatVersionError(ScoresdeError):
    status = -8


class UnsupportedError(ScoresdeError, NotImplementedError):
    status = -9


class BusyError(ScoresdeError):
    status = -10


class LibraryVersionError(ImportError):
    """The loaded libscoresde is not one this binding can use."""


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, OutOfMemoryError, DimensionError, NumericError, CallbackError,
    FileIOError, CorruptError, FormatVersionError, UnsupportedError, BusyError)}


# The C functions the library's messages point to, as this binding spells them.
_PYTHON_NAMES = {
    "scoresde_model_hutchinson": "Model.hutchinson()",
    "scoresde_sampler_set_grid": "Sampler.set_grid()",
    "scoresde_trainer_load": "Trainer.load()",
    "scoresde_loss_set_reference": "Loss.set_reference()",
    "scoresde_loss_set_weight_fn": "Loss.set_weight()",
}
_C_NAME = re.compile(r"\bscoresde_[a-z0-9_]+")
# "sampler setting H_INIT" -> "sampler setting h_init", the keyword's spelling.
_SETTING = re.compile(r"\b(sampler|loss|trainer) setting ([A-Z][A-Z0-9_]*)\b")


def python_spelling(message):
    """A C message with the fixes it names spelled as Python calls and keywords."""
    message = _C_NAME.sub(lambda m: _PYTHON_NAMES.get(m.group(0), m.group(0)), message)
    return _SETTING.sub(lambda m: "%s setting %s" % (m.group(1), m.group(2).lower()), message)


def error_for_status(status, message, function=""):
    """The exception for a C status; unknown (newer) codes give ScoresdeError.
    The message names Python methods and setting keywords, not C identifiers."""
    cls = _BY_STATUS.get(status, ScoresdeError)
    return cls(status, python_spelling(message), function)
