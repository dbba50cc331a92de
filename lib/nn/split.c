/*
 * The row split of the network engines (split.h).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "split.h"

#include <omp.h>

int sd_nn_split_threads(int n_threads, size_t parts, size_t lanes)
{
    if (n_threads < 2 || parts < 2 || lanes < 2 || omp_get_level() > 0)
        return 1;
    size_t t = (size_t)n_threads;
    if (t > parts)
        t = parts;
    if (t > lanes)
        t = lanes;
    return (int)t;
}

void sd_nn_split_run(int nt, size_t parts, sd_nn_part_fn part, void *ctx)
{
    if (nt < 2) {
        for (size_t p = 0; p < parts; p++)
            part(ctx, p, 0);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t T = (size_t)omp_get_num_threads(), q = (size_t)omp_get_thread_num();
        for (size_t p = parts * q / T; p < parts * (q + 1) / T; p++)
            part(ctx, p, (int)q);
    }
}

void sd_nn_split_sum(int nt, size_t parts, size_t n_sum, sd_nn_part_fn part,
                     sd_nn_reduce_fn reduce, void *ctx)
{
    if (nt < 2) {
        for (size_t p = 0; p < parts; p++) {
            part(ctx, p, 0);
            reduce(ctx, p, 1, 0, n_sum);
        }
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t T = (size_t)omp_get_num_threads(), q = (size_t)omp_get_thread_num();
        for (size_t p0 = 0; p0 < parts; p0 += T) {
            size_t count = parts - p0 < T ? parts - p0 : T;
            if (q < count)
                part(ctx, p0 + q, (int)q);
#pragma omp barrier
            reduce(ctx, p0, count, n_sum * q / T, n_sum * (q + 1) / T);
#pragma omp barrier
        }
    }
}
