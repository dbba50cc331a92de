/*
 * The checkpoint fuzz target's trainer (fuzz_ckpt.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <string.h>

#include "fuzz_ckpt.h"

const double fuzz_ckpt_batch[FUZZ_CKPT_BATCH * FUZZ_CKPT_D] = {0.5, -1.0, 1.5, 0.25,
                                                                -0.75, 0.0, 2.0, -2.0};

int fuzz_ckpt_open(fuzz_ckpt_rig *r)
{
    memset(r, 0, sizeof *r);
    const size_t widths[2] = {8, 8};
    scoresde_mlp_options o;
    int rc = scoresde_sde_create_default(&r->sde, SCORESDE_SDE_VP);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_mlp_options_init(&o, sizeof o);
    if (rc == SCORESDE_OK) {
        o.n_hidden = 2;
        o.widths = widths;
        o.output = SCORESDE_MLP_OUTPUT_NOISE;
        o.embed_dim = 4;
        o.seed = 5;
        rc = scoresde_model_create_mlp(&r->model, r->sde, FUZZ_CKPT_D, &o);
    }
    if (rc == SCORESDE_OK)
        rc = scoresde_loss_create(&r->loss, SCORESDE_LOSS_DSM);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_create(&r->trainer, r->model, r->loss);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r->trainer, SCORESDE_TRAIN_BATCH, FUZZ_CKPT_BATCH);
    if (rc != SCORESDE_OK)
        fuzz_ckpt_close(r);
    return rc;
}

void fuzz_ckpt_close(fuzz_ckpt_rig *r)
{
    scoresde_trainer_free(r->trainer);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->model);
    scoresde_sde_free(r->sde);
    memset(r, 0, sizeof *r);
}
