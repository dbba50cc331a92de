/*
 * The random streams' cost on one core (a program, never a test; issue 14,
 * "Normals").
 *
 * Nanoseconds per element of scoresde_rng_normal and scoresde_rng_uniform
 * for calls of n = 2, 16, 256 (the samplers ask for n x D per block, often
 * a short row per sample) and 10^6 elements, each call at a fresh offset;
 * and, for comparison, the transform the library used until 1.1 (libm's
 * log, sqrt, cos and sin per pair) applied to the uniforms of a call. The
 * library is built for the machine's widest vector unit where it has clones
 * (lib/core/simd.h); configure with -Dc_args=-DSD_NO_TARGET_CLONES for the
 * baseline x86-64 figures. Target: at most 4 ns per normal at large n.
 * Usage: bench_rng [repeats (default 5)]; times are CPU times of the
 * thread, minima over the repeats.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "scoresde.h"

/* The thread's CPU time: on a machine shared with other work it counts the
 * time this program ran, not the time it waited for a core. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { TOTAL = 1 << 23 }; /* elements per timing */

typedef int fill_fn(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out);

/* 1.0.0's transform, libm per pair, on the uniforms of the same offsets. */
static int libm_normal(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out)
{
    int rc = scoresde_rng_uniform(seed, stream, offset, n, out);
    for (size_t j = 0; j + 1 < n; j += 2) {
        double r = sqrt(-2.0 * log(out[j])), a = 2.0 * M_PI * out[j + 1];
        out[j] = r * cos(a);
        out[j + 1] = r * sin(a);
    }
    return rc;
}

/* Minimum over the repeats of the ns per element of calls of n elements. */
static double ns_per_element(fill_fn *fill, size_t n, int repeats, double *buf)
{
    size_t calls = TOTAL / n;
    double best = INFINITY, sink = 0.0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (size_t c = 0; c < calls; c++) {
            if (fill(42, 7, (uint64_t)c * n, n, buf) != SCORESDE_OK) {
                fprintf(stderr, "fill: %s\n", scoresde_last_error());
                exit(1);
            }
            sink += buf[n - 1];
        }
        double t = (now() - t0) / (double)(calls * n) * 1e9;
        best = t < best ? t : best;
    }
    if (sink == 12345.678) /* keeps the calls */
        printf(" ");
    return best;
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1)
        repeats = 1;
    static const size_t ns[] = {2, 16, 256, 1000000};
    double *buf = malloc(1000000 * sizeof *buf);
    if (!buf)
        return 1;
    printf("ns per element, one core, minimum of %d repeats (%d elements each)\n", repeats, TOTAL);
    printf("%10s %10s %10s %14s\n", "n", "normal", "uniform", "libm normal");
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        double zn = ns_per_element(scoresde_rng_normal, ns[i], repeats, buf);
        double un = ns_per_element(scoresde_rng_uniform, ns[i], repeats, buf);
        double ln = ns_per_element(libm_normal, ns[i], repeats, buf);
        printf("%10zu %10.2f %10.2f %14.2f\n", ns[i], zn, un, ln);
    }
    free(buf);
    return 0;
}
