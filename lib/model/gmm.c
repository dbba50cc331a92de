/*
 * The exact Gaussian-mixture model.
 *
 * p_0 = sum_k w_k N(mu_k, diag(v_k)) pushed through x_t = alpha x_0 + sigma z:
 *     p_t = sum_k w_k N(alpha mu_k, diag(c_k)),  c_k = alpha^2 v_k + sigma^2.
 * With g_k = -(x - alpha mu_k) / c_k (the component scores) and
 * responsibilities r_k = w_k N_k / p_t (a log-sum-exp, so no component ever
 * underflows the others away, whatever t):
 *     s      = sum_k r_k g_k
 *     ds/dx  = -sum_k r_k diag(1/c_k) + sum_k r_k (g_k - s)(g_k - s)^T
 *     div s  = -sum_k r_k sum_j 1/c_kj + sum_k r_k ||g_k - s||^2
 * (dr_k/dx = r_k (g_k - s) and dg_k/dx = -diag(1/c_k) give the Jacobian.)
 * The centred forms (g_k - s) keep the covariance term non-negative and free
 * of the cancellation that sum r_k g_k g_k^T - s s^T suffers far from the data.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "io.h"
#include "model_internal.h"

static const double LOG_2PI = 1.8378770664093454835606594728112; /* ln(2 pi) */

static void gmm_free_state(void *state)
{
    sd_gmm_state *s = state;
    if (s == NULL)
        return;
    sd_ws_pool_destroy(&s->pool);
    sd_free(s->weight);
    sd_free(s->log_w);
    sd_free(s->mean);
    sd_free(s->var);
    sd_free(s);
}

static sd_gmm_state *gmm_alloc_state(size_t K, size_t D)
{
    sd_gmm_state *s = sd_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->K = K;
    sd_ws_pool_init(&s->pool);
    s->weight = sd_malloc(K * sizeof(double));
    s->log_w = sd_malloc(K * sizeof(double));
    s->mean = sd_malloc(K * D * sizeof(double));
    s->var = sd_malloc(K * D * sizeof(double));
    if (!s->weight || !s->log_w || !s->mean || !s->var) {
        gmm_free_state(s);
        return NULL;
    }
    return s;
}

static int gmm_clone_state(const scoresde_model *src, void **out)
{
    const sd_gmm_state *s = src->state;
    size_t K = s->K, D = src->dim;
    sd_gmm_state *c = gmm_alloc_state(K, D);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c->weight, s->weight, K * sizeof(double));
    memcpy(c->log_w, s->log_w, K * sizeof(double));
    memcpy(c->mean, s->mean, K * D * sizeof(double));
    memcpy(c->var, s->var, K * D * sizeof(double));
    *out = c;
    return SCORESDE_OK;
}

/* Per-call scratch, from the state's pool (bounded whatever n is: a batch of
 * 10^6 no longer allocates 2 x 10^6 doubles per call, and a sampler's steps
 * allocate nothing). alpha and sigma of SD_MARGINAL_CHUNK samples at a time
 * come from one batched call to the SDE. The component
 * coefficients depend on the time only, so they are computed once per run of
 * samples that share (alpha, sigma) (a sampler's batch shares one time): the
 * same bits whether recomputed or reused, so a sample's result never depends
 * on its neighbours or on the chunking. */
typedef struct gmm_work {
    double *ws;            /* the pool's block, holding the arrays below */
    double *alpha, *sigma; /* SD_MARGINAL_CHUNK each: the chunk of the sample at hand */
    double *r;             /* K responsibilities */
    double *score;         /* D: one score row */
    double *dev;           /* D: g_k - s of one component */
    double *inv_c;         /* K x D: 1 / (alpha^2 v_kj + sigma^2) */
    double *log_norm;      /* K: ln w_k - (sum_j ln c_kj + D ln 2 pi) / 2 */
    double at_alpha, at_sigma; /* what inv_c and log_norm hold; NaN: nothing */
    const sd_gmm_state *at_s;  /* ... and for which mixture (a class's, or the null one) */
} gmm_work;

static int gmm_work_begin(const scoresde_model *m, gmm_work *w)
{
    /* The most components any sample's mixture has: the plain mixture's, or
     * the class-conditional one's null mixture, its state's first member
     * (whose pool serves every class). */
    sd_gmm_state *s = m->state;
    size_t K = s->K, D = m->dim;
    /* K x D doubles fit (the state holds two such arrays) */
    w->ws = sd_ws_pool_take(&s->pool, 2 * SD_MARGINAL_CHUNK + 2 * K + 2 * D + K * D);
    if (w->ws == NULL)
        return SCORESDE_ENOMEM;
    w->alpha = w->ws;
    w->sigma = w->alpha + SD_MARGINAL_CHUNK;
    w->r = w->sigma + SD_MARGINAL_CHUNK;
    w->log_norm = w->r + K;
    w->score = w->log_norm + K;
    w->dev = w->score + D;
    w->inv_c = w->dev + D;
    w->at_alpha = w->at_sigma = NAN;
    w->at_s = NULL;
    return SCORESDE_OK;
}

/* Sample i's (alpha, sigma) into *a, *sg (sd_model_marginal_in_chunks). */
static int gmm_marginal(const scoresde_model *m, gmm_work *w, const double *t, size_t n,
                        size_t i, double *a, double *sg)
{
    return sd_model_marginal_in_chunks(m, t, n, i, w->alpha, w->sigma, a, sg);
}

/* Return the workspace to the pool; passes rc through. */
static int gmm_work_end(const scoresde_model *m, gmm_work *w, int rc)
{
    sd_gmm_state *s = m->state;
    sd_ws_pool_give(&s->pool, w->ws);
    return rc;
}

static void gmm_coefficients(const sd_gmm_state *s, size_t D, gmm_work *w, double alpha,
                             double sigma)
{
    if (alpha == w->at_alpha && sigma == w->at_sigma && s == w->at_s)
        return;
    double a2 = alpha * alpha, s2 = sigma * sigma;
    for (size_t k = 0; k < s->K; k++) {
        const double *v = s->var + k * D;
        double logdet = 0.0;
        for (size_t j = 0; j < D; j++) {
            double c = a2 * v[j] + s2;
            w->inv_c[k * D + j] = 1.0 / c;
            logdet += log(c);
        }
        w->log_norm[k] = s->log_w[k] - 0.5 * (logdet + (double)D * LOG_2PI);
    }
    w->at_alpha = alpha;
    w->at_sigma = sigma;
    w->at_s = s;
}

/* The class-conditional mixture (its layout is documented at its
 * constructor below): the null mixture first, so that a pointer to the state
 * is a pointer to the largest mixture (gmm_work_begin relies on it), then one
 * view per class into the same means and variances. */
typedef struct sd_cgmm_state {
    sd_gmm_state all;   /* K x M components, weights pi_k w_km */
    size_t classes, M;
    double *cls_weight; /* K x M, normalised within each class */
    double *cls_log_w;  /* K x M */
    sd_gmm_state *cls;  /* K views: component block k of `all`, class weights */
} sd_cgmm_state;

/* The mixture sample i is scored under: the model's own (unconditional), the
 * null mixture, or its class's (a label already checked by sd_cond_resolve). */
static const sd_gmm_state *gmm_pick(const scoresde_model *m, const sd_cond *cond, size_t i)
{
    if (cond == NULL)
        return m->state;
    const sd_cgmm_state *c = m->state;
    if (sd_cond_is_null(cond, i))
        return &c->all;
    return &c->cls[(size_t)sd_cond_row(cond, i)[0]];
}

/* Responsibilities of one sample into w->r (a log-sum-exp, so they sum to 1
 * however far x lies from every component); returns ln p_t(x). */
static double gmm_responsibilities(const sd_gmm_state *s, size_t D, gmm_work *w,
                                   const double *x, double alpha)
{
    double top = -INFINITY;
    for (size_t k = 0; k < s->K; k++) {
        const double *mu = s->mean + k * D, *ic = w->inv_c + k * D;
        double acc = 0.0;
        for (size_t j = 0; j < D; j++) {
            double d = x[j] - alpha * mu[j];
            acc += d * d * ic[j];
        }
        w->r[k] = w->log_norm[k] - 0.5 * acc;
        top = fmax(top, w->r[k]);
    }
    double sum = 0.0;
    for (size_t k = 0; k < s->K; k++) {
        w->r[k] = exp(w->r[k] - top);
        sum += w->r[k];
    }
    for (size_t k = 0; k < s->K; k++)
        w->r[k] /= sum;
    return top + log(sum);
}

/* Coefficients, responsibilities and the score of sample x into w->score. */
static void gmm_score_one(const sd_gmm_state *s, size_t D, gmm_work *w, const double *x,
                          double alpha, double sigma)
{
    gmm_coefficients(s, D, w, alpha, sigma);
    gmm_responsibilities(s, D, w, x, alpha);
    for (size_t j = 0; j < D; j++)
        w->score[j] = 0.0;
    for (size_t k = 0; k < s->K; k++) {
        const double *mu = s->mean + k * D, *ic = w->inv_c + k * D;
        for (size_t j = 0; j < D; j++)
            w->score[j] -= w->r[k] * (x[j] - alpha * mu[j]) * ic[j];
    }
}

/* The shared loop of the score (into score_out, if not NULL) and the log
 * density (into logp otherwise). */
static int gmm_first_order(const scoresde_model *m, const double *x, const double *t, size_t n,
                           const sd_cond *cond, double *score_out, double *logp)
{
    size_t D = m->dim;
    gmm_work w;
    SD_TRY(gmm_work_begin(m, &w));
    int rc = SCORESDE_OK;
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        double a, sg;
        rc = gmm_marginal(m, &w, t, n, i, &a, &sg);
        if (rc != SCORESDE_OK)
            break;
        const sd_gmm_state *s = gmm_pick(m, cond, i);
        if (score_out) {
            gmm_score_one(s, D, &w, x + i * D, a, sg);
            memcpy(score_out + i * D, w.score, D * sizeof *score_out);
        } else {
            gmm_coefficients(s, D, &w, a, sg);
            logp[i] = gmm_responsibilities(s, D, &w, x + i * D, a);
        }
    }
    return gmm_work_end(m, &w, rc);
}

static int gmm_score(const scoresde_model *m, const double *x, const double *t, size_t n,
                     const sd_cond *cond, double *out)
{
    return gmm_first_order(m, x, t, n, cond, out, NULL);
}

static int gmm_log_density(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                           double *logp)
{
    return gmm_first_order(m, x, t, n, cond, NULL, logp);
}

/*
 * The shared loop of the divergence and the Jacobian products: per sample,
 * the score (into w.score), then per component k the centred component score
 * dev = g_k - s, from which
 *     div s  = sum_k r_k (||dev||^2 - sum_j 1/c_kj)          (div != NULL)
 *     J v    = sum_k r_k (dev (dev . v) - v / c_k)           (otherwise)
 * score_out, if not NULL, receives the score.
 */
static int gmm_second_order(const scoresde_model *m, const double *x, const double *t, size_t n,
                            const sd_cond *cond, const double *v, double *score_out, double *jv,
                            double *div)
{
    size_t D = m->dim;
    gmm_work w;
    SD_TRY(gmm_work_begin(m, &w));
    int rc = SCORESDE_OK;
    for (size_t i = 0; i < n && rc == SCORESDE_OK; i++) {
        const sd_gmm_state *s = gmm_pick(m, cond, i);
        double alpha, sg, acc = 0.0;
        rc = gmm_marginal(m, &w, t, n, i, &alpha, &sg);
        if (rc != SCORESDE_OK)
            break;
        const double *xi = x + i * D, *vi = div ? NULL : v + i * D;
        double *out = div ? NULL : jv + i * D;
        gmm_score_one(s, D, &w, xi, alpha, sg);
        for (size_t j = 0; out && j < D; j++)
            out[j] = 0.0;
        for (size_t k = 0; k < s->K; k++) {
            const double *mu = s->mean + k * D, *ic = w.inv_c + k * D;
            for (size_t j = 0; j < D; j++)
                w.dev[j] = -(xi[j] - alpha * mu[j]) * ic[j] - w.score[j];
            if (div) {
                double trace = 0.0, spread = 0.0;
                for (size_t j = 0; j < D; j++) {
                    trace += ic[j];
                    spread += w.dev[j] * w.dev[j];
                }
                acc += w.r[k] * (spread - trace);
            } else {
                double proj = 0.0;
                for (size_t j = 0; j < D; j++)
                    proj += w.dev[j] * vi[j];
                for (size_t j = 0; j < D; j++)
                    out[j] += w.r[k] * (w.dev[j] * proj - vi[j] * ic[j]);
            }
        }
        if (div)
            div[i] = acc;
        if (score_out)
            memcpy(score_out + i * D, w.score, D * sizeof *w.score);
    }
    return gmm_work_end(m, &w, rc);
}

static int gmm_divergence(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                          double *div)
{
    return gmm_second_order(m, x, t, n, cond, NULL, NULL, NULL, div);
}

static int gmm_jvp(const scoresde_model *m, const double *x, const double *t, size_t n, const sd_cond *cond,
                   const double *v, double *score_out, double *jv)
{
    return gmm_second_order(m, x, t, n, cond, v, score_out, jv, NULL);
}

static int gmm_sample(const scoresde_model *m, const double *t, size_t n, const sd_cond *cond, uint64_t seed,
                      uint64_t first_sample, double *x)
{
    size_t D = m->dim;
    double *alpha, *sigma;
    SD_TRY(sd_model_marginals(m, t, n, &alpha));
    sigma = alpha + n;
    for (size_t i = 0; i < n; i++) {
        const sd_gmm_state *s = gmm_pick(m, cond, i);
        double u, a = alpha[i];
        uint64_t stream = first_sample + i;
        sd_rng_uniform(seed, stream, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0), 1, &u);
        /* Offset 1 would share u's Philox block; the noise starts at the next. */
        double *xi = x + i * D;
        sd_rng_normal(seed, stream, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 2), D, xi);
        size_t k = 0;
        double cum = s->weight[0];
        while (k + 1 < s->K && !(u < cum))
            cum += s->weight[++k];
        const double *mu = s->mean + k * D, *v = s->var + k * D;
        for (size_t j = 0; j < D; j++)
            xi[j] = a * mu[j] + sqrt(a * a * v[j] + sigma[i] * sigma[i]) * xi[j];
    }
    sd_free(alpha);
    return SCORESDE_OK;
}

/*
 * The mixture's state in a model file (the payload the file layer puts in the
 * model's KIND section), little-endian:
 *     u64 K, u64 D,
 *     f64 weight[K]          (normalised: they sum to 1),
 *     f64 mean[K * D]        (component-major: mean[k*D + j]),
 *     f64 variance[K * D]    (diagonal covariances, > 0).
 * Exactly these bytes are read; what follows them is the caller's business.
 * Values are stored bit for bit, so a loaded model evaluates to the same bits.
 */
static int gmm_save_state(const scoresde_model *m, struct sd_writer *w)
{
    const sd_gmm_state *s = m->state;
    size_t KD = s->K * m->dim;
    sd_writer_put_u64(w, s->K);
    sd_writer_put_u64(w, m->dim);
    sd_writer_put_f64_array(w, s->weight, s->K);
    sd_writer_put_f64_array(w, s->mean, KD);
    sd_writer_put_f64_array(w, s->var, KD);
    return sd_writer_status(w);
}

static int gmm_load_state(scoresde_model *m, struct sd_reader *r, size_t n_params)
{
    (void)n_params; /* a mixture has no PARM section */
    uint64_t K, D;
    SD_TRY(sd_reader_get_u64(r, &K, "mixture component count"));
    SD_TRY(sd_reader_get_u64(r, &D, "mixture dimension"));
    if (D != m->dim)
        return sd_fail(SCORESDE_ECORRUPT, "the mixture has dimension %llu, the model %zu",
                       (unsigned long long)D, m->dim);
    if (K == 0)
        return sd_fail(SCORESDE_ECORRUPT, "the mixture has no components");
    /* Each component takes 8 (1 + 2 D) bytes; check before allocating. */
    if (m->dim > (SIZE_MAX / sizeof(double) - 1) / 2)
        return sd_fail(SCORESDE_ECORRUPT, "the mixture dimension %zu is too large", m->dim);
    SD_TRY(sd_reader_check_count(r, K, sizeof(double) * (1 + 2 * m->dim), "mixture components"));
    sd_gmm_state *s = gmm_alloc_state((size_t)K, m->dim);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    size_t KD = s->K * m->dim;
    int rc = sd_reader_get_f64_array(r, s->weight, s->K, "mixture weights");
    if (rc == SCORESDE_OK)
        rc = sd_reader_get_f64_array(r, s->mean, KD, "mixture means");
    if (rc == SCORESDE_OK)
        rc = sd_reader_get_f64_array(r, s->var, KD, "mixture variances");
    double total = 0.0;
    for (size_t k = 0; k < s->K && rc == SCORESDE_OK; k++) {
        if (!(isfinite(s->weight[k]) && s->weight[k] > 0.0))
            rc = sd_fail(SCORESDE_ECORRUPT, "mixture weight %zu is %g", k, s->weight[k]);
        total += s->weight[k];
        s->log_w[k] = log(s->weight[k]);
    }
    /* Saved weights are normalised; anything else is damage, and normalising
     * again would change their bits. */
    if (rc == SCORESDE_OK && !(fabs(total - 1.0) <= 1e-9))
        rc = sd_fail(SCORESDE_ECORRUPT, "the mixture weights sum to %.17g, not 1", total);
    for (size_t q = 0; q < KD && rc == SCORESDE_OK; q++) {
        if (!isfinite(s->mean[q]))
            rc = sd_fail(SCORESDE_ECORRUPT, "mixture mean %zu is %g", q, s->mean[q]);
        else if (!(isfinite(s->var[q]) && s->var[q] > 0.0))
            rc = sd_fail(SCORESDE_ECORRUPT, "mixture variance %zu is %g", q, s->var[q]);
    }
    if (rc != SCORESDE_OK) {
        gmm_free_state(s);
        return rc;
    }
    m->state = s;
    return SCORESDE_OK;
}

const sd_model_ops sd_model_gmm_ops = {
    .name = "Gaussian-mixture",
    .kind = SCORESDE_MODEL_GMM,
    .score = gmm_score,
    .divergence = gmm_divergence,
    .jvp = gmm_jvp,
    .log_density = gmm_log_density,
    .sample = gmm_sample,
    .clone_state = gmm_clone_state,
    .free_state = gmm_free_state,
    .save_state = gmm_save_state,
    .load_state = gmm_load_state,
};

/* The SDE must have a Gaussian marginal: ask for it once at T. */
int sd_model_require_marginal(const scoresde_sde *sde, const char *what)
{
    double T = scoresde_sde_end_time(sde), alpha, sigma;
    int rc = scoresde_sde_marginal(sde, &T, 1, &alpha, &sigma, NULL, NULL);
    if (rc == SCORESDE_EUNSUPPORTED)
        return sd_fail(SCORESDE_EUNSUPPORTED,
                       "%s needs an SDE with a Gaussian marginal; this SDE has none", what);
    return rc;
}

/* Positive finite weights (n of them, named `what`) and their sum. */
static int gmm_check_weights(const double *w, size_t n, const char *what, double *total)
{
    SD_TRY(sd_check_ptr(w, what));
    *total = 0.0;
    for (size_t k = 0; k < n; k++) {
        if (!(isfinite(w[k]) && w[k] > 0.0))
            return sd_fail(SCORESDE_EINVAL, "%s[%zu] (%g) is not a positive finite number", what,
                           k, w[k]);
        *total += w[k];
    }
    if (!isfinite(*total))
        return sd_fail(SCORESDE_EINVAL, "the %s sum to %g", what, *total);
    return SCORESDE_OK;
}

/* K components' means (finite) and diagonal variances (positive, finite). */
static int gmm_check_components(size_t K, size_t D, const double *means, const double *variances)
{
    SD_TRY(sd_check_batch(means, K, D, "means"));
    SD_TRY(sd_check_batch(variances, K, D, "variances"));
    SD_TRY(sd_check_finite(means, K * D, "means"));
    for (size_t q = 0; q < K * D; q++)
        if (!(isfinite(variances[q]) && variances[q] > 0.0))
            return sd_fail(SCORESDE_EINVAL,
                           "variances[%zu] (%g) (component %zu, coordinate %zu) is not a "
                           "positive finite number",
                           q, variances[q], q / D, q % D);
    return SCORESDE_OK;
}

int scoresde_model_create_gmm(scoresde_model **out, const scoresde_sde *sde, size_t K, size_t D,
                              const double *weights, const double *means,
                              const double *variances)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (K == 0)
        return sd_fail(SCORESDE_EINVAL, "K (the number of components) is zero");
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    double total;
    SD_TRY(gmm_check_weights(weights, K, "weights", &total));
    SD_TRY(gmm_check_components(K, D, means, variances));
    SD_TRY(sd_model_require_marginal(sde, "a Gaussian-mixture model"));

    sd_gmm_state *s = gmm_alloc_state(K, D);
    if (s == NULL)
        return SCORESDE_ENOMEM;
    for (size_t k = 0; k < K; k++) {
        s->weight[k] = weights[k] / total;
        s->log_w[k] = log(s->weight[k]);
    }
    memcpy(s->mean, means, K * D * sizeof(double));
    memcpy(s->var, variances, K * D * sizeof(double));
    return sd_model_create(out, &sd_model_gmm_ops, sde, D, s);
}

/* ------------------------------------------------ class-conditional mixture */

static void cgmm_free_state(void *state)
{
    sd_cgmm_state *c = state;
    if (c == NULL)
        return;
    sd_ws_pool_destroy(&c->all.pool);
    sd_free(c->all.weight);
    sd_free(c->all.log_w);
    sd_free(c->all.mean);
    sd_free(c->all.var);
    sd_free(c->cls_weight);
    sd_free(c->cls_log_w);
    sd_free(c->cls);
    sd_free(c);
}

/* The arrays of K classes of M components in D dimensions, and the views. */
static sd_cgmm_state *cgmm_alloc_state(size_t K, size_t M, size_t D)
{
    sd_cgmm_state *c = sd_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    size_t KM = K * M;
    c->all.K = KM;
    sd_ws_pool_init(&c->all.pool);
    c->classes = K;
    c->M = M;
    c->all.weight = sd_malloc(KM * sizeof(double));
    c->all.log_w = sd_malloc(KM * sizeof(double));
    c->all.mean = sd_malloc(KM * D * sizeof(double));
    c->all.var = sd_malloc(KM * D * sizeof(double));
    c->cls_weight = sd_malloc(KM * sizeof(double));
    c->cls_log_w = sd_malloc(KM * sizeof(double));
    c->cls = sd_calloc(K, sizeof *c->cls);
    if (!c->all.weight || !c->all.log_w || !c->all.mean || !c->all.var || !c->cls_weight ||
        !c->cls_log_w || !c->cls) {
        cgmm_free_state(c);
        return NULL;
    }
    for (size_t k = 0; k < K; k++)
        c->cls[k] = (sd_gmm_state){.K = M,
                                   .weight = c->cls_weight + k * M,
                                   .log_w = c->cls_log_w + k * M,
                                   .mean = c->all.mean + k * M * D,
                                   .var = c->all.var + k * M * D};
    return c;
}

static int cgmm_clone_state(const scoresde_model *src, void **out)
{
    const sd_cgmm_state *s = src->state;
    size_t KM = s->all.K, D = src->dim;
    sd_cgmm_state *c = cgmm_alloc_state(s->classes, s->M, D);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    memcpy(c->all.weight, s->all.weight, KM * sizeof(double));
    memcpy(c->all.log_w, s->all.log_w, KM * sizeof(double));
    memcpy(c->all.mean, s->all.mean, KM * D * sizeof(double));
    memcpy(c->all.var, s->all.var, KM * D * sizeof(double));
    memcpy(c->cls_weight, s->cls_weight, KM * sizeof(double));
    memcpy(c->cls_log_w, s->cls_log_w, KM * sizeof(double));
    *out = c;
    return SCORESDE_OK;
}

/* The mixture's evaluation functions, which pick each sample's mixture;
 * no files (save_state NULL: the kind cannot be saved). */
const sd_model_ops sd_model_cond_gmm_ops = {
    .name = "class-conditional Gaussian-mixture",
    .kind = SCORESDE_MODEL_COND_GMM,
    .score = gmm_score,
    .divergence = gmm_divergence,
    .jvp = gmm_jvp,
    .log_density = gmm_log_density,
    .sample = gmm_sample,
    .clone_state = cgmm_clone_state,
    .free_state = cgmm_free_state,
};

int scoresde_model_create_cond_gmm(scoresde_model **out, const scoresde_sde *sde, size_t K,
                                   size_t M, size_t D, const double *class_probs,
                                   const double *weights, const double *means,
                                   const double *variances)
{
    SD_TRY(sd_check_ptr(out, "out"));
    *out = NULL;
    SD_TRY(sd_check_ptr(sde, "sde"));
    if (K == 0)
        return sd_fail(SCORESDE_EINVAL, "K (the number of classes) is zero");
    if (M == 0)
        return sd_fail(SCORESDE_EINVAL, "M (the components per class) is zero");
    if (D == 0)
        return sd_fail(SCORESDE_EINVAL, "D (the dimension) is zero");
    size_t KM;
    SD_TRY(sd_mul_size(K, M, &KM, "K x M"));
    double ptotal, wtotal;
    SD_TRY(gmm_check_weights(class_probs, K, "class_probs", &ptotal));
    SD_TRY(gmm_check_weights(weights, KM, "weights", &wtotal));
    SD_TRY(gmm_check_components(KM, D, means, variances));
    SD_TRY(sd_model_require_marginal(sde, "a class-conditional Gaussian-mixture model"));

    sd_cgmm_state *c = cgmm_alloc_state(K, M, D);
    if (c == NULL)
        return SCORESDE_ENOMEM;
    for (size_t k = 0; k < K; k++) {
        double sum = 0.0, pk = class_probs[k] / ptotal;
        for (size_t q = k * M; q < (k + 1) * M; q++)
            sum += weights[q];
        for (size_t q = k * M; q < (k + 1) * M; q++) {
            c->cls_weight[q] = weights[q] / sum;
            c->cls_log_w[q] = log(c->cls_weight[q]);
            c->all.weight[q] = pk * c->cls_weight[q];
            c->all.log_w[q] = log(c->all.weight[q]);
        }
    }
    memcpy(c->all.mean, means, KM * D * sizeof(double));
    memcpy(c->all.var, variances, KM * D * sizeof(double));
    SD_TRY(sd_model_create(out, &sd_model_cond_gmm_ops, sde, D, c));
    (*out)->cond_dim = 1;
    (*out)->cond_labels = K;
    (*out)->cond_null = 1;
    return SCORESDE_OK;
}
