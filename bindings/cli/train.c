/*
 * scoresde train: fit a score model to the rows of a table.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The losses the tool offers, as rows: the library kind and its settings. */
typedef struct loss_row {
    const char *name;
    int kind, weighting, time_mode; /* -1: the kind's default */
} loss_row;
static const loss_row losses[] = {
    {"dsm", SCORESDE_LOSS_DSM, -1, -1},
    {"dsm-likelihood", SCORESDE_LOSS_DSM, SCORESDE_LOSS_WEIGHT_G2, -1},
    {"ssm", SCORESDE_LOSS_SSM, -1, SCORESDE_LOSS_TIME_UNIFORM},
    {"ssm-vr", SCORESDE_LOSS_SSM_VR, -1, SCORESDE_LOSS_TIME_UNIFORM},
    {"ddpm", SCORESDE_LOSS_DDPM, -1, -1},
    {"edm", SCORESDE_LOSS_DSM, SCORESDE_LOSS_WEIGHT_EDM, SCORESDE_LOSS_TIME_LOGNORMAL},
    {NULL, 0, 0, 0}};

/* Network kinds: --depth is the MLP's hidden layers and the residual MLP's blocks. */
static const char *const nets[] = {"mlp", "resmlp", NULL};
enum { NET_MLP = 0, NET_RESMLP = 1 };

/* Everything that shapes a run; stored in checkpoints so --resume rebuilds it. */
typedef struct run_opts {
    const char *data, *output, *columns, *cond_columns, *sde, *loss, *net, *precision;
    const char *checkpoint, *resume;
    long long width, depth, batch, threads;
    uint64_t steps, every, seed;
    double lr, cond_dropout, val_fraction;
    int standardize, steps_given;
    cli_table_opts table;
} run_opts;

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------ progress */

typedef struct progress {
    int tty, quiet;
    uint64_t total, start_step;
    double start, last_draw, val_loss, loss, ema;
    int have_val;
} progress;

static void progress_line(progress *p, uint64_t step, int final)
{
    double el = cli_now() - p->start;
    double rate = el > 0 ? (double)(step - p->start_step) / el : 0.0;
    double left = rate > 0 ? (double)(p->total - step) / rate : 0.0;
    char val[48] = "";
    if (p->have_val)
        snprintf(val, sizeof val, "  held-out %.4f", p->val_loss);
    fprintf(stderr, "%sstep %llu/%llu  loss %.4f  EMA %.4f%s  %.0f steps/s  %.0f s left%s",
            p->tty ? "\r" : "", (unsigned long long)step, (unsigned long long)p->total, p->loss,
            p->ema, val, rate, left, p->tty ? (final ? "   \n" : "   ") : "\n");
}

static int on_step(uint64_t step, double loss, double ema_loss, void *user)
{
    progress *p = user;
    p->loss = loss;
    /* The EMA of the library's fit restarts with every call; keep one over the run. */
    p->ema = step == p->start_step + 1 ? loss : 0.99 * p->ema + 0.01 * loss;
    (void)ema_loss;
    if (!p->quiet && p->tty) {
        double t = cli_now();
        if (t - p->last_draw > 0.1) {
            p->last_draw = t;
            progress_line(p, step, 0);
        }
    }
    return interrupted ? 1 : 0;
}

/* ------------------------------------------------------------ options */

enum {
    OPT_COLUMNS = 1, OPT_COND_COLUMNS, OPT_SDE, OPT_LOSS, OPT_NET, OPT_WIDTH, OPT_DEPTH,
    OPT_STEPS, OPT_BATCH, OPT_LR, OPT_PRECISION, OPT_THREADS, OPT_SEED, OPT_COND_DROPOUT,
    OPT_VAL_FRACTION, OPT_CHECKPOINT, OPT_EVERY, OPT_RESUME, OPT_NO_STANDARDIZE, OPT_QUIET,
    OPT_HELP
};

static int parse(int argc, char **argv, run_opts *o)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, 'o'},
        {"columns", required_argument, NULL, OPT_COLUMNS},
        {"cond-columns", required_argument, NULL, OPT_COND_COLUMNS},
        {"sde", required_argument, NULL, OPT_SDE},
        {"loss", required_argument, NULL, OPT_LOSS},
        {"net", required_argument, NULL, OPT_NET},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"lr", required_argument, NULL, OPT_LR},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"cond-dropout", required_argument, NULL, OPT_COND_DROPOUT},
        {"val-fraction", required_argument, NULL, OPT_VAL_FRACTION},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"every", required_argument, NULL, OPT_EVERY},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"no-standardize", no_argument, NULL, OPT_NO_STANDARDIZE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        CLI_TABLE_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int c;
    long long v;
    while ((c = cli_next_option(argc, argv, ":o:q", longs, &o->table)) != -1) {
        switch (c) {
        case CLI_OPT_ERROR: return -1;
        case 'o': o->output = optarg; break;
        case OPT_COLUMNS: o->columns = optarg; break;
        case OPT_COND_COLUMNS: o->cond_columns = optarg; break;
        case OPT_SDE: o->sde = optarg; break;
        case OPT_LOSS: o->loss = optarg; break;
        case OPT_NET: o->net = optarg; break;
        case OPT_PRECISION: o->precision = optarg; break;
        case OPT_CHECKPOINT: o->checkpoint = optarg; break;
        case OPT_RESUME: o->resume = optarg; break;
        case OPT_NO_STANDARDIZE: o->standardize = 0; break;
        case 'q':
        case OPT_QUIET: cli_quiet = 1; break;
        case OPT_WIDTH:
            if (cli_parse_int("width", optarg, 1, 1 << 20, &o->width) != 0) return -1;
            break;
        case OPT_DEPTH:
            if (cli_parse_int("depth", optarg, 0, SCORESDE_MLP_MAX_HIDDEN, &o->depth) != 0)
                return -1;
            break;
        case OPT_BATCH:
            if (cli_parse_int("batch", optarg, 1, 1 << 20, &o->batch) != 0) return -1;
            break;
        case OPT_THREADS:
            if (cli_parse_int("threads", optarg, 1, 1024, &o->threads) != 0) return -1;
            break;
        case OPT_STEPS:
            if (cli_parse_int("steps", optarg, 1, 1000000000000LL, &v) != 0) return -1;
            o->steps = (uint64_t)v;
            o->steps_given = 1;
            break;
        case OPT_EVERY:
            if (cli_parse_int("every", optarg, 1, 1000000000000LL, &v) != 0) return -1;
            o->every = (uint64_t)v;
            break;
        case OPT_SEED:
            if (cli_parse_u64("seed", optarg, &o->seed) != 0) return -1;
            break;
        case OPT_LR:
            if (cli_parse_double("lr", optarg, 1e-12, 10, &o->lr) != 0) return -1;
            break;
        case OPT_COND_DROPOUT:
            if (cli_parse_double("cond-dropout", optarg, 0, 0.999, &o->cond_dropout) != 0)
                return -1;
            break;
        case OPT_VAL_FRACTION:
            if (cli_parse_double("val-fraction", optarg, 0, 0.9, &o->val_fraction) != 0)
                return -1;
            break;
        case OPT_HELP: cli_help(stdout, "train"); exit(0);
        }
    }
    if (optind != argc - 1)
        return cli_usage(optind >= argc ? "no DATA file given" : "one DATA file, not %d",
                         argc - optind), -1;
    o->data = argv[optind];
    if (o->output == NULL)
        return cli_usage("no output given (-o MODEL)"), -1;
    return 0;
}

/* ------------------------------------------------------------ the run */

typedef struct run {
    run_opts o;
    sd_table table;
    double *x, *c, *xv, *cv;      /* training and held-out rows (model units) */
    size_t m, mv, D, C;
    double *shift, *scale;        /* the data transform (D each) */
    double *cshift, *cscale;      /* the tool's condition transform (C each) */
    char *col_list, *cond_list;   /* tab-separated names */
    uint32_t data_crc;
    scoresde_sde *sde;
    scoresde_model *model;
    scoresde_loss *loss;
    scoresde_trainer *trainer;
    unsigned char *start_model;   /* the model file the run starts from */
    size_t start_model_size;
} run;

/* The network of a new run: --width and --depth as the kind reads them
 * (hidden layers of the MLP, blocks of the residual MLP). The MLP predicts
 * the noise (EDM's form under the EDM loss); the residual MLP always takes
 * EDM's form: its final LayerNorm removes the output's scale, and on the
 * test's 2-D mixture at 1500 steps its minor component came out 1.4x too
 * wide with data output and 3.5x with noise output, 1.2x in EDM's form (the
 * MLP's figure with noise output; docs/guide/15-networks.md). */
static int make_net(run *r, int net_k, const loss_row *lr, int precision)
{
    const run_opts *o = &r->o;
    if (net_k == NET_RESMLP) {
        scoresde_resmlp_options ro;
        scoresde_model_resmlp_options_init(&ro, sizeof ro);
        ro.width = (size_t)o->width;
        ro.blocks = (size_t)o->depth;
        ro.output = SCORESDE_MLP_OUTPUT_EDM;
        ro.precision = precision;
        ro.seed = o->seed;
        ro.n_threads = (int)o->threads;
        ro.cond_dim = r->C;
        ro.cond_null = r->C > 0 && o->cond_dropout > 0;
        return scoresde_model_create_resmlp(&r->model, r->sde, r->D, &ro);
    }
    scoresde_mlp_options mo;
    scoresde_model_mlp_options_init(&mo, sizeof mo);
    size_t widths[SCORESDE_MLP_MAX_HIDDEN];
    mo.n_hidden = (size_t)o->depth;
    for (size_t l = 0; l < mo.n_hidden; l++)
        widths[l] = (size_t)o->width;
    mo.widths = widths;
    mo.output = lr->weighting == SCORESDE_LOSS_WEIGHT_EDM ? SCORESDE_MLP_OUTPUT_EDM
                                                          : SCORESDE_MLP_OUTPUT_NOISE;
    mo.precision = precision;
    mo.seed = o->seed;
    mo.n_threads = (int)o->threads;
    mo.cond_dim = r->C;
    mo.cond_null = r->C > 0 && o->cond_dropout > 0;
    return scoresde_model_create_mlp(&r->model, r->sde, r->D, &mo);
}

static const loss_row *find_loss(const char *name)
{
    for (const loss_row *r = losses; r->name != NULL; r++)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* Join the chosen columns' names with tabs (tabs and newlines in names become spaces). */
static char *join_names(const sd_table *t, const size_t *idx, size_t n)
{
    size_t len = 1;
    for (size_t k = 0; k < n; k++)
        len += strlen(t->names[idx[k]]) + 24;
    char *s = malloc(len), *p = s;
    if (s == NULL)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            *p++ = '\t';
        if (!cli_table_unnamed(t, idx[k])) {
            for (const char *q = t->names[idx[k]]; *q; q++)
                *p++ = (*q == '\t' || *q == '\n' || *q == '\r') ? ' ' : *q;
        } else {
            p += sprintf(p, "x%zu", idx[k] + 1);
        }
    }
    *p = '\0';
    return s;
}

/* Tab-separated doubles, %.17g (round-trips). */
static char *join_doubles(const double *v, size_t n)
{
    char *s = malloc(n * 26 + 1), *p = s;
    if (s == NULL)
        return NULL;
    *p = '\0';
    for (size_t k = 0; k < n; k++)
        p += sprintf(p, "%s%.17g", k ? "\t" : "", v[k]);
    return s;
}

static void column_stats(const double *a, size_t rows, size_t stride, size_t j, double *mean,
                         double *sd)
{
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < rows; i++)
        s += a[i * stride + j];
    s /= (double)rows;
    for (size_t i = 0; i < rows; i++)
        q += (a[i * stride + j] - s) * (a[i * stride + j] - s);
    q = rows > 1 ? sqrt(q / (double)(rows - 1)) : 0.0;
    *mean = s;
    *sd = q > 0.0 && isfinite(q) ? q : 1.0;
}

/* Read the data, choose the columns, split off the held-out rows. */
static int load_data(run *r, const char *columns, const char *cond_columns)
{
    run_opts *o = &r->o;
    if (cli_table_read(o->data, &o->table, &r->table) != CLI_OK)
        return CLI_FAIL;
    sd_table *t = &r->table;
    size_t *cidx = NULL, nc = 0, *xidx = NULL, nx = 0;
    if (cond_columns != NULL && cli_table_columns(t, o->data, cond_columns, &cidx, &nc) != CLI_OK)
        return CLI_FAIL;
    if (columns != NULL) {
        if (cli_table_columns(t, o->data, columns, &xidx, &nx) != CLI_OK) {
            free(cidx);
            return CLI_FAIL;
        }
    } else {
        xidx = malloc((t->cols > 0 ? t->cols : 1) * sizeof *xidx);
        for (size_t j = 0; xidx != NULL && j < t->cols; j++) {
            int is_cond = 0;
            for (size_t k = 0; k < nc; k++)
                is_cond |= cidx[k] == j;
            if (!is_cond)
                xidx[nx++] = j;
        }
    }
    if (xidx == NULL || nx == 0) {
        cli_error("%s: no data columns left (every column is a condition column)", o->data);
        free(cidx);
        free(xidx);
        return CLI_FAIL;
    }
    for (size_t k = 0; k < nx; k++)
        for (size_t q = 0; q < nc; q++)
            if (xidx[k] == cidx[q]) {
                cli_error("column %zu is both a data and a condition column", xidx[k] + 1);
                free(cidx);
                free(xidx);
                return CLI_FAIL;
            }
    r->D = nx;
    r->C = nc;
    r->col_list = join_names(t, xidx, nx);
    r->cond_list = nc > 0 ? join_names(t, cidx, nc) : NULL;
    r->data_crc = cli_crc32c(0, t->values, t->rows * t->cols * sizeof *t->values);

    /* Row i is held out when uniform element 0 of stream 2^48 + i (purpose
     * BATCH) under the seed is below the fraction. */
    size_t rows = t->rows;
    unsigned char *held = calloc(rows > 0 ? rows : 1, 1);
    if (held == NULL) {
        free(cidx);
        free(xidx);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < rows && o->val_fraction > 0.0; i++) {
        double u;
        scoresde_rng_uniform(o->seed, ((uint64_t)1 << 48) + i,
                             SCORESDE_RNG_OFFSET(SCORESDE_RNG_BATCH, 0), 1, &u);
        held[i] = u < o->val_fraction;
        r->mv += held[i];
    }
    r->m = rows - r->mv;
    if (r->m < 2) {
        cli_error("%s: %zu training rows; at least 2 are needed", o->data, r->m);
        free(held);
        free(cidx);
        free(xidx);
        return CLI_FAIL;
    }
    r->x = malloc(r->m * r->D * sizeof *r->x);
    r->xv = malloc((r->mv > 0 ? r->mv : 1) * r->D * sizeof *r->xv);
    r->c = nc > 0 ? malloc(r->m * nc * sizeof *r->c) : NULL;
    r->cv = nc > 0 ? malloc((r->mv > 0 ? r->mv : 1) * nc * sizeof *r->cv) : NULL;
    if (r->x == NULL || r->xv == NULL || (nc > 0 && (r->c == NULL || r->cv == NULL))) {
        free(held);
        free(cidx);
        free(xidx);
        cli_error("out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0, a = 0, b = 0; i < rows; i++) {
        const double *row = t->values + i * t->cols;
        double *dx = held[i] ? r->xv + b * r->D : r->x + a * r->D;
        double *dc = nc == 0 ? NULL : held[i] ? r->cv + b * nc : r->c + a * nc;
        for (size_t k = 0; k < nx; k++)
            dx[k] = row[xidx[k]];
        for (size_t k = 0; k < nc; k++)
            dc[k] = row[cidx[k]];
        a += !held[i];
        b += held[i];
    }
    free(held);
    free(cidx);
    free(xidx);
    /* The table's array is not needed any more: peak memory stays at about
     * twice the data (the table, then the chosen columns). */
    free(t->values);
    t->values = NULL;
    return CLI_OK;
}

static int make_sde(run *r, int kind)
{
    int rc;
    switch (kind) {
    case SCORESDE_SDE_VP: rc = scoresde_sde_create_vp(&r->sde, 0.1, 20.0); break;
    case SCORESDE_SDE_SUBVP: rc = scoresde_sde_create_subvp(&r->sde, 0.1, 20.0); break;
    case SCORESDE_SDE_VE: {
        /* sigma_max above the largest distance between training rows (in
         * model units): the diagonal of their bounding box. */
        double d2 = 0.0;
        for (size_t j = 0; j < r->D; j++) {
            double lo = r->x[j], hi = r->x[j];
            for (size_t i = 1; i < r->m; i++) {
                double v = r->x[i * r->D + j];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            d2 += (hi - lo) * (hi - lo);
        }
        double smax = sqrt(d2) > 1.0 ? sqrt(d2) : 1.0;
        rc = scoresde_sde_create_ve(&r->sde, 0.01 * (smax < 100 ? 1.0 : smax / 100), smax);
        break;
    }
    case SCORESDE_SDE_COSINE:
    case SCORESDE_SDE_EDM: rc = scoresde_sde_create_default(&r->sde, kind); break;
    default:
        return cli_usage("--sde: the tool trains on vp, subvp, ve, cosine and edm");
    }
    return rc == SCORESDE_OK ? CLI_OK : cli_lib_fail("creating the SDE", rc);
}

static int make_loss(run *r, const loss_row *lr)
{
    int rc = scoresde_loss_create(&r->loss, lr->kind);
    if (rc == SCORESDE_OK && lr->weighting >= 0)
        rc = scoresde_loss_set_int(r->loss, SCORESDE_LOSS_WEIGHTING, lr->weighting);
    if (rc == SCORESDE_OK && lr->time_mode >= 0)
        rc = scoresde_loss_set_int(r->loss, SCORESDE_LOSS_TIME_MODE, lr->time_mode);
    return rc == SCORESDE_OK ? CLI_OK : cli_lib_fail("creating the loss", rc);
}

/* The tool's metadata of the run (model files get it, checkpoints too). */
static void run_meta(const run *r, cli_meta *m, uint64_t steps_done)
{
    cli_meta_set(m, "tool", "scoresde %s", SCORESDE_VERSION_STRING);
    cli_meta_set(m, "data", "%s", r->o.data);
    cli_meta_set(m, "columns", "%s", r->col_list);
    if (r->C > 0) {
        cli_meta_set(m, "cond-columns", "%s", r->cond_list);
        char *a = join_doubles(r->cshift, r->C), *b = join_doubles(r->cscale, r->C);
        if (a != NULL && b != NULL) {
            cli_meta_set(m, "cond-shift", "%s", a);
            cli_meta_set(m, "cond-scale", "%s", b);
        }
        free(a);
        free(b);
    }
    cli_meta_set(m, "sde", "%s", r->o.sde);
    cli_meta_set(m, "loss", "%s", r->o.loss);
    cli_meta_set(m, "net", "%s", r->o.net);
    cli_meta_set(m, "width", "%lld", r->o.width);
    cli_meta_set(m, "depth", "%lld", r->o.depth);
    cli_meta_set(m, "precision", "%s", r->o.precision);
    cli_meta_set(m, "standardize", "%d", r->o.standardize);
    cli_meta_set(m, "seed", "%llu", (unsigned long long)r->o.seed);
    cli_meta_set(m, "val-fraction", "%.17g", r->o.val_fraction);
    cli_meta_set(m, "rows", "%zu", r->table.rows);
    cli_meta_set(m, "train-rows", "%zu", r->m);
    cli_meta_set(m, "data-crc32c", "%08x", (unsigned)r->data_crc);
    cli_meta_set(m, "steps", "%llu", (unsigned long long)steps_done);
    cli_meta_set(m, "target-steps", "%llu", (unsigned long long)r->o.steps);
}

static int save_checkpoint(const run *r, const char *path)
{
    void *data = NULL;
    size_t size = 0;
    int rc = scoresde_trainer_save_buffer(r->trainer, &data, &size);
    if (rc != SCORESDE_OK)
        return cli_lib_fail("saving the checkpoint", rc);
    cli_meta m = {0};
    run_meta(r, &m, scoresde_trainer_steps(r->trainer));
    cli_meta_set(&m, "every", "%llu", (unsigned long long)r->o.every);
    size_t tn = m.text != NULL ? strlen(m.text) : 0;
    unsigned char *payload = malloc(tn + 1 + r->start_model_size);
    unsigned char *buf = malloc(size);
    int status = CLI_FAIL;
    if (payload != NULL && buf != NULL && m.text != NULL) {
        memcpy(payload, m.text, tn + 1);
        memcpy(payload + tn + 1, r->start_model, r->start_model_size);
        memcpy(buf, data, size);
        if (cli_container_add_meta(&buf, &size, payload, tn + 1 + r->start_model_size) == 0)
            status = cli_write_file(path, buf, size) == 0 ? CLI_OK : CLI_FAIL;
        else
            cli_error("out of memory");
    } else {
        cli_error("out of memory");
    }
    scoresde_buffer_free(data);
    free(payload);
    free(buf);
    cli_meta_free(&m);
    return status;
}

static int save_model(const run *r)
{
    scoresde_model *ema = NULL;
    int rc = scoresde_trainer_export(&ema, r->trainer, SCORESDE_TRAIN_EXPORT_EMA);
    if (rc != SCORESDE_OK)
        return cli_lib_fail("exporting the EMA model", rc);
    cli_meta m = {0};
    run_meta(r, &m, scoresde_trainer_steps(r->trainer));
    int status = cli_model_save(ema, &m, r->o.output);
    cli_meta_free(&m);
    scoresde_model_free(ema);
    return status;
}

/* The held-out loss at the current parameters: fixed draws (seed + 1,
 * samples 0..), so successive values compare. */
static int held_out_loss(const run *r, double *value)
{
    size_t n = r->mv < 4096 ? r->mv : 4096;
    scoresde_cond cond = {.struct_size = sizeof cond, .C = r->C, .c = r->cv, .rows = n};
    int rc = scoresde_loss_eval_cond(r->loss, r->model, r->xv, n, r->D, r->C > 0 ? &cond : NULL,
                                     r->o.seed + 1, 0, value, NULL, NULL, 0);
    return rc == SCORESDE_OK ? CLI_OK : cli_lib_fail("the held-out loss", rc);
}

/* Options of a resumed run come from the checkpoint's metadata. */
static int resume_options(run *r, unsigned char **ckpt, size_t *ckpt_size, cli_meta *meta,
                          char **cols, char **conds)
{
    run_opts *o = &r->o;
    if (cli_read_file(o->resume, (size_t)1 << 40, ckpt, ckpt_size) != 0)
        return CLI_FAIL;
    char err[256];
    uint32_t type, version;
    if (cli_container_check(*ckpt, *ckpt_size, &type, &version, err, sizeof err) != 0) {
        cli_error("%s: %s", o->resume, err);
        return CLI_FAIL;
    }
    if (type != 2 || cli_meta_parse(meta, *ckpt, *ckpt_size) != 0 || meta->blob == NULL) {
        cli_error("%s: not a checkpoint written by 'scoresde train --checkpoint'", o->resume);
        return CLI_FAIL;
    }
    static char *keep[8];
    const char *keys[] = {"sde", "loss", "net", "precision"};
    const char **dest[] = {&o->sde, &o->loss, &o->net, &o->precision};
    for (int k = 0; k < 4; k++) {
        free(keep[k]);
        keep[k] = cli_meta_get(meta, keys[k]);
        if (keep[k] == NULL) {
            cli_error("%s: the checkpoint's metadata lacks '%s'", o->resume, keys[k]);
            return CLI_FAIL;
        }
        *dest[k] = keep[k];
    }
    char *v;
    if ((v = cli_meta_get(meta, "standardize")) != NULL)
        o->standardize = atoi(v);
    free(v);
    if ((v = cli_meta_get(meta, "seed")) != NULL)
        o->seed = strtoull(v, NULL, 10);
    free(v);
    if ((v = cli_meta_get(meta, "val-fraction")) != NULL)
        o->val_fraction = strtod(v, NULL);
    free(v);
    if ((v = cli_meta_get(meta, "width")) != NULL)
        o->width = atoll(v);
    free(v);
    if ((v = cli_meta_get(meta, "depth")) != NULL)
        o->depth = atoll(v);
    free(v);
    v = o->steps_given ? NULL : cli_meta_get(meta, "target-steps");
    if (v != NULL)
        o->steps = strtoull(v, NULL, 10);
    free(v);
    v = o->every != 0 ? NULL : cli_meta_get(meta, "every");
    if (v != NULL)
        o->every = strtoull(v, NULL, 10);
    free(v);
    /* Columns by name, comma-separated for the selector. */
    char *c = cli_meta_get(meta, "columns"), *cc = cli_meta_get(meta, "cond-columns");
    for (char *p = c; p != NULL && *p; p++)
        *p = *p == '\t' ? ',' : *p;
    for (char *p = cc; p != NULL && *p; p++)
        *p = *p == '\t' ? ',' : *p;
    *cols = c;
    *conds = cc;
    return CLI_OK;
}

static void free_run(run *r)
{
    scoresde_trainer_free(r->trainer);
    scoresde_loss_free(r->loss);
    scoresde_model_free(r->model);
    scoresde_sde_free(r->sde);
    sd_table_free(&r->table);
    free(r->x);
    free(r->c);
    free(r->xv);
    free(r->cv);
    free(r->shift);
    free(r->scale);
    free(r->cshift);
    free(r->cscale);
    free(r->col_list);
    free(r->cond_list);
    free(r->start_model);
}

int cli_train(int argc, char **argv)
{
    run r = {.o = {.sde = "vp", .loss = "dsm", .net = "mlp", .precision = "f64", .width = 128,
                   .depth = 3, .batch = 256, .threads = 1, .steps = 4000, .lr = 2e-3,
                   .standardize = 1, .table = {.header = -1}}};
    run_opts *o = &r.o;
    if (parse(argc, argv, o) != 0)
        return CLI_USAGE;
    int status = CLI_FAIL, tty = isatty(fileno(stderr));
    unsigned char *ckpt = NULL;
    size_t ckpt_size = 0;
    cli_meta rmeta = {0};
    char *cols = NULL, *conds = NULL;
    if (o->resume != NULL) {
        if (resume_options(&r, &ckpt, &ckpt_size, &rmeta, &cols, &conds) != CLI_OK)
            goto done;
    }
    const loss_row *lr = find_loss(o->loss);
    if (lr == NULL) {
        status = cli_usage("--loss: unknown value '%s' (one of: dsm, dsm-likelihood, ssm, "
                           "ssm-vr, ddpm, edm)", o->loss);
        goto done;
    }
    int net_k = -1;
    for (int k = 0; nets[k] != NULL; k++)
        if (strcmp(nets[k], o->net) == 0)
            net_k = k;
    if (net_k < 0) {
        status = cli_usage("--net: unknown value '%s' (one of: mlp, resmlp)", o->net);
        goto done;
    }
    int sde_kind, precision;
    if (cli_lookup("sde", o->sde, cli_sde_names, &sde_kind) != 0) {
        status = CLI_USAGE;
        goto done;
    }
    if (strcmp(o->precision, "f64") == 0)
        precision = SCORESDE_MLP_FLOAT64;
    else if (strcmp(o->precision, "f32") == 0)
        precision = SCORESDE_MLP_FLOAT32;
    else {
        status = cli_usage("--precision: unknown value '%s' (one of: f32, f64)", o->precision);
        goto done;
    }
    if (lr->time_mode == SCORESDE_LOSS_TIME_LOGNORMAL && sde_kind != SCORESDE_SDE_EDM) {
        status = cli_usage("--loss edm needs --sde edm (its log-normal noise levels are EDM's)");
        goto done;
    }
    if (lr->kind == SCORESDE_LOSS_DDPM && sde_kind != SCORESDE_SDE_VP) {
        status = cli_usage("--loss ddpm needs --sde vp");
        goto done;
    }
    if (o->cond_dropout > 0 && o->cond_columns == NULL && conds == NULL) {
        status = cli_usage("--cond-dropout needs --cond-columns");
        goto done;
    }

    if (load_data(&r, o->resume != NULL ? cols : o->columns,
                  o->resume != NULL ? conds : o->cond_columns) != CLI_OK)
        goto done;
    if (o->every == 0)
        o->every = o->steps / 10 > 0 ? o->steps / 10 : 1;

    /* The condition's standardisation (the tool's; stored in its metadata). */
    if (r.C > 0) {
        r.cshift = calloc(r.C, sizeof *r.cshift);
        r.cscale = calloc(r.C, sizeof *r.cscale);
        if (r.cshift == NULL || r.cscale == NULL) {
            cli_error("out of memory");
            goto done;
        }
        for (size_t q = 0; q < r.C; q++) {
            if (o->standardize)
                column_stats(r.c, r.m, r.C, q, &r.cshift[q], &r.cscale[q]);
            else
                r.cscale[q] = 1.0;
        }
        cli_standardize(r.c, r.m, r.C, r.cshift, r.cscale);
        cli_standardize(r.cv, r.mv, r.C, r.cshift, r.cscale);
    }

    int rc;
    if (o->resume != NULL) {
        rc = scoresde_model_load_buffer(&r.model, rmeta.blob, rmeta.blob_len);
        if (rc != SCORESDE_OK) {
            cli_lib_fail("the checkpoint's model", rc);
            goto done;
        }
        if (scoresde_model_dim(r.model) != r.D || scoresde_model_cond_dim(r.model) != r.C) {
            cli_error("%s has %zu data and %zu condition columns; the checkpoint's model has "
                      "%zu and %zu",
                      o->data, r.D, r.C, scoresde_model_dim(r.model),
                      scoresde_model_cond_dim(r.model));
            goto done;
        }
        char *crc = cli_meta_get(&rmeta, "data-crc32c");
        char now[16];
        snprintf(now, sizeof now, "%08x", (unsigned)r.data_crc);
        int same = crc == NULL || strcmp(crc, now) == 0;
        free(crc);
        if (!same) {
            cli_error("%s is not the data the checkpoint's run trained on (its values differ); "
                      "a resumed run continues bit-identically only on the same data",
                      o->data);
            goto done;
        }
        r.start_model = malloc(rmeta.blob_len);
        if (r.start_model == NULL) {
            cli_error("out of memory");
            goto done;
        }
        memcpy(r.start_model, rmeta.blob, rmeta.blob_len);
        r.start_model_size = rmeta.blob_len;
        r.shift = malloc(r.D * sizeof *r.shift);
        r.scale = malloc(r.D * sizeof *r.scale);
        if (r.shift == NULL || r.scale == NULL ||
            (o->standardize && (scoresde_model_has_transform(r.model) <= 0 ||
                                scoresde_model_get_transform(r.model, r.shift, r.scale) !=
                                    SCORESDE_OK))) {
            cli_error("%s: the checkpoint's model lacks the data transform of its run",
                      o->resume);
            goto done;
        }
    } else {
        /* The data transform: x_data = shift + scale x_model. */
        r.shift = malloc(r.D * sizeof *r.shift);
        r.scale = malloc(r.D * sizeof *r.scale);
        if (r.shift == NULL || r.scale == NULL) {
            cli_error("out of memory");
            goto done;
        }
        for (size_t j = 0; j < r.D; j++)
            column_stats(r.x, r.m, r.D, j, &r.shift[j], &r.scale[j]);
    }
    /* Training and held-out rows in model units: x_model = (x_data - shift) / scale,
     * the inverse of the library's transform x_data = shift + scale x_model. */
    if (o->standardize) {
        cli_standardize(r.x, r.m, r.D, r.shift, r.scale);
        cli_standardize(r.xv, r.mv, r.D, r.shift, r.scale);
    }

    if (r.model == NULL) {
        if (make_sde(&r, sde_kind) != CLI_OK)
            goto done;
        rc = make_net(&r, net_k, lr, precision);
        if (rc != SCORESDE_OK) {
            cli_lib_fail("creating the network", rc);
            goto done;
        }
        if (o->standardize && (rc = scoresde_model_set_transform(r.model, r.shift, r.scale)) !=
                                  SCORESDE_OK) {
            cli_lib_fail("storing the data transform", rc);
            goto done;
        }
        void *data = NULL;
        rc = scoresde_model_save_buffer(r.model, &data, &r.start_model_size);
        if (rc != SCORESDE_OK) {
            cli_lib_fail("saving the model", rc);
            goto done;
        }
        r.start_model = malloc(r.start_model_size);
        if (r.start_model != NULL)
            memcpy(r.start_model, data, r.start_model_size);
        scoresde_buffer_free(data);
        if (r.start_model == NULL) {
            cli_error("out of memory");
            goto done;
        }
    }
    if (make_loss(&r, lr) != CLI_OK)
        goto done;
    rc = scoresde_trainer_create(&r.trainer, r.model, r.loss);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_double(r.trainer, SCORESDE_TRAIN_LR, o->lr);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r.trainer, SCORESDE_TRAIN_WARMUP, 100);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_double(r.trainer, SCORESDE_TRAIN_EMA_RATE, 0.999);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r.trainer, SCORESDE_TRAIN_BATCH, o->batch);
    if (rc == SCORESDE_OK)
        rc = scoresde_trainer_set_int(r.trainer, SCORESDE_TRAIN_SEED, (int64_t)o->seed);
    if (rc == SCORESDE_OK && r.C > 0)
        rc = scoresde_trainer_set_double(r.trainer, SCORESDE_TRAIN_COND_DROPOUT, o->cond_dropout);
    if (rc != SCORESDE_OK) {
        cli_lib_fail("setting up the trainer", rc);
        goto done;
    }
    if (ckpt != NULL && (rc = scoresde_trainer_load_buffer(r.trainer, ckpt, ckpt_size)) !=
                            SCORESDE_OK) {
        cli_lib_fail("loading the checkpoint", rc);
        goto done;
    }

    uint64_t done_steps = scoresde_trainer_steps(r.trainer);
    cli_note("scoresde train: %zu rows (%zu held out), %zu data column%s%s%s, %s SDE, %s loss, "
             "%s %lldx%lld (%zu parameters)%s",
             r.table.rows, r.mv, r.D, r.D == 1 ? "" : "s", r.C > 0 ? " and " : "",
             r.C > 0 ? "conditions" : "", o->sde, o->loss, o->net, o->depth, o->width,
             scoresde_trainer_num_params(r.trainer),
             o->resume != NULL ? ", resumed" : "");
    if (done_steps >= o->steps)
        cli_note("the checkpoint is at step %llu already; nothing to train",
                 (unsigned long long)done_steps);

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    progress pr = {.tty = tty, .quiet = cli_quiet, .total = o->steps, .start_step = done_steps,
                   .start = cli_now()};
    scoresde_cond cond = {.struct_size = sizeof cond, .C = r.C, .c = r.c, .rows = r.m};
    status = CLI_OK;
    while (done_steps < o->steps && !interrupted) {
        uint64_t chunk = o->every - done_steps % o->every;
        if (chunk > o->steps - done_steps)
            chunk = o->steps - done_steps;
        rc = scoresde_trainer_fit_cond(r.trainer, r.x, r.m, r.D, r.C > 0 ? &cond : NULL, chunk,
                                       on_step, &pr);
        done_steps = scoresde_trainer_steps(r.trainer);
        if (rc != SCORESDE_OK && !(rc == SCORESDE_ECALLBACK && interrupted)) {
            status = cli_lib_fail("training", rc);
            break;
        }
        if (r.mv > 0 && held_out_loss(&r, &pr.val_loss) == CLI_OK)
            pr.have_val = 1;
        if (!cli_quiet)
            /* A terminal keeps one line, ended with the run. */
            progress_line(&pr, done_steps, !tty || done_steps >= o->steps || interrupted);
        if (o->checkpoint != NULL && save_checkpoint(&r, o->checkpoint) != CLI_OK) {
            status = CLI_FAIL;
            break;
        }
    }
    sigaction(SIGINT, &old, NULL);
    if (status == CLI_OK && interrupted) {
        char path[4200];
        const char *cp = o->checkpoint;
        if (cp == NULL) {
            snprintf(path, sizeof path, "%s.ckpt", o->output);
            cp = path;
            status = save_checkpoint(&r, cp);
        }
        if (status == CLI_OK)
            status = save_model(&r);
        if (status == CLI_OK) {
            cli_error("interrupted at step %llu of %llu: wrote %s and the checkpoint %s "
                      "(continue with --resume %s)",
                      (unsigned long long)done_steps, (unsigned long long)o->steps, o->output,
                      cp, cp);
            status = CLI_INTERRUPTED;
        }
    } else if (status == CLI_OK) {
        status = save_model(&r);
        if (status == CLI_OK)
            cli_note("wrote %s (%llu steps)", o->output, (unsigned long long)done_steps);
    }
done:
    free(ckpt);
    free(cols);
    free(conds);
    cli_meta_free(&rmeta);
    free_run(&r);
    return status;
}
