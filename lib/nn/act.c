/*
 * Scalar evaluation of the shared activations (act.h), through the same
 * blocks of code the network passes run.
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "act.h"

#define SD_ACT_SWITCH(act)                                                                 \
    switch (act) {                                                                         \
    case SD_ACT_RELU: SD_ACT_CODE_RELU; break;                                             \
    case SD_ACT_TANH: SD_ACT_CODE_TANH; break;                                             \
    case SD_ACT_SOFTPLUS: SD_ACT_CODE_SOFTPLUS; break;                                     \
    case SD_ACT_GELU_TANH: SD_ACT_CODE_GELU_TANH; break;                                   \
    case SD_ACT_GELU: SD_ACT_CODE_GELU; break;                                             \
    case SD_ACT_SILU:                                                                      \
    default: SD_ACT_CODE_SILU; break;                                                      \
    }

void sd_act_eval(sd_act act, double z, double *out_a, double *out_d, double *out_s2)
{
#define R double
#define SD_VM(name) name##_d
#define SD_VC(d, f) d
    R a, d, s2;
    SD_ACT_SWITCH(act)
    *out_a = a;
    *out_d = d;
    *out_s2 = s2;
#undef R
#undef SD_VM
#undef SD_VC
}

void sd_act_evalf(sd_act act, float z, float *out_a, float *out_d, float *out_s2)
{
#define R float
#define SD_VM(name) name##_f
#define SD_VC(d, f) f
    R a, d, s2;
    SD_ACT_SWITCH(act)
    *out_a = a;
    *out_d = d;
    *out_s2 = s2;
#undef R
#undef SD_VM
#undef SD_VC
}

/* The bounds act.h documents: the largest errors tests/test_act.c measures
 * over its points, in either precision, rounded up. */
double sd_act_max_ulp(sd_act act, int k, int f32)
{
    static const double bound[SD_ACT_LAST + 1][3] = {
        [SD_ACT_SILU] = {3, 4, 5},      [SD_ACT_RELU] = {0, 0, 0},
        [SD_ACT_TANH] = {3, 5, 8},      [SD_ACT_SOFTPLUS] = {2, 3, 5},
        [SD_ACT_GELU_TANH] = {5, 7, 10}, [SD_ACT_GELU] = {6, 4, 4},
    };
    (void)f32;
    if ((unsigned)act > SD_ACT_LAST || k < 0 || k > 2)
        return 0;
    return bound[act][k];
}
