/* Guide, "Model files" (checkpoints): interrupt a training run with a
 * checkpoint, resume it in a fresh trainer, and check that it continues bit
 * for bit like the run that was never interrupted. The file is written in
 * the current directory. Exits 0 when every check holds. */
#include <scoresde.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                   \
            goto done;                                                  \
        }                                                               \
    } while (0)

enum { D = 2, M = 512 };

/* Everything a checkpoint does not hold: the network (same kind, SDE and
 * options, so the same architecture) and an identically configured loss. */
struct run {
    scoresde_sde *sde;
    scoresde_model *net;
    scoresde_loss *loss;
    scoresde_trainer *tr;
};

static int run_create(struct run *r)
{
    memset(r, 0, sizeof *r);
    scoresde_mlp_options opts;
    int rc = scoresde_sde_create_default(&r->sde, SCORESDE_SDE_VP);
    if (rc == SCORESDE_OK)
        rc = scoresde_model_mlp_options_init(&opts, sizeof opts);
    if (rc == SCORESDE_OK) {
        opts.n_hidden = 2;
        static const size_t widths[2] = {16, 16}; /* NULL: every layer 256 */
        opts.widths = widths;
        rc = scoresde_model_create_mlp(&r->net, r->sde, D, &opts);
    }
    if (rc == SCORESDE_OK)
        rc = scoresde_loss_create(&r->loss, SCORESDE_LOSS_DSM);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_create(&r->tr, r->net, r->loss);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_WARMUP, 10);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_BATCH, 32);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r->tr, SCORESDE_TRAIN_SEED, 7);
    return rc;
}

static void run_free(struct run *r)
{
    scoresde_trainer_free(r->tr);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->net);
    scoresde_sde_free(r->sde);
}

int main(void)
{
    int ok = 0;
    const char *path = "guide-snippet-checkpoint.ckpt";
    struct run a, b;
    scoresde_model *exported = NULL, *refused = NULL;
    double *pa = NULL, *pb = NULL, *ea = NULL, *eb = NULL;
    static double data[M * D];
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < M; i++) { /* two clusters */
        data[i * D] = (i % 2) ? 1.0 : -1.0;
        data[i * D + 1] = 0.01 * (double)(i % 17) - 0.08;
    }

    /* Run A: 30 steps, a checkpoint after the first 20. */
    CHECK(run_create(&a) == SCORESDE_OK);
    CHECK(scoresde_trainer_fit(a.tr, data, M, D, 20, NULL, NULL) == SCORESDE_OK);
    CHECK(scoresde_trainer_save(a.tr, path) == SCORESDE_OK); /* atomic replace */
    CHECK(scoresde_trainer_fit(a.tr, data, M, D, 10, NULL, NULL) == SCORESDE_OK);

    /* Run B: a new process would do this: rebuild, load, go on for 10. */
    CHECK(run_create(&b) == SCORESDE_OK);
    CHECK(scoresde_trainer_load(b.tr, path) == SCORESDE_OK);
    CHECK(scoresde_trainer_steps(b.tr) == 20);
    CHECK(scoresde_trainer_fit(b.tr, data, M, D, 10, NULL, NULL) == SCORESDE_OK);

    /* Bit for bit: the parameters and the EMA. */
    size_t P = scoresde_trainer_num_params(a.tr);
    pa = malloc(P * sizeof *pa);
    pb = malloc(P * sizeof *pb);
    ea = malloc(P * sizeof *ea);
    eb = malloc(P * sizeof *eb);
    CHECK(pa != NULL && pb != NULL && ea != NULL && eb != NULL);
    CHECK(scoresde_model_get_params(a.net, pa, P) == SCORESDE_OK);
    CHECK(scoresde_model_get_params(b.net, pb, P) == SCORESDE_OK);
    CHECK(scoresde_trainer_get_ema(a.tr, ea, P) == SCORESDE_OK);
    CHECK(scoresde_trainer_get_ema(b.tr, eb, P) == SCORESDE_OK);
    printf("%zu parameters after 30 steps: resumed run %s, EMA %s\n", P,
           memcmp(pa, pb, P * sizeof *pa) == 0 ? "identical" : "DIFFERENT",
           memcmp(ea, eb, P * sizeof *ea) == 0 ? "identical" : "DIFFERENT");
    CHECK(memcmp(pa, pb, P * sizeof *pa) == 0);
    CHECK(memcmp(ea, eb, P * sizeof *ea) == 0);

    /* A checkpoint is not a model file; export the EMA model to sample or
     * to save as a model file. */
    int rc = scoresde_model_load(&refused, path);
    printf("model_load on a checkpoint: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_EINVAL && refused == NULL);
    CHECK(scoresde_trainer_export(&exported, b.tr, SCORESDE_TRAIN_EXPORT_EMA) == SCORESDE_OK);
    CHECK(scoresde_model_get_params(exported, pb, P) == SCORESDE_OK);
    CHECK(memcmp(pb, eb, P * sizeof *pb) == 0);

    /* A trainer whose loss is configured differently is refused, untouched. */
    CHECK(scoresde_loss_set_int(b.loss, SCORESDE_LOSS_WEIGHTING, SCORESDE_LOSS_WEIGHT_G2) ==
          SCORESDE_OK);
    rc = scoresde_trainer_load(b.tr, path);
    printf("different loss: %s: %s\n", scoresde_strerror(rc), scoresde_last_error());
    CHECK(rc == SCORESDE_EINVAL && scoresde_trainer_steps(b.tr) == 30);
    ok = 1;
done:
    remove(path);
    free(eb);
    free(ea);
    free(pb);
    free(pa);
    scoresde_model_free(exported);
    run_free(&b);
    run_free(&a);
    return ok ? 0 : 1;
}
