/*
 * The loss module's private side: the configuration struct, and its
 * serialisation for training checkpoints (lib/train).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_LOSS_INTERNAL_H
#define SD_LOSS_INTERNAL_H

#include "io.h"
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

/* Append every setting (not the borrowed reference or hook) to w; returns
 * the writer's status. */
int sd_loss_write_config(const scoresde_loss *l, sd_writer *w);

/* Read what sd_loss_write_config wrote and compare it with l:
 * SCORESDE_EINVAL naming the first setting that differs, SCORESDE_ECORRUPT
 * if the bytes run out. Floating settings compare bit for bit. */
int sd_loss_check_config(const scoresde_loss *l, sd_reader *r);

#endif /* SD_LOSS_INTERNAL_H */
