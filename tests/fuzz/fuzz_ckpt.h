/*
 * The trainer every checkpoint fuzz input is loaded into, shared by the fuzz
 * target and the corpus generator so that generated checkpoints fit it.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_FUZZ_CKPT_H
#define SD_FUZZ_CKPT_H

#include "scoresde.h"

/* A VP SDE, a 2-D MLP (two hidden layers of 8, noise output), a DSM loss and
 * its trainer with BATCH 4. Returns SCORESDE_OK or the first error. */
typedef struct {
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *trainer;
} fuzz_ckpt_rig;

int fuzz_ckpt_open(fuzz_ckpt_rig *r);
void fuzz_ckpt_close(fuzz_ckpt_rig *r);

/* The rig's data dimension and a small fixed batch of that dimension. */
enum { FUZZ_CKPT_D = 2, FUZZ_CKPT_BATCH = 4 };
extern const double fuzz_ckpt_batch[FUZZ_CKPT_BATCH * FUZZ_CKPT_D];

#endif /* SD_FUZZ_CKPT_H */
