/*
 * The data transform of a model (model.h, "data transform"; issue 13):
 * x_data = shift + scale * x_model per dimension, metadata that the library
 * stores, copies and saves but never applies on its own. Its file section is
 * XFRM (docs/file-format.md): u64 D, f64 shift[D], f64 scale[D].
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <string.h>

#include "io.h"
#include "model_internal.h"

/* The first element of shift or scale that a transform cannot hold, or D. */
static size_t first_bad(const double *shift, const double *scale, size_t D, int *in_scale)
{
    for (size_t j = 0; j < D; j++) {
        if (!isfinite(shift[j])) {
            *in_scale = 0;
            return j;
        }
        if (!(isfinite(scale[j]) && scale[j] > 0.0)) {
            *in_scale = 1;
            return j;
        }
    }
    return D;
}

int sd_transform_copy(const double *src, size_t dim, double **out)
{
    *out = NULL;
    if (src == NULL)
        return SCORESDE_OK;
    double *t = sd_calloc(2 * dim, sizeof *t);
    if (t == NULL)
        return SCORESDE_ENOMEM;
    memcpy(t, src, 2 * dim * sizeof *t);
    *out = t;
    return SCORESDE_OK;
}

int scoresde_model_set_transform(scoresde_model *model, const double *shift, const double *scale)
{
    SD_TRY(sd_check_ptr(model, "model"));
    const size_t D = model->dim;
    if (shift == NULL && scale == NULL) {
        sd_free(model->transform);
        model->transform = NULL;
        return SCORESDE_OK;
    }
    if (shift == NULL || scale == NULL)
        return sd_fail(SCORESDE_EINVAL, "%s is NULL but %s is not: give both (or both NULL to clear the transform)",
                       shift == NULL ? "shift" : "scale", shift == NULL ? "scale" : "shift");
    int in_scale = 0;
    size_t j = first_bad(shift, scale, D, &in_scale);
    if (j < D) {
        if (in_scale)
            return sd_fail(SCORESDE_EINVAL, "scale[%zu] = %g: a transform's scale must be finite and positive", j,
                           scale[j]);
        return sd_fail(SCORESDE_EINVAL, "shift[%zu] = %g: a transform's shift must be finite", j, shift[j]);
    }
    double *t = model->transform;
    if (t == NULL) {
        t = sd_calloc(2 * D, sizeof *t);
        if (t == NULL)
            return SCORESDE_ENOMEM;
    }
    memcpy(t, shift, D * sizeof *t);
    memcpy(t + D, scale, D * sizeof *t);
    model->transform = t;
    return SCORESDE_OK;
}

int scoresde_model_get_transform(const scoresde_model *model, double *shift, double *scale)
{
    SD_TRY(sd_check_ptr(model, "model"));
    const size_t D = model->dim;
    const double *t = model->transform;
    for (size_t j = 0; j < D; j++) {
        if (shift != NULL)
            shift[j] = t != NULL ? t[j] : 0.0;
        if (scale != NULL)
            scale[j] = t != NULL ? t[D + j] : 1.0;
    }
    return SCORESDE_OK;
}

int scoresde_model_has_transform(const scoresde_model *model)
{
    return model != NULL && model->transform != NULL;
}

/* n rows of x in place: to data units (to_data) or back to model units. */
static int apply(const scoresde_model *model, double *x, size_t n, bool to_data)
{
    SD_TRY(sd_check_ptr(model, "model"));
    if (n == 0)
        return SCORESDE_OK;
    SD_TRY(sd_check_batch(x, n, model->dim, "x"));
    const double *t = model->transform;
    const size_t D = model->dim;
    if (t == NULL)
        return SCORESDE_OK;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++) {
            double *v = &x[i * D + j];
            *v = to_data ? t[j] + t[D + j] * *v : (*v - t[j]) / t[D + j];
        }
    return SCORESDE_OK;
}

int scoresde_model_to_data(const scoresde_model *model, double *x, size_t n)
{
    return apply(model, x, n, true);
}

int scoresde_model_from_data(const scoresde_model *model, double *x, size_t n)
{
    return apply(model, x, n, false);
}

int scoresde_model_transform_log_det(const scoresde_model *model, double *log_det)
{
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(log_det, "log_det"));
    double s = 0.0;
    if (model->transform != NULL)
        for (size_t j = 0; j < model->dim; j++)
            s += log(model->transform[model->dim + j]);
    *log_det = s;
    return SCORESDE_OK;
}

/* ------------------------------------------------------------------ files */

int sd_transform_write(const scoresde_model *m, sd_writer *w)
{
    if (m->transform == NULL)
        return SCORESDE_OK;
    size_t mark;
    sd_container_section_begin(w, SD_TAG_TRANSFORM, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(w, (uint64_t)m->dim);
    sd_writer_put_f64_array(w, m->transform, 2 * m->dim);
    return sd_container_section_end(w, mark);
}

int sd_transform_read(const sd_container *c, double **transform, size_t dim, const char *where)
{
    *transform = NULL;
    if (!sd_container_has(c, SD_TAG_TRANSFORM))
        return SCORESDE_OK;
    sd_reader r;
    SD_TRY(sd_container_section(c, SD_TAG_TRANSFORM, &r, "data transform (XFRM)"));
    uint64_t D;
    SD_TRY(sd_reader_get_u64(&r, &D, "transform dimension"));
    if (D != (uint64_t)dim)
        return sd_fail(SCORESDE_ECORRUPT, "%s: the data transform has dimension %llu, the model %zu", where,
                       (unsigned long long)D, dim);
    SD_TRY(sd_reader_check_count(&r, D, 2 * sizeof(double), "transform values"));
    double *t = sd_calloc(2 * dim, sizeof *t);
    if (t == NULL)
        return SCORESDE_ENOMEM;
    int rc = sd_reader_get_f64_array(&r, t, 2 * dim, "transform values");
    if (rc == SCORESDE_OK)
        rc = sd_reader_expect_end(&r, "data transform (XFRM)");
    if (rc == SCORESDE_OK) {
        int in_scale = 0;
        size_t j = first_bad(t, t + dim, dim, &in_scale);
        if (j < dim)
            rc = sd_fail(SCORESDE_ECORRUPT, "%s: the data transform's %s[%zu] (%g) is invalid (%s)", where,
                         in_scale ? "scale" : "shift", j, in_scale ? t[dim + j] : t[j],
                         in_scale ? "a scale must be finite and positive" : "a shift must be finite");
    }
    if (rc != SCORESDE_OK) {
        sd_free(t);
        return rc;
    }
    *transform = t;
    return SCORESDE_OK;
}
