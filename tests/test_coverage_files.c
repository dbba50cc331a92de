/*
 * Sealed damage of model files and checkpoints (issue 17's coverage goal):
 * each section of a valid file in turn shortened by every number of bytes or
 * left out, with the lengths and the checksum recomputed so that the
 * container opens and the section parsers see the damage. Every such file is
 * refused with SCORESDE_ECORRUPT and no model, or leaves the trainer as it
 * was (save the one cut that makes a valid 1.0 checkpoint). Then
 * checkpoints whose trainer settings or optimiser state are forged out of
 * range, sealed: ECORRUPT naming the value.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "scoresde.h"
#include "testutil.h"

/* The sections of a container: tag, flags, payload offset and length. */
typedef struct {
    uint32_t tag, flags;
    size_t at, len;
} section;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static size_t sections_of(const uint8_t *file, size_t size, section *s, size_t max)
{
    size_t n = le32(file + 24), at = SD_CONTAINER_HEADER_SIZE;
    ck_assert_uint_le(n, max);
    for (size_t i = 0; i < n; i++) {
        s[i].tag = le32(file + at);
        s[i].flags = le32(file + at + 4);
        s[i].len = (size_t)le32(file + at + 8) | ((size_t)le32(file + at + 12) << 32);
        s[i].at = at + SD_CONTAINER_SECTION_HEADER_SIZE;
        at = s[i].at + s[i].len;
    }
    ck_assert_uint_eq(at + SD_CONTAINER_TRAILER_SIZE, size);
    return n;
}

/* The file with section `which` cut to `keep` bytes of its payload, or
 * without it when `drop`; lengths and checksum recomputed. Returns a
 * malloc'd copy of exactly *out_size bytes. */
static uint8_t *rebuild(const uint8_t *file, size_t size, size_t which, size_t keep, bool drop,
                        size_t *out_size)
{
    section s[SD_CONTAINER_MAX_SECTIONS];
    size_t n = sections_of(file, size, s, SD_CONTAINER_MAX_SECTIONS);
    sd_writer w;
    sd_writer_init(&w);
    sd_container_begin(&w, le32(file + 12));
    for (size_t i = 0; i < n; i++) {
        if (i == which && drop)
            continue;
        size_t mark;
        sd_container_section_begin(&w, s[i].tag, s[i].flags, &mark);
        sd_writer_put_bytes(&w, file + s[i].at, i == which ? keep : s[i].len);
        sd_container_section_end(&w, mark);
    }
    ck_assert_int_eq(sd_container_finish(&w), SCORESDE_OK);
    uint8_t *data;
    ck_assert_int_eq(sd_writer_take(&w, &data, out_size), SCORESDE_OK);
    uint8_t *copy = malloc(*out_size);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, *out_size);
    sd_free(data);
    return copy;
}

/* A loader under test: asserts that it refuses the bytes. */
typedef void (*refuse_fn)(const uint8_t *data, size_t size, void *ctx);

/* Every shortening and the omission of every section. (A longer section is
 * not damage: a later minor version may append fields, docs/file-format.md.) */
static size_t sweep(const uint8_t *file, size_t size, refuse_fn refuse, void *ctx)
{
    section s[SD_CONTAINER_MAX_SECTIONS];
    size_t n = sections_of(file, size, s, SD_CONTAINER_MAX_SECTIONS), tried = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t keep = 0; keep < s[i].len; keep++) {
            size_t len;
            uint8_t *bad = rebuild(file, size, i, keep, false, &len);
            refuse(bad, len, ctx);
            free(bad);
            tried++;
        }
        size_t len;
        uint8_t *bad = rebuild(file, size, i, 0, true, &len);
        refuse(bad, len, ctx);
        free(bad);
        tried++;
    }
    /* the untouched rebuild is the file itself */
    size_t len;
    uint8_t *same = rebuild(file, size, n, 0, false, &len);
    ck_assert_uint_eq(len, size);
    ck_assert_mem_eq(same, file, size);
    free(same);
    return tried;
}

static void refuse_model(const uint8_t *data, size_t size, void *ctx)
{
    (void)ctx;
    scoresde_model *m = (scoresde_model *)&m;
    int rc = scoresde_model_load_buffer(&m, data, size);
    ck_assert_msg(rc == SCORESDE_ECORRUPT, "rc %d (%s)", rc, scoresde_last_error());
    ck_assert_ptr_null(m);
    ck_assert_str_ne(scoresde_last_error(), "");
}

static void sweep_model(scoresde_model *m)
{
    size_t size;
    uint8_t *file = test_save_copy(m, &size);
    /* the file itself loads */
    scoresde_model *back = NULL;
    ck_assert_int_eq(scoresde_model_load_buffer(&back, file, size), SCORESDE_OK);
    scoresde_model_free(back);
    ck_assert_uint_gt(sweep(file, size, refuse_model, NULL), 4);
    free(file);
    scoresde_model_free(m);
}

START_TEST(gmm_file_sections)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    sweep_model(test_mixture(vp));
    scoresde_sde_free(vp);
}
END_TEST

static scoresde_model *small_mlp(const scoresde_sde *sde, size_t cond_dim, size_t classes,
                                 int null, int embedding)
{
    const size_t widths[1] = {4};
    scoresde_mlp_options o;
    test_mlp_options(&o, 1, widths, SCORESDE_MLP_OUTPUT_NOISE, 4, 3);
    o.cond_dim = cond_dim;
    o.cond_classes = classes;
    o.cond_null = null;
    o.embedding = embedding;
    scoresde_model *m = NULL;
    ck_assert_int_eq(scoresde_model_create_mlp(&m, sde, 2, &o), SCORESDE_OK);
    return m;
}

START_TEST(mlp_file_sections)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    sweep_model(small_mlp(vp, 0, 0, 0, SCORESDE_MLP_EMBED_FOURIER));
    sweep_model(small_mlp(vp, 2, 0, 1, SCORESDE_MLP_EMBED_AUTO));
    sweep_model(small_mlp(vp, 1, 3, 1, SCORESDE_MLP_EMBED_AUTO));
    scoresde_sde_free(vp);
}
END_TEST

typedef struct {
    scoresde_trainer *tr;
    scoresde_model *model;
    size_t P, accepted;
    double *before;
} ckpt_ctx;

static void refuse_ckpt(const uint8_t *data, size_t size, void *ctx)
{
    ckpt_ctx *c = ctx;
    int rc = scoresde_trainer_load_buffer(c->tr, data, size);
    if (rc == SCORESDE_OK)
        c->accepted++; /* the state it loaded is the same: checked below */
    else
        ck_assert_msg(rc == SCORESDE_ECORRUPT, "rc %d (%s)", rc, scoresde_last_error());
    ck_assert_uint_eq(scoresde_trainer_steps(c->tr), 1);
    double *now = malloc(c->P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(c->model, now, c->P), SCORESDE_OK);
    ck_assert_mem_eq(now, c->before, c->P * sizeof(double));
    free(now);
}

START_TEST(checkpoint_sections)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = small_mlp(vp, 0, 0, 0, SCORESDE_MLP_EMBED_AUTO);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, m, l), SCORESDE_OK);
    ck_assert_int_eq(scoresde_trainer_set_int(tr, SCORESDE_TRAIN_BATCH, 4), SCORESDE_OK);
    double data[16];
    scoresde_rng_normal(1, 0, 0, 16, data);
    ck_assert_int_eq(scoresde_trainer_step(tr, data, 8, 2, NULL), SCORESDE_OK);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(tr, &buf, &size), SCORESDE_OK);
    uint8_t *file = malloc(size);
    memcpy(file, buf, size);
    scoresde_buffer_free(buf);
    ckpt_ctx c = {tr, m, scoresde_trainer_num_params(tr), 0, NULL};
    c.before = malloc(c.P * sizeof(double));
    ck_assert_int_eq(scoresde_model_get_params(m, c.before, c.P), SCORESDE_OK);
    ck_assert_uint_gt(sweep(file, size, refuse_ckpt, &c), 4);
    /* one cut is a valid file: TRNR without the condition dropout that 1.1
     * appended is a 1.0 checkpoint, whose dropout is the 0 this one has */
    ck_assert_uint_eq(c.accepted, 1);
    ck_assert_int_eq(scoresde_trainer_load_buffer(tr, file, size), SCORESDE_OK);
    free(c.before);
    free(file);
    scoresde_trainer_free(tr);
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

/* The payload offset of the section `tag`. */
static size_t payload_of(const uint8_t *file, size_t size, uint32_t tag)
{
    section s[SD_CONTAINER_MAX_SECTIONS];
    size_t n = sections_of(file, size, s, SD_CONTAINER_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++)
        if (s[i].tag == tag)
            return s[i].at;
    ck_abort_msg("no section 0x%08X", (unsigned)tag);
    return 0;
}

/* TRNR: P, steps, samples, seed, warm-up, batch (u64), then LR, beta1, beta2,
 * eps, weight decay, clip, EMA rate (f64); OPTM: P (u64), then the master
 * parameters, the first and second moments and the EMA (P doubles each).
 * A value out of range, sealed, is refused with ECORRUPT naming it. */
static const struct {
    uint32_t tag;
    size_t field, per_P; /* 8-byte field index in the payload: field + per_P * P */
    bool is_u64;
    uint64_t u;
    double d;
    const char *needle;
} forged[] = {
    {SD_TAG_TRAINER, 4, 0, true, (uint64_t)1 << 63, 0, "trainer setting WARMUP"},
    {SD_TAG_TRAINER, 5, 0, true, 0, 0, "trainer setting BATCH (0) is out of range"},
    {SD_TAG_TRAINER, 6, 0, false, 0, -1.0, "trainer setting LR (-1) is out of range"},
    {SD_TAG_TRAINER, 7, 0, false, 0, 2.0, "trainer setting BETA1 (2) is out of range"},
    {SD_TAG_OPTIMIZER, 0, 0, true, 7, 0, "optimiser"},
    {SD_TAG_OPTIMIZER, 1, 0, false, 0, NAN, "checkpoint: optimiser value 0 (nan) is invalid"},
    {SD_TAG_OPTIMIZER, 1, 2, false, 0, -1.0, "(-1) is invalid"}, /* a second moment */
};

START_TEST(forged_checkpoint_values)
{
    scoresde_sde *vp = test_make_sde(SCORESDE_SDE_VP);
    scoresde_model *m = small_mlp(vp, 0, 0, 0, SCORESDE_MLP_EMBED_AUTO);
    scoresde_loss *l = NULL;
    ck_assert_int_eq(scoresde_loss_create(&l, SCORESDE_LOSS_DSM), SCORESDE_OK);
    scoresde_trainer *tr = NULL;
    ck_assert_int_eq(scoresde_trainer_create(&tr, m, l), SCORESDE_OK);
    const size_t P = scoresde_trainer_num_params(tr);
    void *buf;
    size_t size;
    ck_assert_int_eq(scoresde_trainer_save_buffer(tr, &buf, &size), SCORESDE_OK);
    uint8_t *file = malloc(size);
    memcpy(file, buf, size);
    scoresde_buffer_free(buf);
    size_t field = forged[_i].field + forged[_i].per_P * P;
    size_t at = payload_of(file, size, forged[_i].tag) + 8 * field;
    if (forged[_i].is_u64)
        for (int k = 0; k < 8; k++)
            file[at + k] = (uint8_t)(forged[_i].u >> (8 * k));
    else
        memcpy(file + at, &forged[_i].d, 8); /* little-endian hosts, as the format */
    test_reseal(file, size);
    int rc = scoresde_trainer_load_buffer(tr, file, size);
    ck_assert_msg(rc == SCORESDE_ECORRUPT, "rc %d (%s)", rc, scoresde_last_error());
    ck_assert_msg(strstr(scoresde_last_error(), forged[_i].needle) != NULL, "'%s' lacks '%s'",
                  scoresde_last_error(), forged[_i].needle);
    ck_assert_uint_eq(scoresde_trainer_steps(tr), 0);
    free(file);
    scoresde_trainer_free(tr);
    scoresde_loss_free(l);
    scoresde_model_free(m);
    scoresde_sde_free(vp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coverage_files");
    TCase *tc = tcase_create("sections");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gmm_file_sections);
    tcase_add_test(tc, mlp_file_sections);
    tcase_add_test(tc, checkpoint_sections);
    tcase_add_loop_test(tc, forged_checkpoint_values, 0, sizeof forged / sizeof forged[0]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return test_run_suite(suite());
}
