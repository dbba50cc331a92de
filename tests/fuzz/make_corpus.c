/*
 * Writes the seed corpus of the fuzz targets (make-corpus runs it): valid
 * model files of every kind this version saves (mixtures over every SDE with
 * a Gaussian marginal, one with a data transform, MLPs of every activation, output, embedding and
 * precision), trainer checkpoints of the checkpoint target's rig before and
 * after steps, and sampler inputs covering every method and entry point.
 * Deterministic: the same library writes the same bytes.
 * Usage: make_corpus DIR (DIR/model, DIR/ckpt, DIR/sampler must exist).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ckpt.h"
#include "scoresde.h"

static const char *root;

static void die(const char *what, int rc)
{
    fprintf(stderr, "make_corpus: %s: %s (%s)\n", what, scoresde_strerror(rc),
            scoresde_last_error());
    exit(1);
}

static void write_file(const char *sub, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static void save_model(const scoresde_model *m, const char *name)
{
    void *data = NULL;
    size_t size = 0;
    int rc = scoresde_model_save_buffer(m, &data, &size);
    if (rc != SCORESDE_OK)
        die(name, rc);
    write_file("model", name, data, size);
    scoresde_buffer_free(data);
}

static void mixtures(void)
{
    static const int kinds[] = {SCORESDE_SDE_VE, SCORESDE_SDE_VP, SCORESDE_SDE_SUBVP,
                                SCORESDE_SDE_COSINE, SCORESDE_SDE_EDM, SCORESDE_SDE_OU};
    static const double w[3] = {0.5, 0.3, 0.2}, mu[6] = {-1, 0, 1, 1, 0, -2},
                        var[6] = {0.1, 0.2, 0.3, 0.1, 0.5, 0.05};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        scoresde_sde *sde = NULL;
        scoresde_model *m = NULL;
        int rc = scoresde_sde_create_default(&sde, kinds[i]);
        if (rc == SCORESDE_OK)
            rc = scoresde_model_create_gmm(&m, sde, 3, 2, w, mu, var);
        if (rc != SCORESDE_OK)
            die("mixture", rc);
        char name[64];
        snprintf(name, sizeof name, "gmm-sde%d", kinds[i]);
        save_model(m, name);
        if (kinds[i] == SCORESDE_SDE_VP) { /* with a data transform: the XFRM section */
            static const double shift[2] = {300.0, -2.5}, scale[2] = {50.0, 0.125};
            rc = scoresde_model_set_transform(m, shift, scale);
            if (rc != SCORESDE_OK)
                die("transform", rc);
            save_model(m, "gmm-transform");
        }
        scoresde_model_free(m);
        scoresde_sde_free(sde);
    }
}

static void mlps(void)
{
    scoresde_sde *vp = NULL, *edm = NULL;
    int rc = scoresde_sde_create_default(&vp, SCORESDE_SDE_VP);
    if (rc == SCORESDE_OK)
        rc = scoresde_sde_create_default(&edm, SCORESDE_SDE_EDM);
    if (rc != SCORESDE_OK)
        die("SDE", rc);
    const size_t widths[2] = {6, 5};
    for (int variant = 0; variant < 8; variant++) {
        scoresde_mlp_options o;
        scoresde_model_mlp_options_init(&o, sizeof o);
        o.n_hidden = 1 + (size_t)(variant % 2);
        o.widths = widths;
        o.activation = variant % 4; /* SILU, RELU, TANH, SOFTPLUS */
        o.output = variant % 4;
        o.embedding = variant % 3;
        o.embed_dim = 4;
        o.precision = variant >= 4 ? SCORESDE_MLP_FLOAT32 : SCORESDE_MLP_FLOAT64;
        o.seed = (uint64_t)variant;
        scoresde_model *m = NULL;
        rc = scoresde_model_create_mlp(&m, o.output == SCORESDE_MLP_OUTPUT_EDM ? edm : vp, 2, &o);
        if (rc != SCORESDE_OK)
            die("MLP", rc);
        char name[64];
        snprintf(name, sizeof name, "mlp-%d", variant);
        save_model(m, name);
        scoresde_model_free(m);
    }
    scoresde_sde_free(edm);
    scoresde_sde_free(vp);
}

static void checkpoints(void)
{
    fuzz_ckpt_rig r;
    int rc = fuzz_ckpt_open(&r);
    if (rc != SCORESDE_OK)
        die("rig", rc);
    for (int steps = 0; steps <= 3; steps += 3) {
        for (int i = 0; i < steps; i++) {
            rc = scoresde_trainer_step(r.trainer, fuzz_ckpt_batch, FUZZ_CKPT_BATCH, FUZZ_CKPT_D,
                                       NULL);
            if (rc != SCORESDE_OK)
                die("step", rc);
        }
        void *data = NULL;
        size_t size = 0;
        rc = scoresde_trainer_save_buffer(r.trainer, &data, &size);
        if (rc != SCORESDE_OK)
            die("checkpoint", rc);
        char name[64];
        snprintf(name, sizeof name, "ckpt-step%d", steps);
        write_file("ckpt", name, data, size);
        scoresde_buffer_free(data);
    }
    fuzz_ckpt_close(&r);
}

/* Sampler inputs (fuzz_sampler.c's layout): SDE, method, settings, grid,
 * then n, entry point, seed and the points; every method of the library's
 * name table. */
static void sampler_inputs(void)
{
    for (int method = 0; scoresde_sampler_method_name(method + 1) != NULL; method++) {
        for (int entry = 0; entry < 4; entry++) {
            uint8_t in[64] = {0};
            size_t k = 0;
            in[k++] = (uint8_t)(method + entry); /* SDE */
            in[k++] = (uint8_t)method;
            in[k++] = 0;                         /* no settings */
            in[k++] = 0;                         /* no grid */
            in[k++] = (uint8_t)entry;            /* n = 1 + entry % 3 */
            in[k++] = (uint8_t)entry;
            in[k++] = 7;                         /* seed */
            in[k++] = 0;
            for (int i = 0; i < 6; i++)
                in[k++] = (uint8_t)(i * 23 - 40);
            char name[64];
            snprintf(name, sizeof name, "m%d-e%d", method + 1, entry);
            write_file("sampler", name, in, k);
        }
    }
    /* One with settings (STEPS 5 as int, SNR as the double 0.25) and a grid. */
    uint8_t in[128] = {0};
    size_t k = 0;
    in[k++] = 1;
    in[k++] = 0;
    in[k++] = 2;
    in[k++] = SCORESDE_SAMPLER_STEPS;
    in[k++] = 0;
    in[k++] = 5;
    k += 7;
    in[k++] = SCORESDE_SAMPLER_SNR;
    in[k++] = 1;
    double snr = 0.25;
    memcpy(in + k, &snr, 8);
    k += 8;
    in[k++] = 3;
    static const double grid[3] = {1.0, 0.5, 1e-3};
    memcpy(in + k, grid, sizeof grid);
    k += sizeof grid;
    in[k++] = 1;
    in[k++] = 0;
    write_file("sampler", "pc-settings-grid", in, k);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    root = argv[1];
    mixtures();
    mlps();
    checkpoints();
    sampler_inputs();
    return 0;
}
