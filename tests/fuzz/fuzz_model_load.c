/*
 * Fuzz target: scoresde_model_load_buffer on arbitrary bytes. Built twice:
 * as it is (the checksum guards everything) and with FUZZ_SEAL, where the
 * input's size field and CRC-32C are fixed up first so mutations reach the
 * section parsers. A model that loads must evaluate, save, and load again
 * to a model that saves to the same bytes.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "scoresde.h"

/* Evaluating costs about one pass over the parameters per point: bounded by
 * the input's size, but keep the dimension of the probe small. */
enum { MAX_PROBE_DIM = 4096 };

static void check_loaded(const scoresde_model *m)
{
    size_t D = scoresde_model_dim(m);
    fuzz_require(D > 0, "a loaded model has a dimension", 0);
    if (D <= MAX_PROBE_DIM) {
        double *x = calloc(D, sizeof *x), *s = calloc(D, sizeof *s);
        double t = 0.5 * scoresde_sde_end_time(scoresde_model_sde(m));
        if (x == NULL || s == NULL)
            abort();
        int rc = scoresde_model_score(m, x, &t, 1, D, s);
        fuzz_require(rc == SCORESDE_OK || rc == SCORESDE_ENUMERIC, "a loaded model evaluates",
                     rc);
        free(x);
        free(s);
    }

    void *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    int rc = scoresde_model_save_buffer(m, &b1, &n1);
    fuzz_require(rc == SCORESDE_OK, "a loaded model saves", rc);
    scoresde_model *again = NULL;
    rc = scoresde_model_load_buffer(&again, b1, n1);
    fuzz_require(rc == SCORESDE_OK, "a saved model loads", rc);
    rc = scoresde_model_save_buffer(again, &b2, &n2);
    fuzz_require(rc == SCORESDE_OK, "a reloaded model saves", rc);
    fuzz_require(n1 == n2 && memcmp(b1, b2, n1) == 0, "save(load(save(m))) == save(m)", 0);
    scoresde_model_free(again);
    scoresde_buffer_free(b1);
    scoresde_buffer_free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef FUZZ_SEAL
    uint8_t *bytes = fuzz_sealed_copy(data, size);
#else
    const uint8_t *bytes = data;
#endif
    scoresde_model *m = (scoresde_model *)&size; /* a failing load must clear it */
    int rc = scoresde_model_load_buffer(&m, bytes, size);
    if (rc == SCORESDE_OK) {
        check_loaded(m);
    } else {
        fuzz_require(m == NULL, "a failed load sets *out = NULL", rc);
        const char *msg = scoresde_last_error();
        fuzz_require(msg != NULL && msg[0] != '\0', "a failed load says why", rc);
    }
    scoresde_model_free(m);
    fuzz_require(scoresde_live_allocations() == 0, "nothing stays allocated", rc);
#ifdef FUZZ_SEAL
    free(bytes);
#endif
    return 0;
}
