/*
 * The trainer: flat gradient, Adam(W) with warm-up and norm clipping, EMA of
 * the parameters, seeded minibatches (include/scoresde/train.h).
 *
 * The trainer keeps a double master copy of the parameters and pushes it into
 * the model after every step, so a single-precision model still accumulates
 * small updates exactly as a double one would.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "scoresde/train.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "io.h"
#include "loss_internal.h"
#include "model_internal.h"
#include "scoresde/rng.h"
#include "settings.h"

struct scoresde_trainer {
    scoresde_model *model;
    const scoresde_loss *loss;
    size_t P;
    double *p, *g, *m, *v, *ema; /* one block of 5 P doubles */
    uint64_t steps;              /* applied steps */
    uint64_t samples;            /* samples consumed by step/fit */
    double lr, beta1, beta2, eps, wd, clip, ema_rate;
    uint64_t warmup;
    size_t batch;
    uint64_t seed;
    double cond_dropout;
    double limit;         /* the model's param_limit: master values and EMA stay below */
    sd_loss_buf lbuf;     /* the loss's workspace, kept between steps */
    unsigned char *mask;  /* condition dropout's null mask, grown to the batch */
    size_t mask_len;
};

/* One row per setting; include/scoresde/train.h lists the same types, bounds
 * and defaults (score_sde's). Checkpoint loading checks its values against
 * the same bounds. */
/* The largest batch: 2^40 rows, or SIZE_MAX / 64 where that is smaller (32-bit
 * platforms), so B (D + 1) doubles stay addressable for any sane D; both are
 * exact as doubles, so scoresde_trainer_bounds reports the bound exactly. */
#define BATCH_MAX ((uint64_t)(SIZE_MAX / 64) < (UINT64_C(1) << 40) ? (int64_t)(SIZE_MAX / 64) \
                                                                    : (INT64_C(1) << 40))
/* KEY is the setting's public name (scoresde_trainer_setting_name). */
#define ROW_I(ID, NAME, KEY, STORE, FIELD, LO, HI, DEF)                                     \
    [ID] = {ID, NAME, STORE, offsetof(scoresde_trainer, FIELD), LO, HI, 0, 0, 0, DEF, KEY, NULL}
#define ROW_D(ID, NAME, KEY, FIELD, LO, HI, DEF)                                            \
    [ID] = {ID, NAME, SD_STORE_DOUBLE, offsetof(scoresde_trainer, FIELD), 0, 0, LO, HI, 0, DEF,  \
            KEY, NULL}
static const sd_setting train_rows[SCORESDE_TRAIN_COND_DROPOUT + 1] = {
    ROW_D(SCORESDE_TRAIN_LR, "LR", "lr", lr, DBL_TRUE_MIN, 10.0, 2e-4),
    ROW_D(SCORESDE_TRAIN_BETA1, "BETA1", "beta1", beta1, 0.0, 0x1.fffffffffffffp-1, 0.9),
    ROW_D(SCORESDE_TRAIN_BETA2, "BETA2", "beta2", beta2, 0.0, 0x1.fffffffffffffp-1, 0.999),
    ROW_D(SCORESDE_TRAIN_EPS, "EPS", "eps", eps, DBL_TRUE_MIN, DBL_MAX, 1e-8),
    ROW_D(SCORESDE_TRAIN_WEIGHT_DECAY, "WEIGHT_DECAY", "weight_decay", wd, 0.0, DBL_MAX, 0.0),
    ROW_D(SCORESDE_TRAIN_CLIP, "CLIP", "clip", clip, 0.0, DBL_MAX, 1.0),
    ROW_D(SCORESDE_TRAIN_EMA_RATE, "EMA_RATE", "ema_rate", ema_rate, 0.0, 1.0, 0.9999),
    ROW_I(SCORESDE_TRAIN_WARMUP, "WARMUP", "warmup", SD_STORE_U64, warmup, 0, INT64_C(1) << 62,
          5000),
    ROW_I(SCORESDE_TRAIN_BATCH, "BATCH", "batch", SD_STORE_SIZE, batch, 1, BATCH_MAX, 128),
    ROW_I(SCORESDE_TRAIN_SEED, "SEED", "seed", SD_STORE_U64, seed, INT64_MIN, INT64_MAX, 0),
    ROW_D(SCORESDE_TRAIN_COND_DROPOUT, "COND_DROPOUT", "cond_dropout", cond_dropout, 0.0,
          0x1.fffffffffffffp-1, 0.0),
};
#undef ROW_I
#undef ROW_D

static const sd_settings train_settings = {"trainer", "scoresde_trainer", train_rows,
                                           SCORESDE_TRAIN_COND_DROPOUT + 1};

const char *scoresde_trainer_setting_name(int setting)
{
    return sd_setting_key(&train_settings, setting);
}

int scoresde_trainer_setting_id(const char *name, int *setting)
{
    return sd_setting_id(&train_settings, name, setting);
}

int scoresde_trainer_default(int setting, double *value)
{
    SD_TRY(sd_check_ptr(value, "value"));
    const sd_setting *row = sd_setting_find(&train_settings, setting);
    if (row == NULL)
        return SCORESDE_EINVAL;
    *value = row->def;
    return SCORESDE_OK;
}

int scoresde_trainer_bounds(int setting, double *lower, double *upper, int *is_int)
{
    return sd_setting_bounds(&train_settings, setting, lower, upper, is_int);
}

int scoresde_trainer_create(scoresde_trainer **out, scoresde_model *model,
                            const scoresde_loss *loss)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(model, "model"));
    SD_TRY(sd_check_ptr(loss, "loss"));
    size_t P = scoresde_model_num_params(model);
    if (P == 0)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "the model (kind %d) has no trainable parameters: a trainer needs "
                       "SCORESDE_MODEL_MLP or SCORESDE_MODEL_RESMLP",
                       scoresde_model_kind(model));
    size_t total;
    SD_TRY(sd_mul_size(P, 5 * sizeof(double), &total, "trainer state"));
    scoresde_trainer *tr = sd_calloc(1, sizeof *tr);
    double *block = tr ? sd_calloc(5 * P, sizeof(double)) : NULL;
    if (!block) {
        sd_free(tr);
        return sd_fail(SCORESDE_ENOMEM, "out of memory for a trainer of %zu parameters", P);
    }
    tr->model = model;
    tr->loss = loss;
    tr->P = P;
    tr->limit = sd_model_param_limit(model);
    tr->p = block;
    tr->g = block + P;
    tr->m = block + 2 * P;
    tr->v = block + 3 * P;
    tr->ema = block + 4 * P;
    int rc = scoresde_model_get_params(model, tr->p, P);
    if (rc != SCORESDE_OK) {
        sd_free(block);
        sd_free(tr);
        return rc;
    }
    memcpy(tr->ema, tr->p, P * sizeof(double));
    for (int id = 1; id < train_settings.count; id++)
        sd_setting_write(&train_rows[id], tr, train_rows[id].def);
    *out = tr;
    return SCORESDE_OK;
}

void scoresde_trainer_free(scoresde_trainer *tr)
{
    if (!tr)
        return;
    sd_loss_buf_free(&tr->lbuf);
    sd_free(tr->mask);
    sd_free(tr->p);
    sd_free(tr);
}

int scoresde_trainer_set_double(scoresde_trainer *tr, int setting, double value)
{
    return sd_setting_set_double(&train_settings, tr, setting, value);
}

int scoresde_trainer_set_int(scoresde_trainer *tr, int setting, int64_t value)
{
    return sd_setting_set_int(&train_settings, tr, setting, value);
}

int scoresde_trainer_get_double(const scoresde_trainer *tr, int setting, double *value)
{
    return sd_setting_get_double(&train_settings, tr, setting, value);
}

int scoresde_trainer_get_int(const scoresde_trainer *tr, int setting, int64_t *value)
{
    return sd_setting_get_int(&train_settings, tr, setting, value);
}

size_t scoresde_trainer_num_params(const scoresde_trainer *tr)
{
    return tr ? tr->P : 0;
}

uint64_t scoresde_trainer_steps(const scoresde_trainer *tr)
{
    return tr ? tr->steps : 0;
}

/* Condition dropout (train.h): sample i (of the run: first + i) takes the
 * null condition when it already has it or when its COND_DROP uniform is
 * below COND_DROPOUT. Rewrites *c to use the trainer's mask. */
static int drop_conditions(scoresde_trainer *tr, sd_cond *c, size_t n, uint64_t first)
{
    if (c->c == NULL) /* every sample null already */
        return SCORESDE_OK;
    if (!scoresde_model_cond_null(tr->model))
        return sd_fail(SCORESDE_EINVAL,
                       "COND_DROPOUT (%g) needs a model that accepts the null condition (an MLP "
                       "made with cond_null)",
                       tr->cond_dropout);
    if (tr->mask_len < n) {
        unsigned char *m = sd_malloc(n);
        if (!m)
            return sd_fail(SCORESDE_ENOMEM, "out of memory for a dropout mask of %zu samples", n);
        sd_free(tr->mask);
        tr->mask = m;
        tr->mask_len = n;
    }
    for (size_t i = 0; i < n; i++) {
        double u;
        sd_rng_uniform(tr->seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_COND_DROP, 0), 1, &u);
        tr->mask[i] = (unsigned char)(sd_cond_is_null(c, i) || u < tr->cond_dropout);
    }
    c->null = tr->mask;
    return SCORESDE_OK;
}

/* backward with a resolved condition (NULL: unconditional model). */
static int backward_resolved(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                             const sd_cond *cond, uint64_t first_sample, double *loss)
{
    sd_cond c;
    if (cond && tr->cond_dropout > 0.0) {
        c = *cond;
        SD_TRY(drop_conditions(tr, &c, n, first_sample));
        cond = &c;
    }
    double value;
    memset(tr->g, 0, tr->P * sizeof(double));
    SD_TRY(sd_loss_eval_buf(tr->loss, tr->model, x0, n, D, cond, tr->seed, first_sample, &value,
                            NULL, tr->g, tr->P, &tr->lbuf));
    if (loss)
        *loss = value;
    return SCORESDE_OK;
}

int scoresde_trainer_backward_cond(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                                   const scoresde_cond *cond, uint64_t first_sample,
                                   double *loss)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    sd_cond rc;
    const sd_cond *rcp;
    SD_TRY(sd_cond_resolve(tr->model, cond, n, &rc, &rcp));
    return backward_resolved(tr, x0, n, D, rcp, first_sample, loss);
}

int scoresde_trainer_backward(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                              uint64_t first_sample, double *loss)
{
    return scoresde_trainer_backward_cond(tr, x0, n, D, NULL, first_sample, loss);
}

static int check_count(const scoresde_trainer *tr, const void *arr, size_t count, const char *what)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_ptr(arr, what));
    if (count != tr->P)
        return sd_fail(SCORESDE_EDIM, "count (%zu) differs from the trainer's %zu parameters",
                       count, tr->P);
    return SCORESDE_OK;
}

int scoresde_trainer_get_grad(const scoresde_trainer *tr, double *grad, size_t count)
{
    SD_TRY(check_count(tr, grad, count, "grad"));
    memcpy(grad, tr->g, count * sizeof(double));
    return SCORESDE_OK;
}

int scoresde_trainer_set_grad(scoresde_trainer *tr, const double *grad, size_t count)
{
    SD_TRY(check_count(tr, grad, count, "grad"));
    SD_TRY(sd_check_finite(grad, count, "grad"));
    memcpy(tr->g, grad, count * sizeof(double));
    return SCORESDE_OK;
}

int scoresde_trainer_get_ema(const scoresde_trainer *tr, double *theta, size_t count)
{
    SD_TRY(check_count(tr, theta, count, "theta"));
    memcpy(theta, tr->ema, count * sizeof(double));
    return SCORESDE_OK;
}

/* The constants of Adam step n (1-based): warmed-up learning rate, bias
 * corrections, decoupled decay and the EMA's rate. */
typedef struct {
    double lr, b1, b2, c1, c2, decay, ema;
} adam_step;

static adam_step adam_at(const scoresde_trainer *tr, uint64_t n)
{
    adam_step s;
    s.lr = tr->lr;
    if (tr->warmup > 0 && n < tr->warmup)
        s.lr *= (double)n / (double)tr->warmup;
    s.b1 = tr->beta1, s.b2 = tr->beta2;
    s.c1 = 1.0 - pow(s.b1, (double)n), s.c2 = 1.0 - pow(s.b2, (double)n);
    s.decay = s.lr * tr->wd;
    s.ema = (1.0 + (double)n) / (10.0 + (double)n);
    if (tr->ema_rate < s.ema)
        s.ema = tr->ema_rate;
    return s;
}

/* Parameter k's moments, master value and EMA after step s with gradient g,
 * into out[0..3]; false if any of them is not finite, or the master value or
 * EMA does not fit the model's storage (a float32 MLP's range). */
static bool adam_elem(const scoresde_trainer *tr, const adam_step *s, size_t k, double g,
                      double out[4])
{
    const double m = s->b1 * tr->m[k] + (1.0 - s->b1) * g;
    const double v = s->b2 * tr->v[k] + (1.0 - s->b2) * g * g;
    const double upd = (m / s->c1) / (sqrt(v / s->c2) + tr->eps);
    const double p = tr->p[k] - s->decay * tr->p[k] - s->lr * upd;
    out[0] = m, out[1] = v, out[2] = p;
    out[3] = s->ema * tr->ema[k] + (1.0 - s->ema) * p;
    return isfinite(m) && isfinite(v) && fabs(p) < tr->limit && fabs(out[3]) < tr->limit;
}

/* The first parameter whose step s with gradient g * scale (g NULL: zero)
 * would not be finite, or P if the whole step is finite. The step is formed
 * here only to be checked: nothing is written. */
static size_t adam_first_bad(const scoresde_trainer *tr, const adam_step *s, const double *g,
                             double scale)
{
    double out[4];
    for (size_t k = 0; k < tr->P; k++)
        if (!adam_elem(tr, s, k, g ? g[k] * scale : 0.0, out))
            return k;
    return tr->P;
}

int scoresde_trainer_apply(scoresde_trainer *tr, double *grad_norm)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    const size_t P = tr->P;
    double ss = 0.0;
    for (size_t k = 0; k < P; k++)
        ss += tr->g[k] * tr->g[k];
    const double norm = sqrt(ss);
    if (!isfinite(norm)) {
        for (size_t k = 0; k < P; k++)
            if (!isfinite(tr->g[k]))
                return sd_fail(SCORESDE_ENUMERIC,
                               "gradient element %zu is not finite (%g) at step %llu", k,
                               tr->g[k], (unsigned long long)tr->steps + 1);
        return sd_fail(SCORESDE_ENUMERIC, "the gradient norm overflows at step %llu",
                       (unsigned long long)tr->steps + 1);
    }
    if (grad_norm)
        *grad_norm = norm;
    const double scale = tr->clip > 0.0 && norm > tr->clip ? tr->clip / norm : 1.0;
    const uint64_t n = tr->steps + 1;
    const adam_step s = adam_at(tr, n);
    /* A finite gradient can still give an update that overflows (a large LR
     * or weight decay, huge moments): check the whole step before writing
     * any of it, so a refused step leaves the trainer and model as they were. */
    const size_t bad = adam_first_bad(tr, &s, tr->g, scale);
    if (bad < P)
        return sd_fail(SCORESDE_ENUMERIC,
                       "the update of parameter %zu is not finite%s at step %llu (learning "
                       "rate, weight decay or optimiser moments too large)",
                       bad, tr->limit < INFINITY ? " or beyond float32's range (the model's)" : "",
                       (unsigned long long)n);
    for (size_t k = 0; k < P; k++) {
        double out[4];
        tr->g[k] *= scale;
        adam_elem(tr, &s, k, tr->g[k], out);
        tr->m[k] = out[0], tr->v[k] = out[1], tr->p[k] = out[2], tr->ema[k] = out[3];
    }
    tr->steps = n;
    /* the master copy was checked finite, so this only fails on programming
     * errors; report it all the same */
    return scoresde_model_set_params(tr->model, tr->p, P);
}

static int step_resolved(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                         const sd_cond *cond, double *loss)
{
    SD_TRY(backward_resolved(tr, x0, n, D, cond, tr->samples, loss));
    SD_TRY(scoresde_trainer_apply(tr, NULL));
    tr->samples += n;
    return SCORESDE_OK;
}

int scoresde_trainer_step_cond(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                               const scoresde_cond *cond, double *loss)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    sd_cond rc;
    const sd_cond *rcp;
    SD_TRY(sd_cond_resolve(tr->model, cond, n, &rc, &rcp));
    return step_resolved(tr, x0, n, D, rcp, loss);
}

int scoresde_trainer_step(scoresde_trainer *tr, const double *x0, size_t n, size_t D,
                          double *loss)
{
    return scoresde_trainer_step_cond(tr, x0, n, D, NULL, loss);
}

/* The batch's condition: data rows r_b's condition rows and mask entries
 * gathered into cb and mb (a broadcast or all-null condition stays as is). */
static void gather_cond(const sd_cond *all, size_t C, const size_t *rows, size_t B, double *cb,
                        unsigned char *mb, sd_cond *out)
{
    *out = *all;
    if (all->c != NULL && all->stride > 0) {
        for (size_t b = 0; b < B; b++)
            memcpy(cb + b * C, all->c + rows[b] * C, C * sizeof(double));
        out->c = cb;
    }
    if (all->null != NULL) {
        for (size_t b = 0; b < B; b++)
            mb[b] = all->null[rows[b]];
        out->null = mb;
    }
}

int scoresde_trainer_fit(scoresde_trainer *tr, const double *data, size_t m, size_t D,
                         uint64_t steps, scoresde_train_progress_fn progress, void *user)
{
    return scoresde_trainer_fit_cond(tr, data, m, D, NULL, steps, progress, user);
}

int scoresde_trainer_fit_cond(scoresde_trainer *tr, const double *data, size_t m, size_t D,
                              const scoresde_cond *cond, uint64_t steps,
                              scoresde_train_progress_fn progress, void *user)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_batch(data, m, D, "data"));
    if (D != scoresde_model_dim(tr->model))
        return sd_fail(SCORESDE_EDIM, "data has dimension %zu, the model expects %zu", D,
                       scoresde_model_dim(tr->model));
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < D; j++)
            if (!isfinite(data[i * D + j]))
                return sd_fail(SCORESDE_EINVAL, "data row %zu (column %zu) is not finite (%g)", i,
                               j, data[i * D + j]);
    /* The dataset's conditions are checked once, here, for all m rows. */
    sd_cond all;
    const sd_cond *allp;
    SD_TRY(sd_cond_resolve(tr->model, cond, m, &all, &allp));
    const size_t B = tr->batch, C = scoresde_model_cond_dim(tr->model);
    /* batch rows, uniforms, row indices (size_t as a double, as in the loss),
     * condition rows, then B mask bytes */
    size_t bd, bc;
    SD_TRY(sd_mul_size(B, D + 2, &bd, "batch x (D + 2)"));
    SD_TRY(sd_mul_size(B, C, &bc, "batch x C"));
    if (bc > SIZE_MAX / sizeof(double) - bd - B)
        return sd_fail(SCORESDE_EINVAL, "the batch buffer for %zu rows overflows", B);
    double *buf = sd_malloc((bd + bc + B) * sizeof(double));
    if (!buf)
        return sd_fail(SCORESDE_ENOMEM, "out of memory for a batch of %zu rows", B);
    _Static_assert(sizeof(size_t) <= sizeof(double), "row indices share the batch buffer");
    double *xb = buf, *u = buf + B * D, *cb = buf + bd, ema_loss = 0.0;
    size_t *rows = (size_t *)(void *)(u + B);
    unsigned char *mb = (unsigned char *)(cb + bc);
    int rc = SCORESDE_OK;
    for (uint64_t s = 0; s < steps; s++) {
        sd_rng_uniform(tr->seed, tr->steps, SCORESDE_RNG_OFFSET(SCORESDE_RNG_BATCH, 0), B, u);
        for (size_t b = 0; b < B; b++) {
            size_t r = (size_t)floor(u[b] * (double)m);
            if (r >= m)
                r = m - 1;
            rows[b] = r;
            memcpy(xb + b * D, data + r * D, D * sizeof(double));
        }
        sd_cond bcond;
        if (allp)
            gather_cond(allp, C, rows, B, cb, mb, &bcond);
        double loss;
        rc = step_resolved(tr, xb, B, D, allp ? &bcond : NULL, &loss);
        if (rc != SCORESDE_OK)
            break;
        ema_loss = s == 0 ? loss : 0.99 * ema_loss + 0.01 * loss;
        if (progress && progress(tr->steps, loss, ema_loss, user) != 0) {
            rc = sd_fail(SCORESDE_ECALLBACK, "the progress hook stopped training after step %llu",
                         (unsigned long long)tr->steps);
            break;
        }
    }
    sd_free(buf);
    return rc;
}

/* ------------------------------------------------------------ checkpoints */

/* Checkpoints are bounded by what a trainer could hold in memory anyway. */
#define CKPT_FILE_LIMIT ((uint64_t)SIZE_MAX < (1ull << 40) ? SIZE_MAX : (size_t)(1ull << 40))

int scoresde_trainer_save_buffer(const scoresde_trainer *tr, void **data, size_t *size)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_ptr(data, "data"));
    SD_TRY(sd_check_ptr(size, "size"));
    *data = NULL;
    *size = 0;
    sd_writer w;
    size_t mark;
    sd_writer_init(&w);
    sd_container_begin(&w, SD_FILE_CHECKPOINT);
    /* TRNR: counts, counters, settings, the loss's configuration */
    sd_container_section_begin(&w, SD_TAG_TRAINER, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(&w, (uint64_t)tr->P);
    sd_writer_put_u64(&w, tr->steps);
    sd_writer_put_u64(&w, tr->samples);
    sd_writer_put_u64(&w, tr->seed);
    sd_writer_put_u64(&w, tr->warmup);
    sd_writer_put_u64(&w, (uint64_t)tr->batch);
    const double set[7] = {tr->lr, tr->beta1, tr->beta2, tr->eps, tr->wd, tr->clip, tr->ema_rate};
    sd_writer_put_f64_array(&w, set, 7);
    sd_loss_write_config(tr->loss, &w);
    sd_writer_put_f64(&w, tr->cond_dropout); /* format 1.1 */
    sd_container_section_end(&w, mark);
    /* OPTM: P, then parameters, first moment, second moment, EMA */
    sd_container_section_begin(&w, SD_TAG_OPTIMIZER, SD_SECTION_REQUIRED, &mark);
    sd_writer_put_u64(&w, (uint64_t)tr->P);
    sd_writer_put_f64_array(&w, tr->p, tr->P);
    sd_writer_put_f64_array(&w, tr->m, tr->P);
    sd_writer_put_f64_array(&w, tr->v, tr->P);
    sd_writer_put_f64_array(&w, tr->ema, tr->P);
    sd_container_section_end(&w, mark);
    /* XFRM: the model's data transform, when it has one (format 1.2) */
    sd_transform_write(tr->model, &w);
    sd_container_finish(&w);
    uint8_t *out;
    int rc = sd_writer_take(&w, &out, size);
    if (rc != SCORESDE_OK) {
        sd_writer_free(&w);
        return rc == SCORESDE_ENOMEM ? sd_fail(rc, "out of memory writing a checkpoint") : rc;
    }
    *data = out;
    return SCORESDE_OK;
}

int scoresde_trainer_save(const scoresde_trainer *tr, const char *path)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_ptr(path, "path"));
    void *data;
    size_t size;
    SD_TRY(scoresde_trainer_save_buffer(tr, &data, &size));
    int rc = sd_file_save_atomic(path, data, size);
    sd_free(data);
    return rc;
}

static int corrupt_setting(const char *what, double v)
{
    return sd_fail(SCORESDE_ECORRUPT, "checkpoint: trainer setting %s (%g) is out of range", what, v);
}

/* A checkpoint's state (block: master, first and second moments, EMA) must
 * allow a next step: finite moments can still be so large that a step with a
 * zero gradient overflows, and the trainer could then never step again.
 * Weight decay is left out: an overflow it causes is the setting's, which the
 * caller can change after loading (apply refuses such a step). */
static int check_can_step(const scoresde_trainer *tr, const double *block, uint64_t steps,
                          uint64_t warmup, const double set[7])
{
    scoresde_trainer next = *tr;
    const size_t P = tr->P;
    next.p = (double *)block, next.m = next.p + P, next.v = next.m + P, next.ema = next.v + P;
    next.warmup = warmup;
    next.lr = set[0], next.beta1 = set[1], next.beta2 = set[2], next.eps = set[3];
    next.wd = 0.0, next.clip = set[5], next.ema_rate = set[6];
    const adam_step s = adam_at(&next, steps + 1);
    const size_t bad = adam_first_bad(&next, &s, NULL, 1.0);
    if (bad < P)
        return sd_fail(SCORESDE_ECORRUPT,
                       "checkpoint: the optimiser state cannot step: the update of parameter %zu "
                       "would not be finite%s",
                       bad, tr->limit < INFINITY ? " or beyond float32's range (the model's)" : "");
    return SCORESDE_OK;
}

int scoresde_trainer_load_buffer(scoresde_trainer *tr, const void *data, size_t size)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_ptr(data, "data"));
    static const uint32_t known[3] = {SD_TAG_TRAINER, SD_TAG_OPTIMIZER, SD_TAG_TRANSFORM};
    sd_container c;
    SD_TRY(sd_container_open(&c, data, size, SD_FILE_CHECKPOINT, known, 3));
    sd_reader r;
    SD_TRY(sd_container_section(&c, SD_TAG_TRAINER, &r, "trainer (TRNR)"));
    uint64_t P, steps, samples, seed, warmup, batch;
    double set[7];
    SD_TRY(sd_reader_get_u64(&r, &P, "parameter count"));
    SD_TRY(sd_reader_get_u64(&r, &steps, "step count"));
    SD_TRY(sd_reader_get_u64(&r, &samples, "sample count"));
    SD_TRY(sd_reader_get_u64(&r, &seed, "seed"));
    SD_TRY(sd_reader_get_u64(&r, &warmup, "warm-up steps"));
    SD_TRY(sd_reader_get_u64(&r, &batch, "batch size"));
    SD_TRY(sd_reader_get_f64_array(&r, set, 7, "trainer settings"));
    if (P != tr->P)
        return sd_fail(SCORESDE_EDIM,
                       "the checkpoint has %llu parameters, the trainer's model %zu",
                       (unsigned long long)P, tr->P);
    /* the settings in the order the file stores them (docs/file-format.md) */
    static const int int_ids[2] = {SCORESDE_TRAIN_WARMUP, SCORESDE_TRAIN_BATCH};
    const uint64_t ints[2] = {warmup, batch};
    for (int k = 0; k < 2; k++)
        if (ints[k] > INT64_MAX || !sd_setting_int_ok(&train_rows[int_ids[k]], (int64_t)ints[k]))
            return corrupt_setting(train_rows[int_ids[k]].name, (double)ints[k]);
    static const int double_ids[7] = {SCORESDE_TRAIN_LR,    SCORESDE_TRAIN_BETA1,
                                      SCORESDE_TRAIN_BETA2, SCORESDE_TRAIN_EPS,
                                      SCORESDE_TRAIN_WEIGHT_DECAY, SCORESDE_TRAIN_CLIP,
                                      SCORESDE_TRAIN_EMA_RATE};
    for (int k = 0; k < 7; k++)
        if (!sd_setting_double_ok(&train_rows[double_ids[k]], set[k]))
            return corrupt_setting(train_rows[double_ids[k]].name, set[k]);
    SD_TRY(sd_loss_check_config(tr->loss, &r));
    double dropout = 0.0; /* a 1.0 checkpoint ends here: no dropout */
    if (sd_reader_remaining(&r) > 0) {
        SD_TRY(sd_reader_get_f64(&r, &dropout, "condition dropout"));
        if (!sd_setting_double_ok(&train_rows[SCORESDE_TRAIN_COND_DROPOUT], dropout))
            return corrupt_setting("COND_DROPOUT", dropout);
    }
    SD_TRY(sd_reader_expect_end(&r, "trainer (TRNR)"));

    SD_TRY(sd_container_section(&c, SD_TAG_OPTIMIZER, &r, "optimiser (OPTM)"));
    uint64_t P2;
    SD_TRY(sd_reader_get_u64(&r, &P2, "optimiser parameter count"));
    if (P2 != P)
        return sd_fail(SCORESDE_ECORRUPT,
                       "checkpoint: the optimiser section has %llu parameters, the trainer "
                       "section %llu",
                       (unsigned long long)P2, (unsigned long long)P);
    SD_TRY(sd_reader_check_count(&r, P, 4 * sizeof(double), "optimiser state"));
    double *block = sd_malloc(4 * tr->P * sizeof(double));
    if (!block)
        return sd_fail(SCORESDE_ENOMEM, "out of memory reading a checkpoint");
    int rc = sd_reader_get_f64_array(&r, block, 4 * tr->P, "optimiser state");
    if (rc == SCORESDE_OK)
        rc = sd_reader_expect_end(&r, "optimiser (OPTM)");
    for (size_t k = 0; rc == SCORESDE_OK && k < 4 * tr->P; k++)
        if (!isfinite(block[k]) || (k >= 2 * tr->P && k < 3 * tr->P && block[k] < 0))
            rc = sd_fail(SCORESDE_ECORRUPT, "checkpoint: optimiser value %zu (%g) is invalid",
                         k, block[k]);
    if (rc == SCORESDE_OK)
        rc = check_can_step(tr, block, steps, warmup, set);
    double *transform = NULL; /* the checkpoint's, or none */
    if (rc == SCORESDE_OK)
        rc = sd_transform_read(&c, &transform, scoresde_model_dim(tr->model), "checkpoint");
    if (rc == SCORESDE_OK)
        rc = scoresde_model_set_params(tr->model, block, tr->P);
    if (rc != SCORESDE_OK) {
        sd_free(transform);
        sd_free(block);
        return rc;
    }
    sd_free(tr->model->transform);
    tr->model->transform = transform;
    /* everything checked: commit */
    const size_t P_ = tr->P;
    memcpy(tr->p, block, P_ * sizeof(double));
    memcpy(tr->m, block + P_, P_ * sizeof(double));
    memcpy(tr->v, block + 2 * P_, P_ * sizeof(double));
    memcpy(tr->ema, block + 3 * P_, P_ * sizeof(double));
    sd_free(block);
    memset(tr->g, 0, tr->P * sizeof(double));
    tr->steps = steps;
    tr->samples = samples;
    tr->seed = seed;
    tr->warmup = warmup;
    tr->batch = (size_t)batch;
    tr->lr = set[0], tr->beta1 = set[1], tr->beta2 = set[2], tr->eps = set[3];
    tr->wd = set[4], tr->clip = set[5], tr->ema_rate = set[6];
    tr->cond_dropout = dropout;
    return SCORESDE_OK;
}

int scoresde_trainer_load(scoresde_trainer *tr, const char *path)
{
    SD_TRY(sd_check_ptr(tr, "trainer"));
    SD_TRY(sd_check_ptr(path, "path"));
    uint8_t *data;
    size_t size;
    SD_TRY(sd_file_read_all(path, CKPT_FILE_LIMIT, &data, &size));
    int rc = scoresde_trainer_load_buffer(tr, data, size);
    sd_free(data);
    return rc;
}

int scoresde_trainer_export(scoresde_model **out, const scoresde_trainer *tr, int which)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(tr, "trainer"));
    if (which != SCORESDE_TRAIN_EXPORT_EMA && which != SCORESDE_TRAIN_EXPORT_RAW)
        return sd_fail(SCORESDE_EINVAL, "which (%d) is not SCORESDE_TRAIN_EXPORT_EMA or _RAW",
                       which);
    scoresde_model *m;
    SD_TRY(scoresde_model_clone(&m, tr->model));
    int rc = scoresde_model_set_params(m, which == SCORESDE_TRAIN_EXPORT_EMA ? tr->ema : tr->p,
                                       tr->P);
    if (rc != SCORESDE_OK) {
        scoresde_model_free(m);
        return rc;
    }
    *out = m;
    return SCORESDE_OK;
}
