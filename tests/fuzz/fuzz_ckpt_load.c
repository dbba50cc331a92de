/*
 * Fuzz target: scoresde_trainer_load_buffer into the trainer of a small MLP
 * (fuzz_ckpt.h). With FUZZ_SEAL the size field and CRC-32C are fixed up
 * first, so mutations reach the section parsers. A checkpoint that loads
 * must save to the same bytes, load into a fresh trainer, and step (or
 * refuse the step as non-finite); one that does not load leaves the trainer
 * as it was.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_ckpt.h"

static void check_loaded(fuzz_ckpt_rig *r)
{
    void *saved = NULL;
    size_t n = 0;
    int rc = scoresde_trainer_save_buffer(r->trainer, &saved, &n);
    fuzz_require(rc == SCORESDE_OK, "a loaded checkpoint saves", rc);

    fuzz_ckpt_rig fresh;
    rc = fuzz_ckpt_open(&fresh);
    fuzz_require(rc == SCORESDE_OK, "a second rig", rc);
    rc = scoresde_trainer_load_buffer(fresh.trainer, saved, n);
    fuzz_require(rc == SCORESDE_OK, "a saved checkpoint loads", rc);
    fuzz_ckpt_close(&fresh);
    scoresde_buffer_free(saved);

    double loss = 0;
    rc = scoresde_trainer_step(r->trainer, fuzz_ckpt_batch, FUZZ_CKPT_BATCH, FUZZ_CKPT_D, &loss);
    fuzz_require(rc == SCORESDE_OK || rc == SCORESDE_ENUMERIC,
                 "a loaded checkpoint steps or reports a non-finite update", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_SEAL
    uint8_t *bytes = fuzz_sealed_copy(data, size);
#else
    const uint8_t *bytes = data;
#endif
    fuzz_ckpt_rig r;
    int rc = fuzz_ckpt_open(&r);
    fuzz_require(rc == SCORESDE_OK, "the rig", rc);
    uint64_t steps = scoresde_trainer_steps(r.trainer);
    rc = scoresde_trainer_load_buffer(r.trainer, bytes, size);
    if (rc == SCORESDE_OK) {
        check_loaded(&r);
    } else {
        fuzz_require(scoresde_trainer_steps(r.trainer) == steps,
                     "a refused checkpoint leaves the step count", rc);
        const char *msg = scoresde_last_error();
        fuzz_require(msg != NULL && msg[0] != '\0', "a refused checkpoint says why", rc);
    }
    fuzz_ckpt_close(&r);
    fuzz_require(scoresde_live_allocations() == 0, "nothing stays allocated", rc);
#ifdef FUZZ_SEAL
    free(bytes);
#endif
    return 0;
}
