/*
 * The loss module's private side: the configuration struct, and its
 * serialisation for training checkpoints (lib/train).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_LOSS_INTERNAL_H
#define SD_LOSS_INTERNAL_H

#include "io.h"
#include "model_internal.h"
#include "scoresde/loss.h"

struct scoresde_loss {
    int kind;
    int time_mode;
    int weighting;
    int reduction;
    int probe;
    size_t M;
    size_t N;
    double eps;
    double fixed_time;
    double p_mean, p_std;
    double sigma_data;
    const scoresde_model *reference;
    scoresde_loss_weight_fn weight_fn;
    void *weight_user;
};

/* A workspace kept between evaluations (the trainer's), so that a training
 * step allocates nothing once the batch size has been seen. Zero-initialise;
 * free with sd_loss_buf_free. One evaluation at a time per buffer. */
typedef struct sd_loss_buf {
    double *block;
    size_t bytes;
} sd_loss_buf;

/* scoresde_loss_eval_cond with a resolved condition (sd_cond_resolve; NULL
 * for an unconditional model) and the workspace taken from buf, grown
 * (reallocated) only when this call needs more than it holds; buf NULL:
 * allocate and free per call, as scoresde_loss_eval does. Same results and
 * errors. */
int sd_loss_eval_buf(const scoresde_loss *loss, const scoresde_model *model, const double *x0,
                     size_t n, size_t D, const sd_cond *cond, uint64_t seed,
                     uint64_t first_sample, double *value, double *per_sample, double *grad,
                     size_t count, sd_loss_buf *buf);

/* Frees the buffer's block (NULL accepted) and zeroes it. */
void sd_loss_buf_free(sd_loss_buf *buf);

/* Append every setting (not the borrowed reference or hook) to w; returns
 * the writer's status. */
int sd_loss_write_config(const scoresde_loss *l, sd_writer *w);

/* Read what sd_loss_write_config wrote and compare it with l:
 * SCORESDE_EINVAL naming the first setting that differs, SCORESDE_ECORRUPT
 * if the bytes run out. Floating settings compare bit for bit. */
int sd_loss_check_config(const scoresde_loss *l, sd_reader *r);

#endif /* SD_LOSS_INTERNAL_H */
