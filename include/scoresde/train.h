/**
 * @file
 * libscoresde: training (Adam with warm-up and gradient clipping, an EMA of
 * the parameters, and a trainer that binds them to a model and a loss).
 *
 * A scoresde_trainer borrows a trainable model (SCORESDE_MODEL_MLP) and a
 * loss: both must outlive it, the trainer writes the model's parameters, and
 * nothing else may use the model while a trainer call runs. It owns the flat
 * gradient, Adam's moments, the EMA copy of the parameters and the counters.
 *
 * One optimisation step is two calls, so a caller can work on the gradient in
 * between (e.g. average it across processes with MPI):
 *   scoresde_trainer_backward   loss and gradient of a batch into the trainer's
 *                               gradient buffer (overwritten, not added);
 *   scoresde_trainer_get_grad / set_grad   read or replace that buffer;
 *   scoresde_trainer_apply      clip, warm-up, Adam(W) update, EMA update.
 * scoresde_trainer_step does both on a caller's batch; scoresde_trainer_fit
 * runs many steps on minibatches drawn from a caller's dataset.
 *
 * The update of step n (n = 1, 2, ...: the number of applied steps including
 * this one), with gradient g (the buffer), parameters p, settings below:
 *   clip:     if CLIP > 0 and ||g||_2 > CLIP, g <- g CLIP / ||g||_2 (in the
 *             buffer, so get_grad afterwards shows the clipped gradient);
 *   lr_n   =  LR min(1, n / WARMUP) (WARMUP = 0: no warm-up). score_sde uses
 *             the step count before the increment, so its first step has lr 0;
 *             here the first step moves;
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
 *   p <- p - lr_n WEIGHT_DECAY p - lr_n (m / (1 - b1^n)) / (sqrt(v / (1 - b2^n)) + EPS)
 *             (decoupled weight decay, Loshchilov & Hutter; AdamW's order:
 *             decay uses the parameters before the step);
 *   EMA:      d = min(EMA_RATE, (1 + n) / (10 + n)),  e <- d e + (1 - d) p
 *             (score_sde's warm-up rule with its post-increment count; the
 *             EMA starts as the parameters at creation).
 * Defaults are score_sde's: LR 2e-4, BETA1 0.9, BETA2 0.999, EPS 1e-8,
 * WEIGHT_DECAY 0, WARMUP 5000, CLIP 1, EMA_RATE 0.9999; BATCH 128 and SEED 0
 * for fit.
 *
 * Randomness: step k of fit (k = the trainer's step count before it, from 0)
 * draws its minibatch from Philox stream k under SEED: row b of the batch is
 * data row floor(u_b m) (at most m - 1), u_b = uniform element
 * SCORESDE_RNG_OFFSET(SCORESDE_RNG_BATCH, b) (with replacement). The losses of
 * scoresde_trainer_step and fit draw under SEED with first_sample = the
 * trainer's count of samples consumed so far (then advanced by the batch
 * size), so every sample of a run has its own stream (see scoresde/loss.h).
 *
 * Thread safety: the calls that change a trainer (its setters, backward,
 * set_grad, apply, step, fit, load, load_buffer, free) must not run
 * concurrently with any other call on that trainer, its model or its loss;
 * the calls that only read it (the getters, bounds/default, num_params,
 * steps, get_grad, get_ema, save, save_buffer, export) may run concurrently
 * with each other. Distinct trainers on distinct models are independent.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SCORESDE_TRAIN_H
#define SCORESDE_TRAIN_H

#include "common.h"
#include "loss.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque trainer. */
typedef struct scoresde_trainer scoresde_trainer;

/**
 * Settings (ids frozen), double (scoresde_trainer_set_double / get_double)
 * or integer (scoresde_trainer_set_int / get_int): the functions of the
 * other type refuse an id. Each entry gives the type, the inclusive bounds
 * (scoresde_trainer_bounds) and the default (scoresde_trainer_default).
 */
typedef enum scoresde_train_setting_t {
    /** double, learning rate in (0, 10] (bounds [DBL_TRUE_MIN, 10]); default 2e-4 */
    SCORESDE_TRAIN_LR = 1,
    /** double, Adam's beta1 in [0, 1) (bounds [0, 1 - 2^-53]); default 0.9 */
    SCORESDE_TRAIN_BETA1 = 2,
    /** double, Adam's beta2 in [0, 1) (bounds as BETA1); default 0.999 */
    SCORESDE_TRAIN_BETA2 = 3,
    /** double, Adam's eps, finite and > 0 (bounds [DBL_TRUE_MIN, DBL_MAX]); default 1e-8 */
    SCORESDE_TRAIN_EPS = 4,
    /** double, decoupled weight decay, finite and >= 0 (bounds [0, DBL_MAX]); default 0 */
    SCORESDE_TRAIN_WEIGHT_DECAY = 5,
    /** double, gradient norm clip, finite and >= 0, 0 turns clipping off
     *  (bounds [0, DBL_MAX]); default 1 */
    SCORESDE_TRAIN_CLIP = 6,
    /** double, EMA rate in [0, 1]; default 0.9999 */
    SCORESDE_TRAIN_EMA_RATE = 7,
    /** int, warm-up steps in [0, 2^62], 0: none; default 5000 */
    SCORESDE_TRAIN_WARMUP = 8,
    /** int, fit's minibatch size in [1, 2^40] (SIZE_MAX / 64 if smaller); default 128 */
    SCORESDE_TRAIN_BATCH = 9,
    /** int, seed of minibatches and losses, any int64 value (bounds [INT64_MIN,
     *  INT64_MAX], as doubles rounded): v is the uint64_t seed v mod 2^64 (so -1
     *  is 2^64 - 1), reaching every seed; get_int returns the int64 with the
     *  seed's bits; default 0 */
    SCORESDE_TRAIN_SEED = 10,
    /** double in [0, 1), default 0 (1.1): the probability that a training
     *  sample of a conditional model takes the null condition instead of
     *  its own (classifier-free guidance's condition dropout). Sample j of
     *  the run (the loss's first_sample + i) is dropped when uniform element
     *  SCORESDE_RNG_OFFSET(SCORESDE_RNG_COND_DROP, 0) of Philox stream j
     *  under SEED is below it, so dropping is bit-reproducible and does not
     *  depend on how a run is split. Needs a model that accepts the null
     *  condition when a condition is given (EINVAL otherwise); no effect on
     *  an unconditional model. Stored in checkpoints. */
    SCORESDE_TRAIN_COND_DROPOUT = 11
} scoresde_train_setting_t;

/**
 * Progress of fit after each step: the trainer's step count after it, the
 * step's batch loss and an exponential moving average of the losses (rate
 * 0.99, started at the first loss of the fit call). Return 0 to go on,
 * non-zero to stop: fit then returns SCORESDE_ECALLBACK after keeping that step.
 */
typedef int (*scoresde_train_progress_fn)(uint64_t step, double loss, double ema_loss, void *user);

/**
 * Create a trainer for `model` (trainable, borrowed, its parameters updated in
 * place) and `loss` (borrowed). The EMA starts as a copy of the parameters.
 * Returns SCORESDE_OK, SCORESDE_EINVAL (NULL argument; *out NULL),
 * SCORESDE_EUNSUPPORTED (the model has no trainable parameters, naming its
 * kind) or SCORESDE_ENOMEM. Free with scoresde_trainer_free. Thread-safe
 * (it reads the model's parameters: nothing may write them meanwhile).
 */
SCORESDE_API int scoresde_trainer_create(scoresde_trainer **out, scoresde_model *model,
                                         const scoresde_loss *loss);

/** Free a trainer (not its model or loss). NULL is accepted. Not thread-safe on the trainer. */
SCORESDE_API void scoresde_trainer_free(scoresde_trainer *trainer);

/**
 * Set a double setting (scoresde_train_setting_t) to a value within its
 * bounds; it applies from the next step. Returns SCORESDE_OK or
 * SCORESDE_EINVAL (trainer NULL; an unknown id or an integer setting's id; a
 * value out of bounds, infinities and NaN included; the message names the
 * setting and the value); on failure nothing changes. Not thread-safe on
 * the same trainer.
 */
SCORESDE_API int scoresde_trainer_set_double(scoresde_trainer *trainer, int setting,
                                             double value);

/**
 * Set an integer setting (scoresde_train_setting_t) to a value within its
 * bounds. Returns SCORESDE_OK or SCORESDE_EINVAL (trainer NULL; an unknown
 * id or a double setting's id; a value out of bounds, naming both); on
 * failure nothing changes. Not thread-safe on the same trainer.
 */
SCORESDE_API int scoresde_trainer_set_int(scoresde_trainer *trainer, int setting,
                                          int64_t value);

/**
 * Read a double setting into *value. Returns SCORESDE_OK or SCORESDE_EINVAL
 * (trainer or value NULL; an unknown id or an integer setting's id).
 * Thread-safe against other readers of the trainer, not against its writers.
 */
SCORESDE_API int scoresde_trainer_get_double(const scoresde_trainer *trainer, int setting,
                                             double *value);

/**
 * Read an integer setting into *value. Returns SCORESDE_OK or SCORESDE_EINVAL
 * (trainer or value NULL; an unknown id or a double setting's id).
 * Thread-safe as scoresde_trainer_get_double.
 */
SCORESDE_API int scoresde_trainer_get_int(const scoresde_trainer *trainer, int setting,
                                          int64_t *value);

/**
 * The inclusive bounds of a setting, as doubles for either type, and whether
 * it is an integer setting (*is_int 1 or 0); any output may be NULL.
 * Returns SCORESDE_OK or SCORESDE_EINVAL (unknown id). Thread-safe.
 */
SCORESDE_API int scoresde_trainer_bounds(int setting, double *lower, double *upper, int *is_int);

/**
 * The value (as a double) a new trainer starts with for `setting` (listed in
 * scoresde_train_setting_t). Returns SCORESDE_OK or SCORESDE_EINVAL (value
 * NULL or unknown id). Thread-safe.
 */
SCORESDE_API int scoresde_trainer_default(int setting, double *value);

/**
 * The public name of a setting (1.1; the form of scoresde/common.h's Names:
 * "weight_decay" for SCORESDE_TRAIN_WEIGHT_DECAY), static storage; NULL for
 * an unknown id, without recording an error. Ids run from 1 with no gaps.
 * Thread-safe.
 */
SCORESDE_API const char *scoresde_trainer_setting_name(int setting);

/**
 * The id of the setting named `name` into *setting (1.1). SCORESDE_EINVAL
 * for a NULL name or setting, or a name that is not a trainer setting's.
 * Thread-safe.
 */
SCORESDE_API int scoresde_trainer_setting_id(const char *name, int *setting);

/**
 * The number of parameters (the length of every flat array: gradient, EMA),
 * or 0 for NULL. Never fails. Thread-safe against other readers of the
 * trainer.
 */
SCORESDE_API size_t scoresde_trainer_num_params(const scoresde_trainer *trainer);

/**
 * The number of optimiser steps applied (by apply, step, fit, or restored by
 * a checkpoint), or 0 for NULL. Never fails. Thread-safe against other
 * readers of the trainer.
 */
SCORESDE_API uint64_t scoresde_trainer_steps(const scoresde_trainer *trainer);

/**
 * The loss and its parameter gradient on the batch x0 (n x D) at the current
 * parameters, the gradient overwriting the trainer's buffer; the loss draws
 * under SEED with the given first_sample (data-parallel callers give each
 * process its rows' global indices, so the shards' gradients average to the
 * full batch's). *loss (may be NULL) receives the batch loss.
 * The loss's workspace is kept in the trainer between calls (grown only
 * when a batch needs more), so repeated steps of one batch size allocate
 * nothing in the loss. Errors: SCORESDE_EINVAL (trainer NULL) and those
 * of scoresde_loss_eval. Does not advance any counter. Not thread-safe on
 * the trainer.
 */
SCORESDE_API int scoresde_trainer_backward(scoresde_trainer *trainer, const double *x0, size_t n,
                                           size_t D, uint64_t first_sample, double *loss);

/**
 * Copy the gradient buffer (the last backward's gradient, clipped by a
 * following apply, or what set_grad put there; zeros before any backward)
 * into grad, count values. Returns SCORESDE_OK, SCORESDE_EINVAL (trainer or
 * grad NULL) or SCORESDE_EDIM (count differs from the parameter count).
 * Thread-safe against other readers of the trainer.
 */
SCORESDE_API int scoresde_trainer_get_grad(const scoresde_trainer *trainer, double *grad,
                                           size_t count);

/**
 * Replace the gradient buffer with grad (count values, copied), e.g. an
 * average across processes, for the next apply. Returns SCORESDE_OK,
 * SCORESDE_EINVAL (trainer or grad NULL, or a non-finite value, naming its
 * index; the buffer is then unchanged) or SCORESDE_EDIM (count differs from
 * the parameter count). Not thread-safe on the same trainer.
 */
SCORESDE_API int scoresde_trainer_set_grad(scoresde_trainer *trainer, const double *grad,
                                           size_t count);

/**
 * Apply one optimiser step with the gradient buffer (see the top of this
 * header) and update the EMA. *grad_norm (may be NULL) receives the norm
 * before clipping. Returns SCORESDE_OK, SCORESDE_EINVAL (NULL trainer) or
 * SCORESDE_ENUMERIC (a non-finite gradient, or a finite one whose update of
 * a moment, parameter or EMA value is not finite, or for a float32 MLP a
 * parameter or EMA value beyond float32's range, naming the first such
 * parameter: nothing is changed, the step count included).
 * Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_apply(scoresde_trainer *trainer, double *grad_norm);

/**
 * backward with first_sample = the samples consumed so far, then apply; the
 * sample count advances by n. *loss (may be NULL) receives the batch loss.
 * Errors: those of backward and apply (on an error nothing advances).
 * Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_step(scoresde_trainer *trainer, const double *x0, size_t n,
                                       size_t D, double *loss);

/**
 * Run `steps` steps on minibatches of BATCH rows drawn from data (m x D, all
 * finite: EINVAL names the first bad row), calling progress (may be NULL)
 * after each. Returns SCORESDE_OK, SCORESDE_ECALLBACK (the hook stopped the
 * run; the steps done are kept) or the errors of step. Allocates one batch
 * buffer per call. Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_fit(scoresde_trainer *trainer, const double *data, size_t m,
                                      size_t D, uint64_t steps, scoresde_train_progress_fn progress,
                                      void *user);

/**
 * Conditional training (1.1; scoresde/common.h's conventions list):
 * scoresde_trainer_backward, _step and _fit with the conditions of the batch
 * (or, for fit, of the dataset: cond->rows = m, one row per data row, or 1
 * for all; null_mask with m entries). fit draws row r of the data with row r
 * of the conditions (and its mask entry), with the same rows as
 * scoresde_trainer_fit draws. COND_DROPOUT then replaces conditions by the
 * null condition (see the setting). cond NULL is the 1.0 call. Errors: those
 * of the 1.0 twin, of the condition (checked once per call; fit checks the m
 * rows once), and COND_DROPOUT > 0 with a model that does not accept the
 * null condition (SCORESDE_EINVAL). Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_backward_cond(scoresde_trainer *trainer, const double *x0,
                                                size_t n, size_t D, const scoresde_cond *cond,
                                                uint64_t first_sample, double *loss);

/** scoresde_trainer_step with conditions (see scoresde_trainer_backward_cond). */
SCORESDE_API int scoresde_trainer_step_cond(scoresde_trainer *trainer, const double *x0,
                                            size_t n, size_t D, const scoresde_cond *cond,
                                            double *loss);

/** scoresde_trainer_fit with the dataset's conditions (see scoresde_trainer_backward_cond). */
SCORESDE_API int scoresde_trainer_fit_cond(scoresde_trainer *trainer, const double *data,
                                           size_t m, size_t D, const scoresde_cond *cond,
                                           uint64_t steps, scoresde_train_progress_fn progress,
                                           void *user);

/**
 * Copy the EMA of the parameters into theta (count values). Returns
 * SCORESDE_OK, SCORESDE_EINVAL (trainer or theta NULL) or SCORESDE_EDIM
 * (count differs from the parameter count). Thread-safe against other
 * readers of the trainer.
 */
SCORESDE_API int scoresde_trainer_get_ema(const scoresde_trainer *trainer, double *theta,
                                          size_t count);

/* ------------------------------------------------------------ checkpoints
 * A checkpoint is a container file (docs/file-format.md, file type 2) with
 * the whole training state: the sections TRNR (parameter count, step and
 * sample counters, which are the generator's position, every trainer setting
 * and the loss's configuration) and OPTM (the double master parameters,
 * Adam's two moments and the EMA), and XFRM when the trainer's model has a
 * data transform (scoresde/model.h). It does not hold the network's
 * architecture: resume by creating the same model (same kind, SDE and
 * options) and an identically configured loss, a trainer on them, and
 * loading the checkpoint into it; training then continues bit-identically to
 * a run that was never interrupted. */

/**
 * Serialise the training state into a new buffer (*data, *size). The buffer comes from the
 * library's allocator: release it with scoresde_buffer_free (common.h), not free(). Returns
 * SCORESDE_OK, SCORESDE_EINVAL (a NULL argument) or SCORESDE_ENOMEM.
 * Thread-safe against other readers of the trainer.
 */
SCORESDE_API int scoresde_trainer_save_buffer(const scoresde_trainer *trainer, void **data,
                                              size_t *size);

/**
 * Save the training state to `path` atomically (temporary file in the same
 * directory, fsync, rename): a crash or failure leaves the previous file at
 * `path` intact. Returns SCORESDE_OK, SCORESDE_EINVAL, SCORESDE_ENOMEM or
 * SCORESDE_EIO (naming the path and the failed step). Thread-safe against
 * other readers of the trainer (two saves to one path race on the file).
 */
SCORESDE_API int scoresde_trainer_save(const scoresde_trainer *trainer, const char *path);

/**
 * Restore a training state from a buffer into `trainer`, whose model must have
 * the checkpoint's parameter count (SCORESDE_EDIM) and whose loss the same
 * configuration (SCORESDE_EINVAL naming the first difference). The whole file
 * is validated before anything changes: on any failure the trainer is
 * untouched. SCORESDE_ECORRUPT for a damaged, truncated or inconsistent file
 * (non-finite state, settings out of range, or a state from which a step
 * would not be finite: "cannot step"), SCORESDE_EVERSION for a newer
 * format, SCORESDE_EINVAL for a model file. On success the model's parameters
 * and its data transform are the checkpoint's (a checkpoint saved from a
 * model without a transform, which every 1.0 checkpoint is, clears the
 * model's). SCORESDE_ENOMEM if the state cannot be staged.
 * Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_load_buffer(scoresde_trainer *trainer, const void *data,
                                              size_t size);

/**
 * scoresde_trainer_load_buffer from a file: its errors, and SCORESDE_EIO if
 * the file cannot be read or is not a regular file (a pipe or device is
 * refused without waiting on it). Not thread-safe on the trainer.
 */
SCORESDE_API int scoresde_trainer_load(scoresde_trainer *trainer, const char *path);

/** Which parameters scoresde_trainer_export takes (values frozen). */
typedef enum scoresde_train_export_t {
    SCORESDE_TRAIN_EXPORT_EMA = 0,
    SCORESDE_TRAIN_EXPORT_RAW = 1
} scoresde_train_export_t;

/**
 * A new model for sampling into *out: a clone of the trainer's model carrying
 * the EMA (SCORESDE_TRAIN_EXPORT_EMA) or the current (RAW) parameters. The
 * caller owns it (scoresde_model_free) and may save it with
 * scoresde_model_save where its kind supports model files. Returns
 * SCORESDE_OK, SCORESDE_EINVAL (out or trainer NULL, `which` not a
 * scoresde_train_export_t; *out is set to NULL when out is not NULL) or
 * SCORESDE_ENOMEM. Thread-safe against other readers of the trainer.
 */
SCORESDE_API int scoresde_trainer_export(scoresde_model **out, const scoresde_trainer *trainer,
                                         int which);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_TRAIN_H */
