/*
 * scoresde-demo: learn a 2-D distribution with a score network, end to end.
 *
 * With no arguments the demo
 *   1. draws a swiss roll from the library's counter-based generator (training
 *      set, a held-out test set, and a second held-out set as the noise floor);
 *   2. trains an MLP score network under the VP SDE with denoising score
 *      matching (Adam, warm-up, clipping, an EMA of the weights), showing
 *      progress on the terminal;
 *   3. samples with the predictor-corrector sampler (reverse diffusion +
 *      Langevin) and with the probability-flow ODE (Dormand-Prince), and
 *      follows a few ODE trajectories from the prior to the data;
 *   4. reports the held-out negative log-likelihood in bits per dimension
 *      (through the probability-flow ODE, exact divergence) and the sliced
 *      Wasserstein distance of each sample set to the test set, next to the
 *      same distance for the second held-out set (the floor a perfect model
 *      would reach at this sample size) and for the prior (where it started);
 *   5. writes <out>/demo.svg (data, PC samples, ODE samples, trajectories side
 *      by side), <out>/samples.csv and the trained model <out>/model.scoresde.
 * Flags change the data set, SDE, loss, samplers, sizes and paths: --help.
 *
 * Exit status: 0 on success, 1 if the samples came out no closer to the data
 * than half the prior's distance (training failed), 2 on bad usage or a
 * library error (the library's message is printed).
 *
 * Only the public API is used: copy from it freely.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <scoresde.h>

#include "svg.h"

#ifndef M_LN2
#define M_LN2 0.69314718055994530942
#endif
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { D = 2, N_DIRECTIONS = 128, N_TRAJ = 24, TRAJ_POINTS = 81 };

static const char *const dataset_names[] = {"swissroll", "moons", "8gaussians", "checkerboard",
                                            "rings"};
static const char *const dataset_titles[] = {"swiss roll", "two moons", "eight Gaussians",
                                             "checkerboard", "rings"};
enum { N_DATASETS = 5 };

typedef struct options {
    int dataset;
    const char *sde, *loss, *predictor, *corrector, *solver, *out, *net;
    long long train_steps, batch, width, depth, train_size, samples, pc_steps, ode_steps,
        threads, nll_samples;
    double lr;
    unsigned long long seed;
    int quiet;
} options;

static void usage(FILE *to)
{
    fprintf(to,
        "usage: scoresde-demo [options]\n"
        "Train a score network on a 2-D data set, sample it two ways, measure it,\n"
        "and draw it. Defaults take about a minute and a half on two cores.\n"
        "\n"
        "data and model\n"
        "  --dataset NAME    swissroll (default), moons, 8gaussians, checkerboard, rings\n"
        "  --sde NAME        vp (default; beta 0.1..20), subvp (same betas),\n"
        "                    ve (sigma 0.01..10: the data span a few units)\n"
        "  --loss NAME       dsm (default; lambda = sigma^2), dsm-likelihood (lambda = g^2),\n"
        "                    ssm (sliced score matching at a noise level), ssm-vr,\n"
        "                    ddpm (epsilon loss on 1000 levels; vp only)\n"
        "  --net NAME        mlp (default; noise prediction) or resmlp (residual blocks\n"
        "                    with LayerNorm, EDM preconditioning with sigma_data 1)\n"
        "  --width N         hidden width of the network (default 128)\n"
        "  --depth N         hidden layers of the MLP, residual blocks of resmlp (default 3)\n"
        "training\n"
        "  --steps N         Adam steps (default 8000)\n"
        "  --batch N         minibatch size (default 256)\n"
        "  --lr X            learning rate (default 2e-3; 100 warm-up steps, clip 1,\n"
        "                    EMA 0.999)\n"
        "  --train-size N    training points (default 20000)\n"
        "sampling and evaluation\n"
        "  --samples N       samples per sampler = size of each held-out set (default 2000)\n"
        "  --predictor NAME  PC predictor: reverse-diffusion (default), euler-maruyama,\n"
        "                    ancestral, none\n"
        "  --corrector NAME  PC corrector: langevin (default; SNR 0.16, batch norms),\n"
        "                    annealed, none\n"
        "  --pc-steps N      PC grid steps (default 500; one corrector step each)\n"
        "  --solver NAME     ODE solver: dopri5 (default; rtol = atol = 1e-5), rk4, heun,\n"
        "                    euler\n"
        "  --ode-steps N     steps of the fixed-step solvers (default 100)\n"
        "  --nll-samples N   held-out points for the likelihood (default 500)\n"
        "running\n"
        "  --threads N       threads of the samplers (default 2; training uses one)\n"
        "  --seed S          seed of everything random (default 2021)\n"
        "  --out DIR         output directory (default ./scoresde-demo-out; created)\n"
        "  --quiet           no progress display\n"
        "  --help            this text\n"
        "\n"
        "Outputs: DIR/demo.svg (open it in a browser), DIR/samples.csv (columns\n"
        "set,x,y with set = data, pc, ode) and DIR/model.scoresde (the EMA weights;\n"
        "scoresde_model_load reads it back).\n"
        "Exit status: 0 on success, 1 if a sampler's sliced Wasserstein distance to\n"
        "the data is not below half the prior's, 2 on bad usage or a library error.\n");
}

/* ----------------------------------------------------------------- errors */

static int lib_fail(const char *what, int rc)
{
    fprintf(stderr, "\nscoresde-demo: %s failed: %s: %s\n", what, scoresde_strerror(rc),
            scoresde_last_error());
    return 2;
}

/* Evaluate a library call; on failure report it and jump to the cleanup. */
#define TRY(what, call)                                                                        \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != SCORESDE_OK) {                                                              \
            status = lib_fail(what, rc_);                                                      \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------- data */

/* Point i of a set is drawn from Philox stream first + i: the four uniforms at
 * MODEL offsets 0..3 and two normals at offsets 4..5. The sets use disjoint
 * stream ranges, so they are independent and each is reproducible alone. */
static int make_data(int dataset, double *x, size_t n, uint64_t seed, uint64_t first)
{
    for (size_t i = 0; i < n; i++) {
        double u[4], z[2], px, py;
        int rc = scoresde_rng_uniform(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 0),
                                      4, u);
        if (rc == SCORESDE_OK)
            rc = scoresde_rng_normal(seed, first + i, SCORESDE_RNG_OFFSET(SCORESDE_RNG_MODEL, 4),
                                     2, z);
        if (rc != SCORESDE_OK)
            return rc;
        switch (dataset) {
        case 0: { /* swiss roll: one and a half turns of a spiral */
            double t = 1.5 * M_PI * (1.0 + 2.0 * u[0]);
            px = t * cos(t) / 5.0 + 0.05 * z[0];
            py = t * sin(t) / 5.0 + 0.05 * z[1];
            break;
        }
        case 1: { /* two interleaved half circles, centred */
            double a = M_PI * u[0];
            int upper = u[1] < 0.5;
            px = 1.6 * ((upper ? cos(a) : 1.0 - cos(a)) - 0.5) + 0.08 * z[0];
            py = 1.6 * ((upper ? sin(a) : 0.5 - sin(a)) - 0.25) + 0.08 * z[1];
            break;
        }
        case 2: { /* eight Gaussians on a circle of radius 2 */
            double a = 2.0 * M_PI * floor(8.0 * u[0]) / 8.0;
            px = 2.0 * cos(a) + 0.15 * z[0];
            py = 2.0 * sin(a) + 0.15 * z[1];
            break;
        }
        case 3: { /* the 8 dark squares of a 4 x 4 board on [-2, 2]^2 */
            int k = (int)floor(8.0 * u[0]);
            k = k > 7 ? 7 : k;
            int row = k / 2, col = 2 * (k % 2) + row % 2;
            px = -2.0 + col + u[1];
            py = -2.0 + row + u[2];
            break;
        }
        default: { /* three rings, mass proportional to the radius */
            static const double radius[3] = {0.7, 1.5, 2.3};
            double c = u[0] * (0.7 + 1.5 + 2.3);
            int r = c < 0.7 ? 0 : c < 2.2 ? 1 : 2;
            double a = 2.0 * M_PI * u[1], rad = radius[r] + 0.06 * z[0];
            px = rad * cos(a);
            py = rad * sin(a);
            break;
        }
        }
        x[i * D] = px;
        x[i * D + 1] = py;
    }
    return SCORESDE_OK;
}

/* ----------------------------------------------------------------- metrics */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sliced 2-Wasserstein distance between two sets of n points: the root mean,
 * over N_DIRECTIONS evenly spaced directions, of the squared W2 distance of
 * the projections (in 1-D, W2 pairs the sorted values). work: 2n doubles. */
static double sliced_w2(const double *a, const double *b, size_t n, double *work)
{
    double *pa = work, *pb = work + n, total = 0.0;
    for (int k = 0; k < N_DIRECTIONS; k++) {
        double th = M_PI * (k + 0.5) / N_DIRECTIONS, c = cos(th), s = sin(th);
        for (size_t i = 0; i < n; i++) {
            pa[i] = c * a[i * D] + s * a[i * D + 1];
            pb[i] = c * b[i * D] + s * b[i * D + 1];
        }
        qsort(pa, n, sizeof *pa, cmp_double);
        qsort(pb, n, sizeof *pb, cmp_double);
        double w = 0.0;
        for (size_t i = 0; i < n; i++)
            w += (pa[i] - pb[i]) * (pa[i] - pb[i]);
        total += w / (double)n;
    }
    return sqrt(total / N_DIRECTIONS);
}

/* ln N(x; m, C) of a 2-D Gaussian fitted to `fit`, averaged over `x`: the
 * likelihood a model that knew only the mean and covariance would reach. */
static double gaussian_fit_logp(const double *fit, size_t nf, const double *x, size_t n)
{
    double m0 = 0, m1 = 0, c00 = 0, c01 = 0, c11 = 0;
    for (size_t i = 0; i < nf; i++) {
        m0 += fit[i * D];
        m1 += fit[i * D + 1];
    }
    m0 /= (double)nf;
    m1 /= (double)nf;
    for (size_t i = 0; i < nf; i++) {
        double a = fit[i * D] - m0, b = fit[i * D + 1] - m1;
        c00 += a * a;
        c01 += a * b;
        c11 += b * b;
    }
    c00 /= (double)nf;
    c01 /= (double)nf;
    c11 /= (double)nf;
    double det = c00 * c11 - c01 * c01, sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = x[i * D] - m0, b = x[i * D + 1] - m1;
        double q = (c11 * a * a - 2.0 * c01 * a * b + c00 * b * b) / det;
        sum += -0.5 * q - 0.5 * log(det) - log(2.0 * M_PI);
    }
    return sum / (double)n;
}

/* ----------------------------------------------------------------- progress */

typedef struct progress {
    int tty, quiet;
    const char *label;
    uint64_t total;
    double start;
} progress;

static int train_progress(uint64_t step, double loss, double ema_loss, void *user)
{
    progress *p = user;
    if (p->quiet)
        return 0;
    double el = now() - p->start;
    if (p->tty) {
        if (step % 25 == 0 || step == p->total)
            fprintf(stderr, "\r  training  %6llu / %llu  loss %.4f (EMA %.4f)  %5.1f s ",
                    (unsigned long long)step, (unsigned long long)p->total, loss, ema_loss, el);
    } else if (step % (p->total / 10 > 0 ? p->total / 10 : 1) == 0 || step == p->total) {
        fprintf(stderr, "  training  %6llu / %llu  loss %.4f (EMA %.4f)  %5.1f s\n",
                (unsigned long long)step, (unsigned long long)p->total, loss, ema_loss, el);
    }
    return 0;
}

/* Samplers report steps; only a terminal gets the running line. */
static int sample_progress(uint64_t step, double t, uint64_t nfe, void *user)
{
    progress *p = user;
    if (!p->quiet && p->tty && (step % 10 == 0))
        fprintf(stderr, "\r  %-12s step %5llu  t = %.4f  NFE %6llu  %5.1f s ", p->label,
                (unsigned long long)step, t, (unsigned long long)nfe, now() - p->start);
    return 0;
}

static void progress_end(const progress *p)
{
    if (!p->quiet && p->tty)
        fprintf(stderr, "\r%78s\r", "");
}

/* ----------------------------------------------------------------- SVG */

/* The drawing primitives (panels, points, text) are shared with the scoresde
 * tool's `plot`: bindings/cli/svg.h. */
typedef struct view {
    double lo, hi; /* the square [lo, hi]^2 is shown */
    double size;   /* panel side in pixels */
} view;

/* Panel k of the row of panels. */
static svg_view panel_at(const view *v, double x0, double y0)
{
    return (svg_view){v->lo, v->hi, v->lo, v->hi, x0, y0, v->size, v->size};
}

static int write_svg(const char *path, const view *v, const double *data, const double *pc,
                     const double *ode, size_t n, const double *traj, const char *dataset,
                     const char *sde, double sw_data, double sw_pc, double sw_ode, double bpd)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "scoresde-demo: cannot write %s: %s\n", path, strerror(errno));
        return 2;
    }
    const double gap = 26, top = 78, left = 16;
    double W = left * 2 + 4 * v->size + 3 * gap, H = top + v->size + 44;
    svg_begin(f, W, H);
    for (int k = 0; k < 4; k++) {
        svg_view p = panel_at(v, left + k * (v->size + gap), top);
        svg_clip(f, k, &p);
    }
    fprintf(f,
            "<text x='%.1f' y='24' font-size='19' font-weight='700' fill='#111'>libscoresde: "
            "a score network learns the %s (%s SDE, denoising score matching)</text>\n",
            left, dataset, sde);
    char sub[4][96];
    snprintf(sub[0], sizeof sub[0], "held-out data (noise floor SW %.3f)", sw_data);
    snprintf(sub[1], sizeof sub[1], "predictor-corrector (SW %.3f)", sw_pc);
    snprintf(sub[2], sizeof sub[2], "probability-flow ODE (SW %.3f)", sw_ode);
    snprintf(sub[3], sizeof sub[3], "prior (hollow) to data (dot)");
    const char *title[4] = {"Data", "PC samples", "ODE samples", "ODE trajectories"};
    const char *color[3] = {"#3b5b92", "#d9622b", "#2a9d6f"};
    const double *sets[3] = {data, pc, ode};
    for (int k = 0; k < 4; k++) {
        svg_view pv = panel_at(v, left + k * (v->size + gap), top);
        svg_panel(f, &pv, title[k], sub[k], k);
        if (k < 3) {
            svg_points(f, &pv, sets[k], n, D, 0, 1, color[k], 1.6, 0.45);
        } else {
            svg_points(f, &pv, data, n, D, 0, 1, "#9aa3b5", 1.3, 0.25);
            for (int j = 0; j < N_TRAJ; j++) {
                double hue = 360.0 * j / N_TRAJ;
                fprintf(f,
                        "<polyline fill='none' stroke='hsl(%.0f,70%%,42%%)' stroke-width='1.4' "
                        "stroke-opacity='0.85' points='",
                        hue);
                for (int p = 0; p < TRAJ_POINTS; p++) {
                    const double *q = traj + ((size_t)p * N_TRAJ + (size_t)j) * D;
                    fprintf(f, "%.1f,%.1f ", svg_px(&pv, q[0]), svg_py(&pv, q[1]));
                }
                fprintf(f, "'/>\n");
                const double *s = traj + (size_t)j * D;
                const double *e = traj + ((size_t)(TRAJ_POINTS - 1) * N_TRAJ + (size_t)j) * D;
                fprintf(f,
                        "<circle cx='%.1f' cy='%.1f' r='3.2' fill='white' "
                        "stroke='hsl(%.0f,70%%,42%%)' stroke-width='1.4'/>\n",
                        svg_px(&pv, s[0]), svg_py(&pv, s[1]), hue);
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3.2' fill='hsl(%.0f,70%%,42%%)'/>\n",
                        svg_px(&pv, e[0]), svg_py(&pv, e[1]), hue);
            }
        }
        svg_group_end(f);
    }
    fprintf(f,
            "<text x='%.1f' y='%.1f' font-size='12.5' fill='#555'>SW: sliced Wasserstein "
            "distance to a held-out test set (lower is better; the data panel's is a second "
            "held-out set, the best reachable). Held-out NLL %.3f bits/dim. Square [%.1f, "
            "%.1f]^2.</text>\n",
            left, top + v->size + 28, bpd, v->lo, v->hi);
    svg_end(f);
    if (fclose(f) != 0) {
        fprintf(stderr, "scoresde-demo: writing %s failed: %s\n", path, strerror(errno));
        return 2;
    }
    return 0;
}

static int write_csv(const char *path, const double *data, const double *pc, const double *ode,
                     size_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "scoresde-demo: cannot write %s: %s\n", path, strerror(errno));
        return 2;
    }
    fprintf(f, "set,x,y\n");
    const char *name[3] = {"data", "pc", "ode"};
    const double *sets[3] = {data, pc, ode};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s,%.17g,%.17g\n", name[k], sets[k][i * D], sets[k][i * D + 1]);
    if (fclose(f) != 0) {
        fprintf(stderr, "scoresde-demo: writing %s failed: %s\n", path, strerror(errno));
        return 2;
    }
    return 0;
}

/* ----------------------------------------------------------------- arguments */

static int lookup(const char *value, const char *const *names, int count)
{
    for (int k = 0; k < count; k++)
        if (strcmp(value, names[k]) == 0)
            return k;
    return -1;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const char *const int_flags[] = {"--steps",   "--batch",   "--width",    "--depth",
                                            "--train-size", "--samples", "--pc-steps",
                                            "--ode-steps", "--threads", "--nll-samples"};
    long long *int_dest[] = {&o->train_steps, &o->batch,   &o->width,     &o->depth,
                             &o->train_size,  &o->samples, &o->pc_steps,  &o->ode_steps,
                             &o->threads,     &o->nll_samples};
    static const long long int_max[] = {10000000, 65536, 4096, 16, 10000000, 1000000, 100000,
                                        100000,   1024,  1000000};
    for (int a = 1; a < argc; a++) {
        const char *f = argv[a];
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(f, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "scoresde-demo: unknown argument '%s' (or a value is missing)\n", f);
            return -1;
        }
        const char *v = argv[++a];
        int k = lookup(f, int_flags, (int)(sizeof int_flags / sizeof *int_flags));
        if (k >= 0) {
            char *end;
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || x < 1 || x > int_max[k]) {
                fprintf(stderr, "scoresde-demo: %s needs an integer in [1, %lld], not '%s'\n", f,
                        int_max[k], v);
                return -1;
            }
            *int_dest[k] = x;
        } else if (strcmp(f, "--seed") == 0) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v || v[0] == '-') {
                fprintf(stderr, "scoresde-demo: --seed needs a non-negative integer, not '%s'\n", v);
                return -1;
            }
        } else if (strcmp(f, "--lr") == 0) {
            char *end;
            o->lr = strtod(v, &end);
            if (*end != '\0' || end == v || !(o->lr > 0.0 && o->lr <= 10.0)) {
                fprintf(stderr, "scoresde-demo: --lr needs a number in (0, 10], not '%s'\n", v);
                return -1;
            }
        } else if (strcmp(f, "--dataset") == 0) {
            o->dataset = lookup(v, dataset_names, N_DATASETS);
            if (o->dataset < 0) {
                fprintf(stderr, "scoresde-demo: unknown data set '%s'\n", v);
                return -1;
            }
        } else if (strcmp(f, "--sde") == 0) {
            o->sde = v;
        } else if (strcmp(f, "--net") == 0) {
            if (strcmp(v, "mlp") != 0 && strcmp(v, "resmlp") != 0) {
                fprintf(stderr, "scoresde-demo: --net is mlp or resmlp, not '%s'\n", v);
                return -1;
            }
            o->net = v;
        } else if (strcmp(f, "--loss") == 0) {
            o->loss = v;
        } else if (strcmp(f, "--predictor") == 0) {
            o->predictor = v;
        } else if (strcmp(f, "--corrector") == 0) {
            o->corrector = v;
        } else if (strcmp(f, "--solver") == 0) {
            o->solver = v;
        } else if (strcmp(f, "--out") == 0) {
            o->out = v;
        } else {
            fprintf(stderr, "scoresde-demo: unknown argument '%s'\n", f);
            return -1;
        }
    }
    return 0;
}

/* The demo's own choices of SDE and loss (the sampler's names are the library's). */
static const char *const sde_names[] = {"vp", "subvp", "ve"};
static const char *const loss_names[] = {"dsm", "dsm-likelihood", "ssm", "ssm-vr", "ddpm"};

/* A sampler setting's value by the library's own name of it
 * (scoresde_sampler_value_id; '-' stands for '_' on the command line), or -1
 * after printing the library's message, which lists the names. */
static int choose_value(const char *flag, int setting, const char *value)
{
    char name[64];
    size_t k = 0;
    for (; value[k] != '\0' && k + 1 < sizeof name; k++)
        name[k] = value[k] == '-' ? '_' : value[k];
    name[k] = '\0';
    int v;
    if (scoresde_sampler_value_id(setting, name, &v) == SCORESDE_OK)
        return v;
    fprintf(stderr, "scoresde-demo: %s: %s\n", flag, scoresde_last_error());
    return -1;
}

static int choose(const char *flag, const char *value, const char *const *names, int count)
{
    int k = lookup(value, names, count);
    if (k < 0) {
        fprintf(stderr, "scoresde-demo: %s: unknown value '%s' (one of:", flag, value);
        for (int j = 0; j < count; j++)
            fprintf(stderr, " %s", names[j]);
        fprintf(stderr, ")\n");
    }
    return k;
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    options o = {.dataset = 0,
                 .sde = "vp",
                 .net = "mlp",
                 .loss = "dsm",
                 .predictor = "reverse-diffusion",
                 .corrector = "langevin",
                 .solver = "dopri5",
                 .out = "scoresde-demo-out",
                 .train_steps = 8000,
                 .batch = 256,
                 .width = 128,
                 .depth = 3,
                 .train_size = 20000,
                 .samples = 2000,
                 .pc_steps = 500,
                 .ode_steps = 100,
                 .threads = 2,
                 .nll_samples = 500,
                 .lr = 2e-3,
                 .seed = 2021};
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "(scoresde-demo --help lists the options)\n");
        return 2;
    }
    int sde_k = choose("--sde", o.sde, sde_names, 3);
    int loss_k = choose("--loss", o.loss, loss_names, 5);
    int pred_k = choose_value("--predictor", SCORESDE_SAMPLER_PREDICTOR, o.predictor);
    int corr_k = choose_value("--corrector", SCORESDE_SAMPLER_CORRECTOR, o.corrector);
    int solv_k = choose_value("--solver", SCORESDE_SAMPLER_SOLVER, o.solver);
    if (sde_k < 0 || loss_k < 0 || pred_k < 0 || corr_k < 0 || solv_k < 0)
        return 2;
    if (loss_k == 4 && sde_k != 0) {
        fprintf(stderr, "scoresde-demo: --loss ddpm needs --sde vp\n");
        return 2;
    }
    if (o.samples < 2) {
        fprintf(stderr, "scoresde-demo: --samples must be at least 2\n");
        return 2;
    }
    if (o.nll_samples > o.samples)
        o.nll_samples = o.samples;

    const size_t n = (size_t)o.samples, m = (size_t)o.train_size;
    int status = 0, tty = isatty(fileno(stderr));
    char path_svg[4096], path_csv[4096], path_model[4096];
    scoresde_sde *sde = NULL;
    scoresde_model *net = NULL, *ema = NULL;
    scoresde_loss *loss = NULL;
    scoresde_trainer *trainer = NULL;
    scoresde_sampler *pc = NULL, *ode = NULL, *traj_s = NULL, *nll_s = NULL;
    double *train = malloc(m * D * sizeof *train);
    double *test = malloc(n * D * sizeof *test), *test2 = malloc(n * D * sizeof *test2);
    double *x_pc = malloc(n * D * sizeof *x_pc), *x_ode = malloc(n * D * sizeof *x_ode);
    double *x_prior = malloc(n * D * sizeof *x_prior), *work = malloc(2 * n * sizeof *work);
    double *logp = malloc(n * sizeof *logp);
    double *traj = malloc((size_t)TRAJ_POINTS * N_TRAJ * D * sizeof *traj);
    if (!train || !test || !test2 || !x_pc || !x_ode || !x_prior || !work || !logp || !traj) {
        fprintf(stderr, "scoresde-demo: out of memory\n");
        status = 2;
        goto done;
    }
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "scoresde-demo: cannot create %s: %s\n", o.out, strerror(errno));
        status = 2;
        goto done;
    }
    snprintf(path_svg, sizeof path_svg, "%s/demo.svg", o.out);
    snprintf(path_csv, sizeof path_csv, "%s/samples.csv", o.out);
    snprintf(path_model, sizeof path_model, "%s/model.scoresde", o.out);

    /* Data: three independent sets from disjoint stream ranges. */
    const uint64_t data_seed = o.seed;
    TRY("making the training set", make_data(o.dataset, train, m, data_seed, 0));
    TRY("making the test set", make_data(o.dataset, test, n, data_seed, 1ull << 40));
    TRY("making the second test set", make_data(o.dataset, test2, n, data_seed, 2ull << 40));

    /* The SDE. VE's published sigma_max = 50 is for images; 10 covers these
     * data (the prior must swamp the data's spread: max distance ~ 6). */
    if (sde_k == 0)
        TRY("creating the VP SDE", scoresde_sde_create_vp(&sde, 0.1, 20.0));
    else if (sde_k == 1)
        TRY("creating the sub-VP SDE", scoresde_sde_create_subvp(&sde, 0.1, 20.0));
    else
        TRY("creating the VE SDE", scoresde_sde_create_ve(&sde, 0.01, 10.0));

    /* The network: noise prediction with the SDE's default time embedding. */
    scoresde_mlp_options mo;
    TRY("initialising the MLP options", scoresde_model_mlp_options_init(&mo, sizeof mo));
    mo.n_hidden = (size_t)o.depth;
    size_t widths[SCORESDE_MLP_MAX_HIDDEN]; /* read and copied by create_mlp */
    for (size_t l = 0; l < mo.n_hidden; l++)
        widths[l] = (size_t)o.width;
    mo.widths = widths;
    mo.output = SCORESDE_MLP_OUTPUT_NOISE;
    mo.seed = o.seed;
    /* One thread per network evaluation: a training batch of a few hundred
     * rows is too small to split (measured: 2 threads made each step ~15x
     * slower on a busy 2-core machine). --threads goes to the samplers,
     * which run whole blocks of samples in parallel. */
    mo.n_threads = 1;
    if (strcmp(o.net, "resmlp") == 0) {
        /* The residual network: --depth blocks of --width, EDM's c_in and
         * c_skip around it (its final LayerNorm takes the scale out of its
         * output, which noise prediction would need). */
        scoresde_resmlp_options ro;
        TRY("initialising the residual MLP options",
            scoresde_model_resmlp_options_init(&ro, sizeof ro));
        ro.width = (size_t)o.width;
        ro.blocks = (size_t)o.depth;
        ro.output = SCORESDE_MLP_OUTPUT_EDM;
        ro.sigma_data = 1.0;
        ro.seed = o.seed;
        ro.n_threads = 1;
        TRY("creating the residual MLP", scoresde_model_create_resmlp(&net, sde, D, &ro));
    } else {
        TRY("creating the MLP", scoresde_model_create_mlp(&net, sde, D, &mo));
    }

    /* The loss. */
    static const int loss_kind[] = {SCORESDE_LOSS_DSM, SCORESDE_LOSS_DSM, SCORESDE_LOSS_SSM,
                                    SCORESDE_LOSS_SSM_VR, SCORESDE_LOSS_DDPM};
    TRY("creating the loss", scoresde_loss_create(&loss, loss_kind[loss_k]));
    if (loss_k == 1)
        TRY("setting the weighting",
            scoresde_loss_set_int(loss, SCORESDE_LOSS_WEIGHTING, SCORESDE_LOSS_WEIGHT_G2));
    if (loss_k == 2 || loss_k == 3)
        TRY("setting the time mode",
            scoresde_loss_set_int(loss, SCORESDE_LOSS_TIME_MODE, SCORESDE_LOSS_TIME_UNIFORM));

    /* The trainer. */
    TRY("creating the trainer", scoresde_trainer_create(&trainer, net, loss));
    TRY("setting LR", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_LR, o.lr));
    TRY("setting WARMUP", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_WARMUP, 100));
    TRY("setting EMA_RATE", scoresde_trainer_set_double(trainer, SCORESDE_TRAIN_EMA_RATE, 0.999));
    TRY("setting BATCH", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_BATCH, o.batch));
    TRY("setting SEED", scoresde_trainer_set_int(trainer, SCORESDE_TRAIN_SEED, (int64_t)o.seed));

    printf("scoresde-demo: %s, %s SDE, %s loss; MLP %lldx%lld (%zu parameters), %lld threads\n",
           dataset_names[o.dataset], o.sde, o.loss, o.depth, o.width,
           scoresde_trainer_num_params(trainer), o.threads);
    printf("training on %zu points for %lld steps of %lld, lr %g\n", m, o.train_steps, o.batch,
           o.lr);
    fflush(stdout);
    double t0 = now();
    progress pr = {.tty = tty, .quiet = o.quiet, .label = "", .total = (uint64_t)o.train_steps,
                   .start = t0};
    TRY("training", scoresde_trainer_fit(trainer, train, m, D, (uint64_t)o.train_steps,
                                         train_progress, &pr));
    progress_end(&pr);
    double t_train = now() - t0;
    TRY("exporting the EMA model", scoresde_trainer_export(&ema, trainer, SCORESDE_TRAIN_EXPORT_EMA));
    printf("trained in %.1f s\n", t_train);
    fflush(stdout);

    /* Predictor-corrector sampling. */
    scoresde_sampler_stats st_pc = {.struct_size = sizeof st_pc};
    scoresde_sampler_stats st_ode = {.struct_size = sizeof st_ode};
    scoresde_sampler_stats st_nll = {.struct_size = sizeof st_nll};
    TRY("creating the PC sampler", scoresde_sampler_create(&pc, SCORESDE_SAMPLER_PC));
    TRY("setting STEPS", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_STEPS, o.pc_steps));
    TRY("setting PREDICTOR", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_PREDICTOR, pred_k));
    TRY("setting CORRECTOR", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_CORRECTOR, corr_k));
    /* In two dimensions per-sample Langevin norms bias the result (sampler.h);
     * the batch norms of score_sde are the better choice here. */
    TRY("setting BATCH_NORMS", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_BATCH_NORMS, 1));
    TRY("setting BLOCK", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_BLOCK, 256));
    TRY("setting THREADS", scoresde_sampler_set_int(pc, SCORESDE_SAMPLER_THREADS, o.threads));
    pr.label = "PC sampling";
    pr.start = t0 = now();
    TRY("setting the progress hook", scoresde_sampler_set_progress(pc, sample_progress, &pr));
    TRY("PC sampling", scoresde_sampler_sample(pc, ema, NULL, n, D, o.seed, 0, x_pc, &st_pc));
    progress_end(&pr);
    double t_pc = now() - t0;

    /* Probability-flow ODE sampling, from the same prior draws. */
    TRY("creating the ODE sampler", scoresde_sampler_create(&ode, SCORESDE_SAMPLER_ODE));
    TRY("setting SOLVER", scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_SOLVER, solv_k));
    TRY("setting STEPS", scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_STEPS, o.ode_steps));
    TRY("setting BLOCK", scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_BLOCK, 256));
    TRY("setting THREADS", scoresde_sampler_set_int(ode, SCORESDE_SAMPLER_THREADS, o.threads));
    pr.label = "ODE sampling";
    pr.start = t0 = now();
    TRY("setting the progress hook", scoresde_sampler_set_progress(ode, sample_progress, &pr));
    TRY("ODE sampling", scoresde_sampler_sample(ode, ema, NULL, n, D, o.seed, 0, x_ode, &st_ode));
    progress_end(&pr);
    double t_ode = now() - t0;

    /* Trajectories: the ODE in TRAJ_POINTS - 1 pieces of two RK4 steps on a
     * grid uniform in t, each piece started where the last one ended. */
    TRY("creating the trajectory sampler", scoresde_sampler_create(&traj_s, SCORESDE_SAMPLER_ODE));
    TRY("setting SOLVER",
        scoresde_sampler_set_int(traj_s, SCORESDE_SAMPLER_SOLVER, SCORESDE_SAMPLER_SOLVER_RK4));
    TRY("drawing trajectory starts",
        scoresde_sde_prior_sample(sde, N_TRAJ, D, o.seed, 0, 0, traj));
    {
        const double T = scoresde_sde_end_time(sde), eps = scoresde_sde_sampling_eps(sde);
        for (int p = 1; p < TRAJ_POINTS; p++) {
            double a = T + (eps - T) * (p - 1) / (TRAJ_POINTS - 1);
            double b = T + (eps - T) * p / (TRAJ_POINTS - 1);
            double grid[3] = {a, 0.5 * (a + b), b};
            TRY("setting the trajectory grid", scoresde_sampler_set_grid(traj_s, grid, 3));
            TRY("following trajectories",
                scoresde_sampler_sample(traj_s, ema, traj + (size_t)(p - 1) * N_TRAJ * D, N_TRAJ, D,
                                        o.seed, 0, traj + (size_t)p * N_TRAJ * D, NULL));
        }
    }

    /* Held-out likelihood through the probability-flow ODE (Dormand-Prince,
     * exact divergence), converted to bits per dimension of the continuous
     * density: -ln p / (D ln 2). */
    size_t n_nll = (size_t)o.nll_samples;
    TRY("creating the likelihood sampler", scoresde_sampler_create(&nll_s, SCORESDE_SAMPLER_ODE));
    TRY("setting THREADS", scoresde_sampler_set_int(nll_s, SCORESDE_SAMPLER_THREADS, o.threads));
    TRY("setting BLOCK", scoresde_sampler_set_int(nll_s, SCORESDE_SAMPLER_BLOCK, 125));
    pr.label = "likelihood";
    pr.start = t0 = now();
    TRY("setting the progress hook", scoresde_sampler_set_progress(nll_s, sample_progress, &pr));
    TRY("the likelihood",
        scoresde_sampler_likelihood(nll_s, ema, test, n_nll, D, o.seed, 0, logp, NULL, &st_nll));
    progress_end(&pr);
    double t_nll = now() - t0, mean_lp = 0.0, var_lp = 0.0;
    for (size_t i = 0; i < n_nll; i++)
        mean_lp += logp[i];
    mean_lp /= (double)n_nll;
    for (size_t i = 0; i < n_nll; i++)
        var_lp += (logp[i] - mean_lp) * (logp[i] - mean_lp);
    double se_lp = sqrt(var_lp / (double)(n_nll - (n_nll > 1)) / (double)n_nll);
    double bpd = -mean_lp / (D * M_LN2), bpd_se = se_lp / (D * M_LN2);
    double bpd_gauss = -gaussian_fit_logp(train, m, test, n_nll) / (D * M_LN2);

    /* The variational bound of the reverse SDE on the same points (64
     * importance-sampled times each: 64 score evaluations per point, no ODE):
     * an upper bound on the SDE's own -ln p, reported beside the ODE's. */
    TRY("setting BOUND_DRAWS", scoresde_sampler_set_int(nll_s, SCORESDE_SAMPLER_BOUND_DRAWS, 64));
    t0 = now();
    TRY("the bound", scoresde_sampler_bound(nll_s, ema, test, n_nll, D, o.seed, 0, logp, NULL,
                                            NULL));
    double t_bound = now() - t0, mean_b = 0.0, var_b = 0.0;
    for (size_t i = 0; i < n_nll; i++)
        mean_b += logp[i] / (double)n_nll;
    for (size_t i = 0; i < n_nll; i++)
        var_b += (logp[i] - mean_b) * (logp[i] - mean_b);
    double bound_bpd = mean_b / (D * M_LN2);
    double bound_se = sqrt(var_b / (double)(n_nll - (n_nll > 1)) / (double)n_nll) / (D * M_LN2);

    /* Sample quality. */
    TRY("drawing prior samples", scoresde_sde_prior_sample(sde, n, D, o.seed, 0, 0, x_prior));
    double sw_floor = sliced_w2(test2, test, n, work);
    double sw_pc = sliced_w2(x_pc, test, n, work);
    double sw_ode = sliced_w2(x_ode, test, n, work);
    double sw_prior = sliced_w2(x_prior, test, n, work);

    printf("\nsampling (%zu samples each)\n", n);
    printf("  PC  %-18s + %-9s %4lld steps  NFE %5llu  %6.1f s\n", o.predictor, o.corrector,
           o.pc_steps, (unsigned long long)st_pc.nfe, t_pc);
    printf("  ODE %-30s NFE %5llu  %6.1f s\n", o.solver, (unsigned long long)st_ode.nfe, t_ode);
    printf("\nsliced Wasserstein distance to %zu held-out points (%d directions)\n", n,
           N_DIRECTIONS);
    printf("  second held-out set (noise floor) %.4f\n", sw_floor);
    printf("  PC samples                        %.4f\n", sw_pc);
    printf("  ODE samples                       %.4f\n", sw_ode);
    printf("  prior N(0, v I) (no training)     %.4f\n", sw_prior);
    printf("\nheld-out negative log-likelihood (probability-flow ODE, %zu points, NFE %llu, "
           "%.1f s)\n",
           n_nll, (unsigned long long)st_nll.nfe, t_nll);
    printf("  model                             %.4f +- %.4f bits/dim\n", bpd, bpd_se);
    printf("  variational bound (reverse SDE)   %.4f +- %.4f bits/dim (%.1f s)\n", bound_bpd,
           bound_se, t_bound);
    printf("  Gaussian fitted to the data       %.4f bits/dim\n", bpd_gauss);

    status = write_svg(path_svg,
                       &(view){.lo = o.dataset == 1 ? -3.0 : -3.2,
                               .hi = o.dataset == 1 ? 3.0 : 3.2, .size = 300},
                       test, x_pc, x_ode, n, traj, dataset_titles[o.dataset], o.sde, sw_floor,
                       sw_pc, sw_ode, bpd);
    if (status == 0)
        status = write_csv(path_csv, test, x_pc, x_ode, n);
    if (status != 0)
        goto done;
    TRY("saving the model", scoresde_model_save(ema, path_model));
    printf("\nwrote %s, %s, %s\n", path_svg, path_csv, path_model);

    if (!(sw_pc < 0.5 * sw_prior && sw_ode < 0.5 * sw_prior && isfinite(bpd))) {
        printf("FAILED: the samples are not much closer to the data than the prior is\n");
        status = 1;
    }
done:
    scoresde_sampler_free(nll_s);
    scoresde_sampler_free(traj_s);
    scoresde_sampler_free(ode);
    scoresde_sampler_free(pc);
    scoresde_trainer_free(trainer);
    scoresde_loss_free(loss);
    scoresde_model_free(ema);
    scoresde_model_free(net);
    scoresde_sde_free(sde);
    free(train);
    free(test);
    free(test2);
    free(x_pc);
    free(x_ode);
    free(x_prior);
    free(work);
    free(logp);
    free(traj);
    return status;
}
