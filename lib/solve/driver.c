/*
 * The driver: runs a method's rows (init, steps, finish) over blocks of
 * samples on one or several threads, checks every state after every phase,
 * calls the progress hook and collects the statistics.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "solve_internal.h"

/* ------------------------------------------------------------------ driver
 *
 * A run is a sequence of rounds: round 0 is every block's init, round j >= 1
 * every unfinished block's step j - 1, each block checked for NaN/Inf after
 * its part of the round. Thread q of the team owns the blocks
 * [q nb / nth, (q + 1) nb / nth) for the whole run and takes them through
 * the rounds one after another without waiting for the other threads: there
 * is one parallel region per run, no barrier per step. Each thread reports
 * each round (its lowest failing block, its blocks' least advanced time, the
 * largest nfe, whether all are done) into a ring of SD_RING records; the
 * calling thread (thread 0) takes the completed records in round order and
 * decides exactly what a barrier after every round would have decided:
 *   - a round in which some block failed ends the run with the error (code
 *     and message) of the lowest-numbered failing block of that round, the
 *     earliest failing round; later rounds other threads ran ahead do not
 *     count;
 *   - after round j >= 1 the progress hook gets (j, the least advanced time
 *     over all blocks, the largest nfe over all blocks), on the calling
 *     thread, in step order; a non-zero return ends the run (ECALLBACK);
 *   - when every block is done the rounds end; then the first block (in
 *     block order) whose finish failed gives the error.
 * A thread runs at most SD_RING rounds ahead of the oldest record not yet
 * taken (the ring's slack, not a barrier). A thread whose blocks are all done
 * runs their finish at once and retires: its final values stand in for its
 * reports in every later round. With one thread (THREADS = 1, one block, or a
 * team of one) the calling thread runs the same loop with no OpenMP
 * construct at all, so a model's own threads (an MLP's n_threads) are a
 * top-level team and never nest inside an inactive region. */

enum { SD_RING = 1024 };
enum { PHASE_INIT, PHASE_STEP, PHASE_FINISH };
#define SD_NO_BLOCK SIZE_MAX

typedef struct drv_rec {
    int pending;  /* threads yet to report this round */
    int all_done; /* every block done after it */
    size_t fail;  /* the lowest failing block, or SD_NO_BLOCK */
    double t_now; /* the least advanced time */
    uint64_t nfe; /* the largest nfe */
} drv_rec;

typedef struct drv {
    const sd_run *run;
    sd_block *blk;
    size_t nb;
    int team;     /* threads reporting */
    int backward; /* integration runs towards smaller t */
    double *ws;
    size_t ws_per_thread, gd, cd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t taken;  /* rounds the calling thread has decided on */
    int retired;   /* threads whose blocks are all done */
    drv_rec final; /* their merged final values */
    int stop;      /* the rounds are over: rc says why */
    int finished;  /* ... because every block is done */
    int rc;
    drv_rec ring[SD_RING];
} drv;

static void rec_open(const drv *d, drv_rec *r)
{
    *r = (drv_rec){d->team - d->retired, 1, SD_NO_BLOCK, d->run->t_end, 0};
}

/* Merge a report (or the retired threads' final values) into a record. */
static void rec_merge(const drv *d, drv_rec *r, const drv_rec *c)
{
    r->all_done &= c->all_done;
    if (c->fail < r->fail)
        r->fail = c->fail;
    if (d->backward ? c->t_now > r->t_now : c->t_now < r->t_now)
        r->t_now = c->t_now;
    if (c->nfe > r->nfe)
        r->nfe = c->nfe;
}

/* The calling thread, holding the lock: decide on every completed round in
 * order (the hook runs with the lock released). Wakes the waiting threads
 * when it freed a slot or stopped the run. */
static void drv_take(drv *d)
{
    const scoresde_sampler *s = d->run->s;
    int woke = 0;
    while (!d->stop) {
        drv_rec *r = &d->ring[d->taken % SD_RING];
        if (r->pending > 0)
            break;
        size_t round = d->taken;
        if (r->fail != SD_NO_BLOCK) {
            d->rc = sd_fail(d->blk[r->fail].rc, "%s", d->blk[r->fail].msg);
            d->stop = 1;
            break;
        }
        if (round > 0 && s->progress != NULL) {
            double t_now = r->t_now;
            uint64_t nfe = r->nfe;
            pthread_mutex_unlock(&d->lock);
            int cancel = s->progress((uint64_t)round, t_now, nfe, s->progress_user);
            pthread_mutex_lock(&d->lock);
            if (cancel != 0) {
                d->rc = sd_fail(SCORESDE_ECALLBACK,
                                "the progress hook cancelled the run after step %zu (t = %g)",
                                round, t_now);
                d->stop = 1;
                break;
            }
        }
        if (round > 0 && r->all_done) {
            d->finished = 1;
            d->stop = 1;
            break;
        }
        d->taken++;
        /* the freed slot opens the round SD_RING - 1 after the oldest open one */
        rec_open(d, r);
        if (d->retired > 0)
            rec_merge(d, r, &d->final);
        woke = 1;
    }
    if (woke || d->stop)
        pthread_cond_broadcast(&d->cond);
}

/* Init, step k or finish of one block, then its NaN/Inf check; a failure
 * leaves the block's code and message in b->rc, b->msg. */
static int block_phase(const sd_method_ops *ops, sd_block *b, int phase, size_t k)
{
    int rc = SCORESDE_OK;
    if (phase == PHASE_INIT)
        rc = ops->init != NULL ? ops->init(b) : SCORESDE_OK;
    else if (phase == PHASE_STEP)
        rc = ops->step(b, k);
    else
        rc = ops->finish != NULL ? ops->finish(b) : SCORESDE_OK;
    if (rc == SCORESDE_OK) {
        const sd_run *r = b->run;
        for (size_t i = 0; i < b->n && rc == SCORESDE_OK; i++)
            for (size_t j = 0; j < r->Dy; j++)
                if (!isfinite(b->x[i * r->Dy + j])) {
                    const char *when = phase == PHASE_INIT     ? "at the start"
                                       : phase == PHASE_FINISH ? "in the final denoising"
                                                               : "at step";
                    rc = sd_fail(SCORESDE_ENUMERIC,
                                 "sample %llu became non-finite (element %zu = %g) %s %zu "
                                 "(t = %g)",
                                 (unsigned long long)(r->first + b->i0 + i), j,
                                 b->x[i * r->Dy + j], when,
                                 phase == PHASE_STEP ? k + 1 : (phase == PHASE_INIT ? 0 : k),
                                 b->t_now);
                    break;
                }
    }
    if (rc != SCORESDE_OK) {
        b->rc = rc;
        snprintf(b->msg, sizeof b->msg, "%s", scoresde_last_error());
    }
    return rc;
}

/* Thread `tid` of the run's team: its blocks through every round, then (on
 * thread 0) the decisions until the run stops. */
static void drv_thread(drv *d, int tid)
{
    const sd_run *run = d->run;
    const sd_method_ops *ops = run->ops;
    size_t lo = d->nb * (size_t)tid / (size_t)d->team;
    size_t hi = d->nb * ((size_t)tid + 1) / (size_t)d->team;
    size_t wsd = ops->ws_doubles(run);
    for (size_t q = lo; q < hi; q++) {
        sd_block *b = &d->blk[q];
        b->t = d->ws + (size_t)tid * d->ws_per_thread;
        b->ws = b->t + b->n;
        b->gws = d->gd > 0 ? b->ws + b->n * wsd : NULL;
        b->cfg_ws = d->cd > 0 ? b->ws + b->n * (wsd + d->gd) : NULL;
    }
    for (size_t j = 0;; j++) {
        pthread_mutex_lock(&d->lock);
        while (!d->stop && j >= d->taken + SD_RING) {
            if (tid == 0)
                drv_take(d);
            if (!d->stop && j >= d->taken + SD_RING)
                pthread_cond_wait(&d->cond, &d->lock);
        }
        int stop = d->stop;
        pthread_mutex_unlock(&d->lock);
        if (stop)
            break;
        drv_rec c = {0, 1, SD_NO_BLOCK, run->t_end, 0};
        for (size_t q = lo; q < hi; q++) {
            sd_block *b = &d->blk[q];
            if ((j == 0 || !b->done) &&
                block_phase(ops, b, j == 0 ? PHASE_INIT : PHASE_STEP, j == 0 ? 0 : j - 1) != SCORESDE_OK) {
                c.fail = q;
                break;
            }
            drv_rec one = {0, b->done, SD_NO_BLOCK, b->t_now, b->nfe};
            rec_merge(d, &c, &one);
        }
        int retire = c.fail == SD_NO_BLOCK && c.all_done;
        pthread_mutex_lock(&d->lock);
        drv_rec *r = &d->ring[j % SD_RING];
        rec_merge(d, r, &c);
        r->pending--;
        if (retire) {
            /* the rounds after j already open count this thread as reported */
            d->retired++;
            rec_merge(d, &d->final, &c);
            for (size_t i = j + 1; i < d->taken + SD_RING; i++) {
                drv_rec *ri = &d->ring[i % SD_RING];
                rec_merge(d, ri, &c);
                ri->pending--;
            }
        }
        if (tid == 0)
            drv_take(d);
        else if (r->pending == 0 || retire)
            pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
        if (c.fail != SD_NO_BLOCK)
            break;
        if (retire) {
            for (size_t q = lo; q < hi; q++)
                block_phase(ops, &d->blk[q], PHASE_FINISH, run->N);
            break;
        }
    }
    if (tid != 0)
        return;
    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        drv_take(d);
        if (!d->stop)
            pthread_cond_wait(&d->cond, &d->lock);
    }
    pthread_mutex_unlock(&d->lock);
}

int sd_solve_begin(sd_run *run, const sd_method_ops *ops)
{
    run->ops = ops;
    run->ctx = NULL;
    if (ops->ctx_size > 0 && (run->ctx = sd_calloc(1, ops->ctx_size)) == NULL)
        return SCORESDE_ENOMEM;
    return SCORESDE_OK;
}

int sd_solve_prepare(sd_run *run)
{
    return run->ops->prepare != NULL ? run->ops->prepare(run) : SCORESDE_OK;
}

void sd_solve_end(sd_run *run)
{
    sd_free(run->ctx);
    run->ctx = NULL;
}

int sd_solve_drive(sd_run *run, size_t n, double *x, scoresde_sampler_stats *stats)
{
    const scoresde_sampler *s = run->s;
    const sd_method_ops *ops = run->ops;
    size_t B = sd_opt_size(s, SCORESDE_SAMPLER_BLOCK);
    if (B > n)
        B = n;
    size_t nb = (n + B - 1) / B;
    int nth = sd_opt_int(s, SCORESDE_SAMPLER_THREADS);
    if ((size_t)nth > nb)
        nth = (int)nb;
    size_t wsd = ops->ws_doubles(run), std = ops->state_doubles(run);
    /* guidance needs n x D more per thread (not for likelihoods or Langevin) */
    size_t gd = s->guidance != NULL && run->guided ? run->D : 0;
    /* classifier-free guidance: the 2n-row batch */
    size_t cd = run->cfg != 0.0 ? SD_CFG_WS(run->D, scoresde_model_cond_dim(run->model)) : 0;
    size_t ws_per_thread = B * (wsd + 1 + gd + cd);
    sd_block *blk = sd_calloc(nb, sizeof *blk);
    double *ws = sd_calloc((size_t)nth, ws_per_thread * sizeof(double));
    double *state = std > 0 ? sd_calloc(n, std * sizeof(double)) : NULL;
    drv *d = sd_calloc(1, sizeof *d);
    int rc = SCORESDE_OK, sync = 0;
    if (blk == NULL || ws == NULL || (std > 0 && state == NULL) || d == NULL) {
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    if (pthread_cond_init(&d->cond, NULL) != 0) {
        pthread_mutex_destroy(&d->lock);
        rc = SCORESDE_ENOMEM;
        goto out;
    }
    sync = 1;
    for (size_t q = 0; q < nb; q++) {
        sd_block *b = &blk[q];
        b->run = run;
        b->i0 = q * B;
        b->n = (q + 1) * B <= n ? B : n - q * B;
        b->x = x + b->i0 * run->Dy;
        b->state = state != NULL ? state + b->i0 * std : NULL;
        b->t_now = run->t_start;
    }
    d->run = run;
    d->blk = blk;
    d->nb = nb;
    d->backward = run->t_end < run->t_start;
    d->ws = ws;
    d->ws_per_thread = ws_per_thread;
    d->gd = gd;
    d->cd = cd;
    d->final = (drv_rec){0, 1, SD_NO_BLOCK, run->t_end, 0};
    if (nth == 1) {
        d->team = 1;
        for (size_t j = 0; j < SD_RING; j++)
            rec_open(d, &d->ring[j]);
        drv_thread(d, 0);
    } else {
#pragma omp parallel num_threads(nth)
        {
            /* the team may be smaller than asked (nested calls, thread limits) */
#pragma omp single
            {
                d->team = omp_get_num_threads();
                for (size_t j = 0; j < SD_RING; j++)
                    rec_open(d, &d->ring[j]);
            }
            drv_thread(d, omp_get_thread_num());
        }
    }
    rc = d->rc;
    if (rc == SCORESDE_OK && d->finished)
        for (size_t q = 0; q < nb; q++)
            if (blk[q].rc != SCORESDE_OK) {
                rc = sd_fail(blk[q].rc, "%s", blk[q].msg);
                break;
            }
    if (rc == SCORESDE_OK) {
        scoresde_sampler_stats v = {.struct_size = sizeof v, .t_final = run->t_end};
        for (size_t q = 0; q < nb; q++) {
            if (blk[q].nfe > v.nfe)
                v.nfe = blk[q].nfe;
            v.accepted += blk[q].accepted;
            v.rejected += blk[q].rejected;
        }
        if (stats != NULL)
            sd_write_struct_out(stats, stats->struct_size, &v, sizeof v);
    }
out:
    if (sync) {
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
    }
    sd_free(d);
    sd_free(state);
    sd_free(ws);
    sd_free(blk);
    return rc;
}
