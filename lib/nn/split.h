/*
 * The row split of the network engines (private): how the MLP (mlp.h) and the
 * residual network (resmlp.h) share one call's rows among threads.
 *
 * A pass over a batch is cut into parts of rows whose boundaries never depend
 * on the thread count (the MLP's row blocks, the residual network's parts).
 * With T threads, ONE OpenMP parallel region per call runs the parts, each
 * thread taking whole parts through the whole network with its own lane
 * (single-threaded BLIS runtime and scratch): no nested region, no fork or
 * join per layer. A row's result then does not depend on T: rows of a part
 * are computed as on one thread.
 *
 * Sums over rows (parameter gradients) are taken part by part: each part's
 * contribution goes into its lane's buffer, and the buffers are added into
 * the sum in part order, so every element of the sum is
 *     initial + part 0 + part 1 + ...   (in this order, whatever T).
 *
 * T is 1 (and no OpenMP construct runs at all) inside any OpenMP region,
 * with one part, or for a request of one thread.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#ifndef SD_NN_SPLIT_H
#define SD_NN_SPLIT_H

#include <stddef.h>

/* Run part p on lane q (the calling thread's index in the team). */
typedef void (*sd_nn_part_fn)(void *ctx, size_t p, int q);

/* Add the buffers of lanes 0 .. count-1 (holding parts p0 .. p0+count-1), in
 * that order, into elements lo .. hi-1 of the sum. */
typedef void (*sd_nn_reduce_fn)(void *ctx, size_t p0, size_t count, size_t lo, size_t hi);

/* The threads a pass of `parts` parts runs on for a request of n_threads
 * (already granted, sd_nn_granted_threads) with `lanes` lanes: at most one a
 * part and one a lane; 1 inside any OpenMP region (active or not). */
int sd_nn_split_threads(int n_threads, size_t parts, size_t lanes);

/* part(ctx, p, q) for p = 0 .. parts-1 on nt threads (sd_nn_split_threads):
 * thread q of the team runs parts [q P / T, (q + 1) P / T) in order, T the
 * team's size. nt = 1: a plain loop on lane 0. */
void sd_nn_split_run(int nt, size_t parts, sd_nn_part_fn part, void *ctx);

/* The same for a sum of n_sum elements, in rounds of T parts: in round j
 * thread q runs part j T + q on lane q; after a barrier the threads add the
 * round's lanes in order (reduce), each thread a slice of the elements; a
 * barrier ends the round. So the sum's order is the part order for every
 * T (above). */
void sd_nn_split_sum(int nt, size_t parts, size_t n_sum, sd_nn_part_fn part,
                     sd_nn_reduce_fn reduce, void *ctx);

#endif /* SD_NN_SPLIT_H */
