"""Loading libscoresde and declaring its C functions for ctypes.

Every C function of the library is declared once, in the table _FUNCTIONS
below: its name, result type, argument types and how its result is checked.
Binding a new C function means adding one line there (and, if the function
takes a new kind of callback, its CFUNCTYPE next to the others).
"""

import ctypes
import ctypes.util
import math
import os

from .errors import LibraryVersionError, error_for_status

# The oldest library whose API this binding declares, and the major version
# it was written for (MAJOR * 10000 + MINOR * 100 + PATCH, as in version.h).
MIN_VERSION = 10000         # 1.0.0
ENV_LIBRARY = "SCORESDE_LIBRARY"
SONAME = "libscoresde.so.1"

c_double_p = ctypes.POINTER(ctypes.c_double)
c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_uint32_p = ctypes.POINTER(ctypes.c_uint32)
sde_p = ctypes.c_void_p     # opaque handles travel as void pointers
model_p = ctypes.c_void_p

# Callback types (include/scoresde/*.h). Pointers are passed as c_void_p so the
# trampolines can wrap them into NumPy arrays without ctypes' per-item objects.
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
SCHEDULE_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _sz, _vp, _vp, _vp, _vp, _vp)
DRIFT_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _vp)
DIFFUSION_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _sz, _vp, _vp)
SCORE_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _vp)
DIVERGENCE_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _vp)
DENOISER_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _vp)
# scoresde_cond_score_fn, _denoiser_fn, _divergence_fn (model.h, 1.1):
# x, t, n, D, c, c_stride, null_mask, out, user
COND_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _sz, _vp, _vp, _vp)
MALLOC_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
LOSS_WEIGHT_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _sz, _vp, _vp)
TRAIN_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_double,
                                     ctypes.c_double, _vp)
SAMPLER_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_double,
                                       ctypes.c_uint64, _vp)
GUIDANCE_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _sz, _sz, _vp, _vp)
SUPPORT_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _sz, _sz, _vp, _vp)  # sampler.h (1.1)

MLP_MAX_HIDDEN = 64


class MlpOptions(ctypes.Structure):
    """scoresde_mlp_options (model.h), a versioned struct."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("n_hidden", ctypes.c_size_t),
                ("widths", ctypes.POINTER(ctypes.c_size_t)), ("activation", ctypes.c_int),
                ("output", ctypes.c_int), ("embedding", ctypes.c_int),
                ("embed_dim", ctypes.c_size_t), ("fourier_scale", ctypes.c_double),
                ("sigma_data", ctypes.c_double), ("precision", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("chunk_rows", ctypes.c_size_t),
                ("n_threads", ctypes.c_int),
                # 1.1: conditions
                ("cond_dim", ctypes.c_size_t), ("cond_input", ctypes.c_int),
                ("cond_classes", ctypes.c_size_t), ("cond_null", ctypes.c_int)]


class ResMlpOptions(ctypes.Structure):
    """scoresde_resmlp_options (model.h, 1.1), a versioned struct."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("width", ctypes.c_size_t),
                ("blocks", ctypes.c_size_t), ("activation", ctypes.c_int),
                ("output", ctypes.c_int), ("embedding", ctypes.c_int),
                ("embed_dim", ctypes.c_size_t), ("fourier_scale", ctypes.c_double),
                ("sigma_data", ctypes.c_double), ("precision", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("chunk_rows", ctypes.c_size_t),
                ("n_threads", ctypes.c_int),
                ("cond_dim", ctypes.c_size_t), ("cond_input", ctypes.c_int),
                ("cond_classes", ctypes.c_size_t), ("cond_null", ctypes.c_int)]


class Cond(ctypes.Structure):
    """scoresde_cond (common.h), a versioned struct: the conditions of a batch."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("C", ctypes.c_size_t),
                ("c", ctypes.c_void_p), ("rows", ctypes.c_size_t),
                ("null_mask", ctypes.c_void_p)]


class SamplerStats(ctypes.Structure):
    """scoresde_sampler_stats (sampler.h), a versioned struct."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("nfe", ctypes.c_uint64),
                ("accepted", ctypes.c_uint64), ("rejected", ctypes.c_uint64),
                ("t_final", ctypes.c_double),
                ("redrawn", ctypes.c_uint64), ("outside", ctypes.c_uint64)]  # 1.1


def _last_error():
    return lib.scoresde_last_error()


# ------------------------------------------------------------------ checkers
# Each takes ctypes' errcheck arguments (result, function, arguments).

def check_status(result, func, args):
    """int status: raise the status's exception with the thread's message."""
    if result < 0:
        raise error_for_status(result, _last_error(), func.__name__)
    return result


def check_nonneg(result, func, args):
    """An int that is a value when >= 0 and a status when negative."""
    return check_status(result, func, args)


def check_finite(result, func, args):
    """A double that the C side reports as NaN for a NULL handle."""
    if math.isnan(result):
        raise error_for_status(-1, "%s returned NaN (NULL handle)" % func.__name__,
                               func.__name__)
    return result


def check_pointer(result, func, args):
    """A pointer that is NULL only when the handle argument was NULL."""
    if not result:
        raise error_for_status(-1, "%s returned NULL (NULL handle)" % func.__name__,
                               func.__name__)
    return result


def check_string(result, func, args):
    """const char * that is never NULL: decoded to str."""
    if result is None:
        raise error_for_status(-1, "%s returned NULL" % func.__name__, func.__name__)
    return result.decode("utf-8", "replace")


def check_name(result, func, args):
    """const char * that is NULL for an unknown id (the library's names): str or None."""
    return None if result is None else result.decode("utf-8")


def check_none(result, func, args):
    """void functions: nothing to check."""
    return None


def check_value(result, func, args):
    """Plain values with no failure case (counts, sizes)."""
    return result


_i, _d, _u64 = ctypes.c_int, ctypes.c_double, ctypes.c_uint64
_p = ctypes.c_void_p    # double arrays: NumPy's ctypes.data (an int) or None
_pp = ctypes.POINTER(ctypes.c_void_p)
cond_p = ctypes.POINTER(Cond)  # NULL: None

# name: (restype, argtypes, errcheck)
_FUNCTIONS = {
    # core (common.h, rng.h)
    "scoresde_strerror": (ctypes.c_char_p, [_i], check_string),
    "scoresde_last_error": (ctypes.c_char_p, [], check_string),
    "scoresde_set_allocator": (_i, [MALLOC_FN, FREE_FN, _vp], check_status),
    "scoresde_live_allocations": (_sz, [], check_value),
    "scoresde_buffer_free": (None, [_vp], check_none),
    "scoresde_version_number": (ctypes.c_uint, [], check_value),
    "scoresde_version_string": (ctypes.c_char_p, [], check_string),
    "scoresde_philox4x32_10": (None, [c_uint32_p, c_uint32_p, c_uint32_p], check_none),
    "scoresde_rng_uniform": (_i, [_u64, _u64, _u64, _sz, _p], check_status),
    "scoresde_rng_normal": (_i, [_u64, _u64, _u64, _sz, _p], check_status),
    # sde.h
    "scoresde_sde_create_default": (_i, [_pp, _i], check_status),
    "scoresde_sde_create_vp": (_i, [_pp, _d, _d], check_status),
    "scoresde_sde_create_subvp": (_i, [_pp, _d, _d], check_status),
    "scoresde_sde_create_ve": (_i, [_pp, _d, _d], check_status),
    "scoresde_sde_create_edm": (_i, [_pp, _d, _d], check_status),
    "scoresde_sde_create_cosine": (_i, [_pp, _d, _d], check_status),
    "scoresde_sde_create_ou": (_i, [_pp, _d, _d, _d], check_status),
    "scoresde_sde_create_schedule": (_i, [_pp, _d, SCHEDULE_FN, _vp], check_status),
    "scoresde_sde_create_custom": (_i, [_pp, _d, DRIFT_FN, DIFFUSION_FN, SCHEDULE_FN, _vp],
                                   check_status),
    "scoresde_sde_free": (None, [sde_p], check_none),
    "scoresde_sde_clone": (_i, [_pp, sde_p], check_status),
    "scoresde_sde_kind": (_i, [sde_p], check_value),
    "scoresde_sde_end_time": (_d, [sde_p], check_finite),
    "scoresde_sde_sampling_eps": (_d, [sde_p], check_finite),
    "scoresde_sde_training_eps": (_d, [sde_p], check_finite),
    "scoresde_sde_marginal": (_i, [sde_p, _p, _sz, _p, _p, _p, _p], check_status),
    "scoresde_sde_drift": (_i, [sde_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_sde_diffusion": (_i, [sde_p, _p, _sz, _p], check_status),
    "scoresde_sde_perturb": (_i, [sde_p, _p, _p, _sz, _sz, _u64, _u64, _u64, _p, _p],
                             check_status),
    "scoresde_sde_kernel_score": (_i, [sde_p, _p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_sde_prior_var": (_i, [sde_p, c_double_p], check_status),
    "scoresde_sde_prior_sample": (_i, [sde_p, _sz, _sz, _u64, _u64, _u64, _p], check_status),
    "scoresde_sde_prior_logp": (_i, [sde_p, _p, _sz, _sz, _p], check_status),
    "scoresde_sde_discretize": (_i, [sde_p, _sz, _p, _p, _sz, _sz, _p, _p], check_status),
    "scoresde_sde_reverse_drift": (_i, [sde_p, _p, _p, _p, _sz, _sz, _d, _p], check_status),
    "scoresde_sde_pf_drift": (_i, [sde_p, _p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_sde_simulate": (_i, [sde_p, _p, _sz, _sz, _d, _d, _u64, _u64, _u64, _u64, _p],
                              check_status),
    # model.h
    "scoresde_model_create_gmm": (_i, [_pp, sde_p, _sz, _sz, _p, _p, _p], check_status),
    "scoresde_model_create_score_fn": (_i, [_pp, sde_p, _sz, SCORE_FN, DIVERGENCE_FN, _vp],
                                       check_status),
    "scoresde_model_create_denoiser_fn": (_i, [_pp, sde_p, _sz, DENOISER_FN, DIVERGENCE_FN,
                                               _vp], check_status),
    "scoresde_model_clone": (_i, [_pp, model_p], check_status),
    "scoresde_model_free": (None, [model_p], check_none),
    "scoresde_model_dim": (_sz, [model_p], check_value),
    "scoresde_model_kind": (_i, [model_p], check_nonneg),
    "scoresde_model_sde": (sde_p, [model_p], check_pointer),
    "scoresde_model_score": (_i, [model_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_model_predict_data": (_i, [model_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_model_predict_noise": (_i, [model_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_model_divergence": (_i, [model_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_model_jvp": (_i, [model_p, _p, _p, _sz, _sz, _p, _p, _p], check_status),
    "scoresde_model_hutchinson": (_i, [model_p, _p, _p, _sz, _sz, _p, _sz, _p], check_status),
    "scoresde_model_log_density": (_i, [model_p, _p, _p, _sz, _sz, _p], check_status),
    "scoresde_model_sample": (_i, [model_p, _p, _sz, _sz, _u64, _u64, _p], check_status),
    "scoresde_model_num_params": (_sz, [model_p], check_value),
    "scoresde_model_get_params": (_i, [model_p, _p, _sz], check_status),
    "scoresde_model_set_params": (_i, [model_p, _p, _sz], check_status),
    "scoresde_model_score_backward": (_i, [model_p, _p, _p, _sz, _sz, _p, _p, _sz],
                                      check_status),
    "scoresde_model_probe_backward": (_i, [model_p, _p, _p, _sz, _sz, _p, _sz, _p, _p, _sz],
                                      check_status),
    # model.h, conditions (1.1)
    "scoresde_model_create_cond_gmm": (_i, [_pp, sde_p, _sz, _sz, _sz, _p, _p, _p, _p],
                                       check_status),
    "scoresde_model_create_linear_gaussian": (_i, [_pp, sde_p, _sz, _sz, _p, _p, _p, _p, _p],
                                              check_status),
    "scoresde_model_create_cond_score_fn": (_i, [_pp, sde_p, _sz, _sz, _i, COND_FN, COND_FN,
                                                 _vp], check_status),
    "scoresde_model_create_cond_denoiser_fn": (_i, [_pp, sde_p, _sz, _sz, _i, COND_FN, COND_FN,
                                                    _vp], check_status),
    "scoresde_model_create_iid": (_i, [_pp, model_p, model_p, _sz, _p, _i, _p, _p],
                                  check_status),
    "scoresde_model_cond_dim": (_sz, [model_p], check_value),
    "scoresde_model_cond_classes": (_sz, [model_p], check_value),
    "scoresde_model_cond_null": (_i, [model_p], check_nonneg),
    "scoresde_model_score_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p], check_status),
    "scoresde_model_predict_data_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p],
                                         check_status),
    "scoresde_model_predict_noise_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p],
                                          check_status),
    "scoresde_model_divergence_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p],
                                       check_status),
    "scoresde_model_jvp_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p, _p, _p],
                                check_status),
    "scoresde_model_hutchinson_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p, _sz, _p],
                                       check_status),
    "scoresde_model_log_density_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p],
                                        check_status),
    "scoresde_model_sample_cond": (_i, [model_p, _p, _sz, _sz, cond_p, _u64, _u64, _p],
                                   check_status),
    "scoresde_model_score_backward_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p, _p,
                                                _sz], check_status),
    "scoresde_model_probe_backward_cond": (_i, [model_p, _p, _p, _sz, _sz, cond_p, _p, _sz,
                                                _p, _p, _sz], check_status),
    # model.h, data transform (1.1, issue 13)
    "scoresde_model_set_transform": (_i, [model_p, _p, _p], check_status),
    "scoresde_model_get_transform": (_i, [model_p, _p, _p], check_status),
    "scoresde_model_has_transform": (_i, [model_p], check_nonneg),
    "scoresde_model_to_data": (_i, [model_p, _p, _sz], check_status),
    "scoresde_model_from_data": (_i, [model_p, _p, _sz], check_status),
    "scoresde_model_transform_log_det": (_i, [model_p, c_double_p], check_status),
    # model_io.h
    "scoresde_model_copy_params": (_i, [model_p, model_p], check_status),
    "scoresde_model_save": (_i, [model_p, ctypes.c_char_p], check_status),
    "scoresde_model_load": (_i, [_pp, ctypes.c_char_p], check_status),
    "scoresde_model_save_buffer": (_i, [model_p, _pp, c_size_p], check_status),
    "scoresde_model_load_buffer": (_i, [_pp, _vp, _sz], check_status),
    "scoresde_model_mlp_options_init": (_i, [ctypes.POINTER(MlpOptions), _sz], check_status),
    "scoresde_model_create_mlp": (_i, [_pp, sde_p, _sz, ctypes.POINTER(MlpOptions)],
                                  check_status),
    "scoresde_model_resmlp_options_init": (_i, [ctypes.POINTER(ResMlpOptions), _sz],
                                           check_status),
    "scoresde_model_create_resmlp": (_i, [_pp, sde_p, _sz, ctypes.POINTER(ResMlpOptions)],
                                     check_status),
    # loss.h
    "scoresde_loss_create": (_i, [_pp, _i], check_status),
    "scoresde_loss_free": (None, [_vp], check_none),
    "scoresde_loss_kind": (_i, [_vp], check_value),
    "scoresde_loss_set_int": (_i, [_vp, _i, ctypes.c_int64], check_status),
    "scoresde_loss_set_double": (_i, [_vp, _i, _d], check_status),
    "scoresde_loss_get_int": (_i, [_vp, _i, ctypes.POINTER(ctypes.c_int64)], check_status),
    "scoresde_loss_get_double": (_i, [_vp, _i, c_double_p], check_status),
    "scoresde_loss_bounds": (_i, [_i, c_double_p, c_double_p, ctypes.POINTER(_i)], check_status),
    "scoresde_loss_default": (_i, [_i, _i, c_double_p], check_status),
    "scoresde_loss_kind_name": (ctypes.c_char_p, [_i], check_name),
    "scoresde_loss_kind_id": (_i, [ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_loss_setting_name": (ctypes.c_char_p, [_i], check_name),
    "scoresde_loss_setting_id": (_i, [ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_loss_value_name": (ctypes.c_char_p, [_i, _i], check_name),
    "scoresde_loss_value_id": (_i, [_i, ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_loss_set_reference": (_i, [_vp, model_p], check_status),
    "scoresde_loss_set_weight_fn": (_i, [_vp, LOSS_WEIGHT_FN, _vp], check_status),
    "scoresde_loss_eval": (_i, [_vp, model_p, _p, _sz, _sz, _u64, _u64, c_double_p, _p, _p,
                                _sz], check_status),
    "scoresde_loss_eval_cond": (_i, [_vp, model_p, _p, _sz, _sz, cond_p, _u64, _u64,
                                     c_double_p, _p, _p, _sz], check_status),
    # train.h
    "scoresde_trainer_create": (_i, [_pp, model_p, _vp], check_status),
    "scoresde_trainer_free": (None, [_vp], check_none),
    "scoresde_trainer_set_double": (_i, [_vp, _i, _d], check_status),
    "scoresde_trainer_set_int": (_i, [_vp, _i, ctypes.c_int64], check_status),
    "scoresde_trainer_get_double": (_i, [_vp, _i, c_double_p], check_status),
    "scoresde_trainer_get_int": (_i, [_vp, _i, ctypes.POINTER(ctypes.c_int64)], check_status),
    "scoresde_trainer_bounds": (_i, [_i, c_double_p, c_double_p, ctypes.POINTER(_i)],
                                check_status),
    "scoresde_trainer_default": (_i, [_i, c_double_p], check_status),
    "scoresde_trainer_setting_name": (ctypes.c_char_p, [_i], check_name),
    "scoresde_trainer_setting_id": (_i, [ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_trainer_num_params": (_sz, [_vp], check_value),
    "scoresde_trainer_steps": (_u64, [_vp], check_value),
    "scoresde_trainer_backward": (_i, [_vp, _p, _sz, _sz, _u64, c_double_p], check_status),
    "scoresde_trainer_get_grad": (_i, [_vp, _p, _sz], check_status),
    "scoresde_trainer_set_grad": (_i, [_vp, _p, _sz], check_status),
    "scoresde_trainer_apply": (_i, [_vp, c_double_p], check_status),
    "scoresde_trainer_step": (_i, [_vp, _p, _sz, _sz, c_double_p], check_status),
    "scoresde_trainer_fit": (_i, [_vp, _p, _sz, _sz, _u64, TRAIN_PROGRESS_FN, _vp],
                             check_status),
    "scoresde_trainer_backward_cond": (_i, [_vp, _p, _sz, _sz, cond_p, _u64, c_double_p],
                                       check_status),
    "scoresde_trainer_step_cond": (_i, [_vp, _p, _sz, _sz, cond_p, c_double_p], check_status),
    "scoresde_trainer_fit_cond": (_i, [_vp, _p, _sz, _sz, cond_p, _u64, TRAIN_PROGRESS_FN, _vp],
                                  check_status),
    "scoresde_trainer_get_ema": (_i, [_vp, _p, _sz], check_status),
    "scoresde_trainer_save_buffer": (_i, [_vp, _pp, c_size_p], check_status),
    "scoresde_trainer_save": (_i, [_vp, ctypes.c_char_p], check_status),
    "scoresde_trainer_load_buffer": (_i, [_vp, _vp, _sz], check_status),
    "scoresde_trainer_load": (_i, [_vp, ctypes.c_char_p], check_status),
    "scoresde_trainer_export": (_i, [_pp, _vp, _i], check_status),
    # sampler.h
    "scoresde_sampler_create": (_i, [_pp, _i], check_status),
    "scoresde_sampler_clone": (_i, [_pp, _vp], check_status),
    "scoresde_sampler_free": (None, [_vp], check_none),
    "scoresde_sampler_method": (_i, [_vp], check_value),
    "scoresde_sampler_set_int": (_i, [_vp, _i, ctypes.c_int64], check_status),
    "scoresde_sampler_set_double": (_i, [_vp, _i, _d], check_status),
    "scoresde_sampler_get_int": (_i, [_vp, _i, ctypes.POINTER(ctypes.c_int64)], check_status),
    "scoresde_sampler_get_double": (_i, [_vp, _i, c_double_p], check_status),
    "scoresde_sampler_bounds": (_i, [_i, c_double_p, c_double_p, ctypes.POINTER(_i)],
                                check_status),
    "scoresde_sampler_default": (_i, [_i, _i, c_double_p], check_status),
    "scoresde_sampler_method_name": (ctypes.c_char_p, [_i], check_name),
    "scoresde_sampler_method_id": (_i, [ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_sampler_setting_name": (ctypes.c_char_p, [_i], check_name),
    "scoresde_sampler_setting_id": (_i, [ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_sampler_value_name": (ctypes.c_char_p, [_i, _i], check_name),
    "scoresde_sampler_value_id": (_i, [_i, ctypes.c_char_p, ctypes.POINTER(_i)], check_status),
    "scoresde_sampler_setting_applies": (_i, [_i, _i, ctypes.POINTER(_i)], check_status),
    "scoresde_sampler_set_grid": (_i, [_vp, _p, _sz], check_status),
    "scoresde_sampler_set_guidance": (_i, [_vp, GUIDANCE_FN, _vp, _d], check_status),
    "scoresde_sampler_set_progress": (_i, [_vp, SAMPLER_PROGRESS_FN, _vp], check_status),
    "scoresde_sampler_set_support": (_i, [_vp, SUPPORT_FN, _vp], check_status),
    "scoresde_sampler_times": (_i, [_vp, sde_p, _p, _sz], check_status),
    "scoresde_sampler_sample": (_i, [_vp, model_p, _p, _sz, _sz, _u64, _u64, _p,
                                     ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_inpaint": (_i, [_vp, model_p, _p, _vp, _sz, _sz, _u64, _u64, _p,
                                      ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_encode": (_i, [_vp, model_p, _p, _sz, _sz, _p,
                                     ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_langevin": (_i, [_vp, SCORE_FN, _vp, _p, _sz, _sz, _u64, _u64, _p,
                                       ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_likelihood": (_i, [_vp, model_p, _p, _sz, _sz, _u64, _u64, _p, _p,
                                         ctypes.POINTER(SamplerStats)], check_status),
    # sampler.h, conditions (1.1)
    "scoresde_sampler_sample_cond": (_i, [_vp, model_p, _p, _sz, _sz, cond_p, _u64, _u64, _p,
                                          ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_inpaint_cond": (_i, [_vp, model_p, _p, _vp, _sz, _sz, cond_p, _u64, _u64,
                                           _p, ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_encode_cond": (_i, [_vp, model_p, _p, _sz, _sz, cond_p, _p,
                                          ctypes.POINTER(SamplerStats)], check_status),
    "scoresde_sampler_likelihood_cond": (_i, [_vp, model_p, _p, _sz, _sz, cond_p, _u64, _u64,
                                              _p, _p, ctypes.POINTER(SamplerStats)],
                                         check_status),
    "scoresde_bits_per_dim": (_i, [_p, _sz, _sz, ctypes.c_uint, _d, _p], check_status),
    "scoresde_sampler_bound": (_i, [_vp, model_p, _p, _sz, _sz, _u64, _u64, _p, _p, _p],
                               check_status),
    "scoresde_sampler_report": (_i, [_vp, model_p, _i, _p, _sz, _sz, _u64, _u64, _p, _sz,
                                     ctypes.POINTER(SamplerStats)], check_status),
}


def _candidates():
    """Where to look, in order: the file named by SCORESDE_LIBRARY (only that
    one, so a wrong path is an error, not a silent fallback); a copy next to
    this package (a bundled wheel); the system loader's libscoresde.so.1."""
    path = os.environ.get(ENV_LIBRARY)
    if path:
        return [(ENV_LIBRARY, path)]
    found = [("next to the package", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   SONAME)),
             ("the system loader", SONAME)]
    other = ctypes.util.find_library("scoresde")
    if other and other != SONAME:
        found.append(("the system loader", other))
    return found


def version_problem(have):
    """None if a library reporting version number `have` is usable, else why not."""
    if have // 10000 != MIN_VERSION // 10000 or have < MIN_VERSION:
        return ("libscoresde %d.%d.%d; this binding needs %d.%d.%d or a later %d.x "
                "release" % (have // 10000, have // 100 % 100, have % 100,
                             MIN_VERSION // 10000, MIN_VERSION // 100 % 100,
                             MIN_VERSION % 100, MIN_VERSION // 10000))
    return None


def _load():
    errors = []
    handle = None
    for where, name in _candidates():
        if where == "next to the package" and not os.path.exists(name):
            errors.append("%s: no %s" % (where, name))
            continue
        try:
            handle = ctypes.CDLL(name)
            break
        except OSError as exc:
            errors.append("%s: %s" % (where, exc))
    if handle is None:
        raise LibraryVersionError(
            "cannot load libscoresde (tried %s); install it (Debian: libscoresde1) or set "
            "%s to the path of libscoresde.so.1, e.g. a build tree's lib/libscoresde.so.1"
            % ("; ".join(errors), ENV_LIBRARY))
    try:
        vnum = handle.scoresde_version_number
    except AttributeError:
        raise LibraryVersionError("%s is not libscoresde (no scoresde_version_number)"
                                  % handle._name) from None
    vnum.restype = ctypes.c_uint
    vnum.argtypes = []
    problem = version_problem(vnum())
    if problem:
        raise LibraryVersionError("%s is %s" % (handle._name, problem))
    missing = []
    for name, (restype, argtypes, errcheck) in _FUNCTIONS.items():
        try:
            fn = getattr(handle, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
        fn.errcheck = errcheck
    if missing:
        raise LibraryVersionError("%s lacks %s: it is older than this binding"
                                  % (handle._name, ", ".join(missing)))
    return handle


lib = _load()
