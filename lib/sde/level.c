/*
 * The time at which an increasing function of the marginal (a noise level:
 * sigma/alpha, or its logarithm) takes a value, by bisection to the last
 * bit. One routine for the samplers' grids and raised noise levels
 * (lib/solve) and the importance-sampled times (importance.c).
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "internal.h"
#include "sde_internal.h"

int sd_sde_level_bracket(const scoresde_sde *sde, sd_sde_level_fn level, double target,
                         double *lo, double *hi)
{
    double a = *lo, b = *hi;
    /* Each pass leaves a strictly smaller set of doubles inside (a, b), so
     * the loop ends, with a and b adjacent (or equal), or at a NaN. */
    for (;;) {
        double mid = 0.5 * (a + b), v;
        if (!(mid > a && mid < b))
            break;
        SD_TRY(level(sde, mid, &v));
        if (v < target)
            a = mid;
        else
            b = mid;
    }
    *lo = a;
    *hi = b;
    return SCORESDE_OK;
}
