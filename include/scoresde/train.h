/*
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
 * Thread safety: a trainer belongs to one thread at a time.
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

/** Double settings (values frozen). */
enum {
    SCORESDE_TRAIN_LR = 1,           /**< learning rate, finite, in (0, 10] */
    SCORESDE_TRAIN_BETA1 = 2,        /**< in [0, 1) */
    SCORESDE_TRAIN_BETA2 = 3,        /**< in [0, 1) */
    SCORESDE_TRAIN_EPS = 4,          /**< finite, > 0 */
    SCORESDE_TRAIN_WEIGHT_DECAY = 5, /**< finite, >= 0 */
    SCORESDE_TRAIN_CLIP = 6,         /**< finite, >= 0; 0 turns clipping off */
    SCORESDE_TRAIN_EMA_RATE = 7      /**< in [0, 1] */
};

/** Integer settings (values frozen). */
enum {
    SCORESDE_TRAIN_WARMUP = 101, /**< warm-up steps, >= 0 */
    SCORESDE_TRAIN_BATCH = 102,  /**< fit's minibatch size, >= 1 */
    SCORESDE_TRAIN_SEED = 103    /**< seed of minibatches and losses, any value: the int64
                                      value v is converted to the uint64_t seed v mod 2^64
                                      (so -1 is 2^64 - 1), reaching every seed */
};

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
 * kind) or SCORESDE_ENOMEM. Free with scoresde_trainer_free.
 */
SCORESDE_API int scoresde_trainer_create(scoresde_trainer **out, scoresde_model *model,
                                         const scoresde_loss *loss);

/** Free a trainer (not its model or loss). NULL is accepted. */
SCORESDE_API void scoresde_trainer_free(scoresde_trainer *trainer);

/** Set a double setting; SCORESDE_EINVAL names an out-of-range value. */
SCORESDE_API int scoresde_trainer_set_double(scoresde_trainer *trainer, int setting,
                                             double value);

/** Set an integer setting; SCORESDE_EINVAL names an out-of-range value. */
SCORESDE_API int scoresde_trainer_set_int(scoresde_trainer *trainer, int setting,
                                          int64_t value);

/** The number of parameters (the length of every flat array), 0 for NULL. */
SCORESDE_API size_t scoresde_trainer_num_params(const scoresde_trainer *trainer);

/** The number of applied steps (0 for NULL). */
SCORESDE_API uint64_t scoresde_trainer_steps(const scoresde_trainer *trainer);

/**
 * The loss and its parameter gradient on the batch x0 (n x D) at the current
 * parameters, the gradient overwriting the trainer's buffer; the loss draws
 * under SEED with the given first_sample (data-parallel callers give each
 * process its rows' global indices, so the shards' gradients average to the
 * full batch's). *loss (may be NULL) receives the batch loss.
 * The loss's workspace is kept in the trainer between calls (grown only
 * when a batch needs more), so repeated steps of one batch size allocate
 * nothing in the loss. Errors: those of scoresde_loss_eval. Does not
 * advance any counter.
 */
SCORESDE_API int scoresde_trainer_backward(scoresde_trainer *trainer, const double *x0, size_t n,
                                           size_t D, uint64_t first_sample, double *loss);

/** Copy the gradient buffer into grad (count = the number of parameters; EDIM otherwise). */
SCORESDE_API int scoresde_trainer_get_grad(const scoresde_trainer *trainer, double *grad,
                                           size_t count);

/** Replace the gradient buffer (count values; EINVAL if one is not finite). */
SCORESDE_API int scoresde_trainer_set_grad(scoresde_trainer *trainer, const double *grad,
                                           size_t count);

/**
 * Apply one optimiser step with the gradient buffer (see the top of this
 * header) and update the EMA. *grad_norm (may be NULL) receives the norm
 * before clipping. Returns SCORESDE_OK, SCORESDE_EINVAL (NULL trainer) or
 * SCORESDE_ENUMERIC (a non-finite gradient: nothing is changed).
 */
SCORESDE_API int scoresde_trainer_apply(scoresde_trainer *trainer, double *grad_norm);

/**
 * backward with first_sample = the samples consumed so far, then apply; the
 * sample count advances by n. *loss (may be NULL) receives the batch loss.
 * Errors: those of backward and apply (on an error nothing advances).
 */
SCORESDE_API int scoresde_trainer_step(scoresde_trainer *trainer, const double *x0, size_t n,
                                       size_t D, double *loss);

/**
 * Run `steps` steps on minibatches of BATCH rows drawn from data (m x D, all
 * finite: EINVAL names the first bad row), calling progress (may be NULL)
 * after each. Returns SCORESDE_OK, SCORESDE_ECALLBACK (the hook stopped the
 * run; the steps done are kept) or the errors of step. Allocates one batch
 * buffer per call.
 */
SCORESDE_API int scoresde_trainer_fit(scoresde_trainer *trainer, const double *data, size_t m,
                                      size_t D, uint64_t steps, scoresde_train_progress_fn progress,
                                      void *user);

/** Copy the EMA parameters into theta (count values; EDIM otherwise). */
SCORESDE_API int scoresde_trainer_get_ema(const scoresde_trainer *trainer, double *theta,
                                          size_t count);

/* ------------------------------------------------------------ checkpoints
 * A checkpoint is a container file (docs/file-format.md, file type 2) with
 * the whole training state: the sections TRNR (parameter count, step and
 * sample counters, which are the generator's position, every trainer setting
 * and the loss's configuration) and OPTM (the double master parameters,
 * Adam's two moments and the EMA). It does not hold the network's
 * architecture: resume by creating the same model (same kind, SDE and
 * options) and an identically configured loss, a trainer on them, and
 * loading the checkpoint into it; training then continues bit-identically to
 * a run that was never interrupted. */

/**
 * Serialise the training state into a new buffer (*data, *size). The buffer comes from the
 * library's allocator: release it with scoresde_buffer_free (common.h), not free(). Returns
 * SCORESDE_OK, SCORESDE_EINVAL or SCORESDE_ENOMEM.
 */
SCORESDE_API int scoresde_trainer_save_buffer(const scoresde_trainer *trainer, void **data,
                                              size_t *size);

/**
 * Save the training state to `path` atomically (temporary file in the same
 * directory, fsync, rename): a crash or failure leaves the previous file at
 * `path` intact. Returns SCORESDE_OK, SCORESDE_EINVAL, SCORESDE_ENOMEM or
 * SCORESDE_EIO (naming the path and the failed step).
 */
SCORESDE_API int scoresde_trainer_save(const scoresde_trainer *trainer, const char *path);

/**
 * Restore a training state from a buffer into `trainer`, whose model must have
 * the checkpoint's parameter count (SCORESDE_EDIM) and whose loss the same
 * configuration (SCORESDE_EINVAL naming the first difference). The whole file
 * is validated before anything changes: on any failure the trainer is
 * untouched. SCORESDE_ECORRUPT for a damaged, truncated or inconsistent file
 * (non-finite state, settings out of range), SCORESDE_EVERSION for a newer
 * format, SCORESDE_EINVAL for a model file. On success the model's parameters
 * are the checkpoint's.
 */
SCORESDE_API int scoresde_trainer_load_buffer(scoresde_trainer *trainer, const void *data,
                                              size_t size);

/** scoresde_trainer_load_buffer from a file (SCORESDE_EIO if it cannot be read). */
SCORESDE_API int scoresde_trainer_load(scoresde_trainer *trainer, const char *path);

/** Which parameters scoresde_trainer_export takes (values frozen). */
enum {
    SCORESDE_TRAIN_EXPORT_EMA = 0,
    SCORESDE_TRAIN_EXPORT_RAW = 1
};

/**
 * A new model for sampling: a clone of the trainer's model carrying the EMA
 * (SCORESDE_TRAIN_EXPORT_EMA) or the current (RAW) parameters. The caller owns
 * it (scoresde_model_free) and may save it with scoresde_model_save where its
 * kind supports model files. Returns SCORESDE_OK, SCORESDE_EINVAL or
 * SCORESDE_ENOMEM.
 */
SCORESDE_API int scoresde_trainer_export(const scoresde_trainer *trainer, int which,
                                         scoresde_model **out);

#ifdef __cplusplus
}
#endif

#endif /* SCORESDE_TRAIN_H */
