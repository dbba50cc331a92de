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

/* One rig for the whole campaign (creating one per input was most of the
 * cost): a refused load leaves it as it was, which is checked, and after an
 * accepted one its first checkpoint is loaded back. */
static fuzz_ckpt_rig rig;
static void *pristine;
static size_t pristine_size, baseline;

static void open_rig(void)
{
    int rc = fuzz_ckpt_open(&rig);
    fuzz_require(rc == SCORESDE_OK, "the rig", rc);
    rc = scoresde_trainer_save_buffer(rig.trainer, &pristine, &pristine_size);
    fuzz_require(rc == SCORESDE_OK, "the rig's checkpoint", rc);
    /* A step allocates the trainer's workspaces, which it then keeps. */
    rc = scoresde_trainer_step(rig.trainer, fuzz_ckpt_batch, FUZZ_CKPT_BATCH, FUZZ_CKPT_D, NULL);
    fuzz_require(rc == SCORESDE_OK, "the rig steps", rc);
    rc = scoresde_trainer_load_buffer(rig.trainer, pristine, pristine_size);
    fuzz_require(rc == SCORESDE_OK, "the rig's checkpoint loads back", rc);
    baseline = scoresde_live_allocations();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rig.trainer == NULL)
        open_rig();
#ifdef FUZZ_SEAL
    uint8_t *bytes = fuzz_sealed_copy(data, size);
#else
    const uint8_t *bytes = data;
#endif
    uint64_t steps = scoresde_trainer_steps(rig.trainer);
    int rc = scoresde_trainer_load_buffer(rig.trainer, bytes, size);
    if (rc == SCORESDE_OK) {
        check_loaded(&rig);
        rc = scoresde_trainer_load_buffer(rig.trainer, pristine, pristine_size);
        fuzz_require(rc == SCORESDE_OK, "the rig's checkpoint loads back", rc);
    } else {
        fuzz_require(scoresde_trainer_steps(rig.trainer) == steps,
                     "a refused checkpoint leaves the step count", rc);
        const char *msg = scoresde_last_error();
        fuzz_require(msg != NULL && msg[0] != '\0', "a refused checkpoint says why", rc);
    }
    fuzz_require(scoresde_live_allocations() == baseline, "nothing more stays allocated", rc);
#ifdef FUZZ_SEAL
    free(bytes);
#endif
    return 0;
}
