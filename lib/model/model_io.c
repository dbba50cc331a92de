/*
 * Model files: a container (lib/core/io.h) of type MODEL with the sections
 * MODL (model description), SDE (SDE description), KIND (the kind's state,
 * through its save_state / load_state slots) and, for trainable kinds, PARM
 * (the flat parameter vector), and XFRM (the data transform, when the model
 * has one; lib/model/transform.c). Payloads are specified in docs/file-format.md,
 * "Model files".
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "model_file.h"
#include "model_internal.h"
#include "sde_internal.h"

/* Kinds that files can hold. A new savable kind adds its table here. */
static const sd_model_ops *const file_kinds[] = {
    &sd_model_gmm_ops,
    &sd_model_mlp_ops,
};

/* The sections this version reads; a REQUIRED section outside this list means
 * the file needs a newer library. */
static const uint32_t model_tags[] = {SD_TAG_MODEL, SD_TAG_SDE, SD_TAG_KIND, SD_TAG_PARAMS,
                                      SD_TAG_META, SD_TAG_TRANSFORM};

/* Model files can legitimately be large (network weights); the limit only
 * stops reading something that is not a file at all (a device, a pipe). */
#define MODEL_FILE_LIMIT ((uint64_t)SIZE_MAX < (1ull << 40) ? SIZE_MAX : (size_t)(1ull << 40))

enum { MAX_NAME = 64, MAX_SDE_PARAMS = 8 };

/* ------------------------------------------------------------------ saving */

static int check_savable(const scoresde_model *model)
{
    if (model->ops->save_state == NULL || model->ops->load_state == NULL) {
        if (model->ops->kind == SCORESDE_MODEL_SCORE_FN ||
            model->ops->kind == SCORESDE_MODEL_DENOISER_FN)
            return sd_fail(SCORESDE_EUNSUPPORTED,
                           "a %s model cannot be saved: its function is the caller's code, "
                           "which a file cannot hold",
                           model->ops->name);
        return sd_fail(SCORESDE_EUNSUPPORTED, "a %s model cannot be saved to a file",
                       model->ops->name);
    }
    return SCORESDE_OK;
}

/* The parameters of a trainable kind, into the PARM section. */
static int write_params(const scoresde_model *m, sd_writer *w)
{
    size_t n = m->ops->num_params(m);
    double *theta = n > 0 ? sd_calloc(n, sizeof *theta) : NULL;
    if (n > 0 && theta == NULL)
        return SCORESDE_ENOMEM;
    int rc = n > 0 ? m->ops->get_params(m, theta) : SCORESDE_OK;
    if (rc == SCORESDE_OK) {
        size_t mark;
        sd_container_section_begin(w, SD_TAG_PARAMS, SD_SECTION_REQUIRED, &mark);
        sd_writer_put_u64(w, (uint64_t)n);
        sd_writer_put_f64_array(w, theta, n);
        rc = sd_container_section_end(w, mark);
    }
    sd_free(theta);
    return rc;
}

static int build_file(const scoresde_model *m, sd_writer *w)
{
    int sde_kind;
    double p[MAX_SDE_PARAMS];
    size_t np;
    int rc = sd_sde_describe(m->sde, &sde_kind, p, &np);
    if (rc == SCORESDE_EUNSUPPORTED)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "the model cannot be saved: its SDE is defined by callbacks (schedule or "
                       "custom SDE), which a file cannot hold");
    SD_TRY(rc);

    size_t mark;
    sd_container_begin(w, SD_FILE_MODEL);

    sd_container_section_begin(w, SD_TAG_MODEL, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u32(w, (uint32_t)m->ops->kind);
    sd_writer_put_string(w, m->ops->name, strlen(m->ops->name));
    sd_writer_put_u64(w, (uint64_t)m->dim);
    sd_container_section_end(w, mark);

    sd_container_section_begin(w, SD_TAG_SDE, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u32(w, (uint32_t)sde_kind);
    sd_writer_put_u32(w, (uint32_t)np);
    sd_writer_put_f64_array(w, p, np);
    sd_container_section_end(w, mark);

    sd_container_section_begin(w, SD_TAG_KIND, SD_SECTION_REQUIRED, &mark);
    SD_TRY(sd_writer_status(w));
    SD_TRY(m->ops->save_state(m, w));
    sd_container_section_end(w, mark);

    if (m->ops->num_params != NULL)
        SD_TRY(write_params(m, w));
    SD_TRY(sd_transform_write(m, w));
    return sd_container_finish(w);
}

/* The whole file in a new sd_malloc buffer. */
static int save_to_memory(const scoresde_model *model, uint8_t **data, size_t *size)
{
    SD_TRY(check_savable(model));
    sd_writer w;
    sd_writer_init(&w);
    int rc = build_file(model, &w);
    if (rc != SCORESDE_OK) {
        sd_writer_free(&w);
        return rc;
    }
    return sd_writer_take(&w, data, size);
}

int scoresde_model_save_buffer(const scoresde_model *model, void **data, size_t *size)
{
    SD_TRY(sd_check_ptr(data, "data"));
    *data = NULL;
    SD_TRY(sd_check_ptr(size, "size"));
    *size = 0;
    SD_TRY(sd_check_ptr(model, "model"));
    uint8_t *bytes;
    SD_TRY(save_to_memory(model, &bytes, size));
    *data = bytes;
    return SCORESDE_OK;
}

int scoresde_model_save(const scoresde_model *model, const char *path)
{
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(path, "path"));
    if (path[0] == '\0')
        return sd_fail(SCORESDE_EINVAL, "path is empty");
    uint8_t *bytes;
    size_t size;
    SD_TRY(save_to_memory(model, &bytes, &size));
    int rc = sd_file_save_atomic(path, bytes, size);
    sd_free(bytes);
    return rc;
}

/* ----------------------------------------------------------------- loading */

/* The kind table for a kind number read from a file. */
static int find_kind(const sd_model_ops *const *kinds, size_t n_kinds, uint32_t kind,
                     const uint8_t *name, size_t name_len, const sd_model_ops **out)
{
    for (size_t i = 0; i < n_kinds; i++) {
        const sd_model_ops *ops = kinds[i];
        /* The number identifies the kind; the name is only for messages, so
         * renaming a kind never orphans old files. */
        if ((uint32_t)ops->kind != kind)
            continue;
        *out = ops;
        return SCORESDE_OK;
    }
    if (kind == SCORESDE_MODEL_SCORE_FN || kind == SCORESDE_MODEL_DENOISER_FN)
        return sd_fail(SCORESDE_ECORRUPT, "model kind %u (a callback model) is never stored in a file",
                       kind);
    return sd_fail(SCORESDE_EVERSION,
                   "the file holds a model of kind %u ('%.*s'), which this library does not "
                   "know: use a newer libscoresde",
                   kind, (int)name_len, (const char *)name);
}

/* MODL: u32 kind, string name, u64 dim. */
static int read_model_section(const sd_container *c, const sd_model_ops *const *kinds,
                              size_t n_kinds, const sd_model_ops **ops, size_t *dim)
{
    sd_reader r;
    SD_TRY(sd_container_section(c, SD_TAG_MODEL, &r, "model description"));
    uint32_t kind;
    const uint8_t *name;
    size_t name_len;
    uint64_t d;
    SD_TRY(sd_reader_get_u32(&r, &kind, "model kind"));
    SD_TRY(sd_reader_view_string(&r, MAX_NAME, &name, &name_len, "model kind name"));
    size_t at = sd_reader_offset(&r);
    SD_TRY(sd_reader_get_u64(&r, &d, "model dimension"));
    SD_TRY(find_kind(kinds, n_kinds, kind, name, name_len, ops));
    /* Any kind stores at least one double per dimension, so a dimension
     * beyond the file's size is damage; this also keeps D * 8 from overflowing. */
    if (d == 0 || d > c->size / sizeof(double))
        return sd_fail(SCORESDE_ECORRUPT, "the model dimension at offset %zu (%llu) is impossible "
                                          "for a file of %zu bytes",
                       at, (unsigned long long)d, c->size);
    *dim = (size_t)d;
    return SCORESDE_OK;
}

/* SDE: u32 kind, u32 count, f64 params[count]. */
static int read_sde_section(const sd_container *c, scoresde_sde **sde)
{
    sd_reader r;
    SD_TRY(sd_container_section(c, SD_TAG_SDE, &r, "SDE description"));
    uint32_t kind, count;
    double p[MAX_SDE_PARAMS];
    SD_TRY(sd_reader_get_u32(&r, &kind, "SDE kind"));
    size_t at = sd_reader_offset(&r);
    SD_TRY(sd_reader_get_u32(&r, &count, "SDE parameter count"));
    if (count > MAX_SDE_PARAMS)
        return sd_fail(SCORESDE_ECORRUPT, "the SDE parameter count at offset %zu (%u) exceeds %d",
                       at, count, MAX_SDE_PARAMS);
    SD_TRY(sd_reader_get_f64_array(&r, p, count, "SDE parameters"));
    int rc = sd_sde_from_description((int)kind, p, count, sde);
    if (rc == SCORESDE_EINVAL) {
        /* The creators' own message says which parameter is wrong. */
        char why[512];
        snprintf(why, sizeof why, "%s", scoresde_last_error());
        return sd_fail(SCORESDE_ECORRUPT, "the file's SDE description (kind %u) is invalid: %s",
                       kind, why);
    }
    return rc;
}

/* The count at the start of PARM, checked against the section's bytes, so
 * that the kind can hold its architecture to it before allocating. */
static int peek_param_count(const sd_container *c, size_t *count)
{
    sd_reader r;
    SD_TRY(sd_container_section(c, SD_TAG_PARAMS, &r, "parameter"));
    uint64_t n;
    SD_TRY(sd_reader_get_u64(&r, &n, "parameter count"));
    SD_TRY(sd_reader_check_count(&r, n, sizeof(double), "parameters"));
    *count = (size_t)n;
    return SCORESDE_OK;
}

/* PARM: u64 count, f64 theta[count], all finite; count as the kind expects.
 * A kind may hold its parameters at a lower precision (float32 MLPs); the
 * values of a file it wrote survive that exactly, so a value that does not
 * is damage, refused rather than silently rounded. */
static int read_params(const sd_container *c, scoresde_model *m)
{
    sd_reader r;
    SD_TRY(sd_container_section(c, SD_TAG_PARAMS, &r, "parameter"));
    uint64_t count;
    SD_TRY(sd_reader_get_u64(&r, &count, "parameter count"));
    size_t want = m->ops->num_params(m);
    if (count != (uint64_t)want)
        return sd_fail(SCORESDE_ECORRUPT, "the file has %llu parameters, the model described needs %zu",
                       (unsigned long long)count, want);
    SD_TRY(sd_reader_check_count(&r, count, sizeof(double), "parameters"));
    if (want == 0)
        return SCORESDE_OK;
    size_t bytes;
    SD_TRY(sd_mul_size(want, 2 * sizeof(double), &bytes, "parameters"));
    double *theta = sd_malloc(bytes);
    if (theta == NULL)
        return SCORESDE_ENOMEM;
    double *back = theta + want;
    int rc = sd_reader_get_f64_array(&r, theta, want, "parameters");
    for (size_t i = 0; rc == SCORESDE_OK && i < want; i++)
        if (!isfinite(theta[i]))
            rc = sd_fail(SCORESDE_ECORRUPT, "parameter %zu (%g) is not finite", i, theta[i]);
    if (rc == SCORESDE_OK) {
        rc = m->ops->set_params(m, theta);
        if (rc == SCORESDE_EINVAL) {
            char why[512];
            snprintf(why, sizeof why, "%s", scoresde_last_error());
            rc = sd_fail(SCORESDE_ECORRUPT, "the file's parameters are invalid: %s", why);
        }
    }
    if (rc == SCORESDE_OK)
        rc = m->ops->get_params(m, back);
    for (size_t i = 0; rc == SCORESDE_OK && i < want; i++)
        if (memcmp(&theta[i], &back[i], sizeof(double)) != 0)
            rc = sd_fail(SCORESDE_ECORRUPT,
                         "parameter %zu (%.17g) is not representable at the model's precision "
                         "(it reads back as %.17g)",
                         i, theta[i], back[i]);
    sd_free(theta);
    return rc;
}

static int load_from_memory(scoresde_model **out, const uint8_t *data, size_t size,
                            const sd_model_ops *const *kinds, size_t n_kinds)
{
    sd_container c = {0};
    int rc = sd_container_open(&c, data, size, SD_FILE_MODEL, model_tags,
                               sizeof model_tags / sizeof model_tags[0]);
    /* A sound container of the other type (file_type is recorded before the
     * type check) is the common mistake of loading a checkpoint as a model. */
    if (rc == SCORESDE_EINVAL && c.file_type == SD_FILE_CHECKPOINT)
        return sd_fail(SCORESDE_EINVAL, "this is a training checkpoint (file type %u), not a "
                                        "model file; load it with scoresde_trainer_load",
                       (unsigned)SD_FILE_CHECKPOINT);
    SD_TRY(rc);
    const sd_model_ops *ops = NULL;
    size_t dim = 0;
    SD_TRY(read_model_section(&c, kinds, n_kinds, &ops, &dim));
    bool trainable = ops->num_params != NULL;
    if (!trainable && sd_container_has(&c, SD_TAG_PARAMS))
        return sd_fail(SCORESDE_ECORRUPT, "the file has parameters, but a %s model has none",
                       ops->name);

    sd_reader kr;
    SD_TRY(sd_container_section(&c, SD_TAG_KIND, &kr, "model state"));
    size_t n_params = 0;
    if (trainable)
        SD_TRY(peek_param_count(&c, &n_params));
    scoresde_sde *sde = NULL;
    SD_TRY(read_sde_section(&c, &sde));

    /* The kind fills in the state of a model whose ops, SDE and dimension
     * are set (model_internal.h); the real model is then built by the usual
     * constructor, so whatever else it initialises is initialised. */
    scoresde_model shell = {.ops = ops, .sde = sde, .dim = dim, .state = NULL};
    rc = ops->load_state(&shell, &kr, n_params);
    scoresde_model *m = NULL;
    if (rc == SCORESDE_OK)
        rc = sd_model_create(&m, ops, sde, dim, shell.state); /* frees the state on failure */
    else
        ops->free_state(shell.state);
    scoresde_sde_free(sde);
    if (rc == SCORESDE_OK) { /* the conditions load_state set on the shell */
        m->cond_dim = shell.cond_dim;
        m->cond_labels = shell.cond_labels;
        m->cond_null = shell.cond_null;
    }
    if (rc == SCORESDE_OK && trainable)
        rc = read_params(&c, m);
    if (rc == SCORESDE_OK)
        rc = sd_transform_read(&c, &m->transform, dim, "model file");
    if (rc != SCORESDE_OK) {
        scoresde_model_free(m);
        return rc;
    }
    *out = m;
    return SCORESDE_OK;
}

#define N_FILE_KINDS (sizeof file_kinds / sizeof file_kinds[0])

int sd_model_load_buffer_kinds(scoresde_model **out, const void *data, size_t size,
                               const sd_model_ops *const *kinds, size_t n_kinds)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    if (data == NULL && size > 0)
        return sd_fail(SCORESDE_EINVAL, "data is NULL but size is %zu", size);
    static const uint8_t empty[1];
    return load_from_memory(out, data != NULL ? data : empty, size, kinds, n_kinds);
}

int scoresde_model_load_buffer(scoresde_model **out, const void *data, size_t size)
{
    return sd_model_load_buffer_kinds(out, data, size, file_kinds, N_FILE_KINDS);
}

int scoresde_model_load(scoresde_model **out, const char *path)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(path, "path"));
    uint8_t *data;
    size_t size;
    SD_TRY(sd_file_read_all(path, MODEL_FILE_LIMIT, &data, &size));
    int rc = load_from_memory(out, data, size, file_kinds, N_FILE_KINDS);
    if (rc != SCORESDE_OK && rc != SCORESDE_ENOMEM) {
        /* Name the file: "model.sde: checksum mismatch ...". */
        char why[512];
        snprintf(why, sizeof why, "%s", scoresde_last_error());
        sd_fail(rc, "%s: %s", path, why);
    }
    sd_free(data);
    return rc;
}
