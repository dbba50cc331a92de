/*
 * Philox4x32-10 on PX_N counters at once in 64-bit vector lanes, for one x86
 * instruction set (private; included by rng.c once per set, no include
 * guard). The includer defines PX_N (lanes per vector), PX_NAME (the
 * function's name), PX_V and PX_V32 (names for its vector types), PX_TARGET
 * (its target attribute, or nothing for the baseline SSE2) and PX_MUL(a, b)
 * (the unsigned 32 x 32 -> 64 bit products of the low halves of each lane:
 * pmuludq). GCC's vectoriser turns the plain
 * loop's 64-bit products into full 64 x 64 bit multiplies (three pmuludq
 * each), so this spells the one instruction out; everything else is GCC
 * vector extension arithmetic. Only the low 32 bits of a lane matter
 * (pmuludq reads no more, xor keeps halves apart, and the store truncates),
 * so no lane is ever masked. Integer arithmetic: the words are the bits of
 * philox_block's, on every processor.
 * SPDX-License-Identifier: BSD-3-Clause
 */
typedef uint64_t PX_V __attribute__((vector_size(8 * PX_N)));
typedef uint32_t PX_V32 __attribute__((vector_size(4 * PX_N)));

/* Blocks block .. of the stream into w (the layout of philox_pass) by
 * vectors of PX_N, two at a time while they fill (two independent chains
 * hide the multiplies' latency), then one, the last possibly reaching past
 * nb (w has room to RNG_LANES, a multiple of PX_N); returns how many blocks
 * it wrote, at least nb - 1. */
PX_TARGET static int PX_NAME(uint64_t seed, uint64_t stream, uint64_t block, int nb,
                             uint32_t w[4][RNG_LANES])
{
    PX_V iota;
    for (int i = 0; i < PX_N; i++)
        iota[i] = (uint64_t)i;
    const PX_V m0 = (PX_V){0} + PHILOX_M0, m1 = (PX_V){0} + PHILOX_M1;
    int l = 0;
    while (nb - l >= 2) {
        int g_n = nb - l >= 2 * PX_N ? 2 : 1;
        PX_V c0[2], c1[2], c2[2], c3[2];
        for (int g = 0; g < g_n; g++) {
            PX_V b = (iota + (block + (uint64_t)(l + g * PX_N))) & (UINT64_MAX >> 1);
            c0[g] = b;
            c1[g] = b >> 32;
            c2[g] = (PX_V){0} + (stream & UINT32_MAX);
            c3[g] = (PX_V){0} + (stream >> 32);
        }
        uint64_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int round = 0; round < 10; round++) {
            for (int g = 0; g < g_n; g++) {
                PX_V p0 = PX_MUL(c0[g], m0), p1 = PX_MUL(c2[g], m1);
                c0[g] = (p1 >> 32) ^ c1[g] ^ k0;
                c2[g] = (p0 >> 32) ^ c3[g] ^ k1;
                c1[g] = p1;
                c3[g] = p0;
            }
            k0 = (uint32_t)(k0 + PHILOX_W0);
            k1 = (uint32_t)(k1 + PHILOX_W1);
        }
        for (int g = 0; g < g_n; g++, l += PX_N) {
            PX_V32 t0 = __builtin_convertvector(c0[g], PX_V32);
            PX_V32 t1 = __builtin_convertvector(c1[g], PX_V32);
            PX_V32 t2 = __builtin_convertvector(c2[g], PX_V32);
            PX_V32 t3 = __builtin_convertvector(c3[g], PX_V32);
            memcpy(&w[0][l], &t0, sizeof t0);
            memcpy(&w[1][l], &t1, sizeof t1);
            memcpy(&w[2][l], &t2, sizeof t2);
            memcpy(&w[3][l], &t3, sizeof t3);
        }
    }
    return l;
}
