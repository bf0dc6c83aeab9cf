#ifndef FACET_GEMM_TILE_H
#define FACET_GEMM_TILE_H

/* What attention's float32 (vector_math.c) and bfloat16 (bfloat16_gemm.c) GEMMs share: a tile of
   C is at most GEMM_ROWS rows by GEMM_VECTORS 16-lane vectors, its accumulators in registers; and
   the mask of a loop's last, partial vector, which every AVX-512 loop of both files uses. */

#include <immintrin.h>

enum { GEMM_ROWS = 6, GEMM_VECTORS = 4 };

/* The first `remaining` of 16 lanes (none when it is not positive). */
static inline __mmask16 tail_mask(long remaining) {
    return remaining >= 16 ? (__mmask16)0xFFFF : remaining <= 0 ? 0 : (__mmask16)((1u << remaining) - 1);
}

/* C = alpha * acc + beta * C over a tile of `rows` x `vectors`, the last vector masked by `last`;
   with beta = 0, C is only written. Always inlined with constant sizes. */
static __attribute__((target("avx512f"), always_inline)) inline void gemm_store_tile(
    const int rows, const int vectors, __mmask16 last, __m512 acc[GEMM_ROWS][GEMM_VECTORS], float *c, long ldc,
    float alpha, float beta) {
    const __m512 scale = _mm512_set1_ps(alpha), keep = _mm512_set1_ps(beta);
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v < vectors; v++) {
            const __mmask16 mask = v == vectors - 1 ? last : (__mmask16)0xFFFF;
            float *out = c + r * ldc + 16 * v;
            __m512 value = _mm512_mul_ps(acc[r][v], scale);
            if (beta != 0) value = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, out), keep, value);
            _mm512_mask_storeu_ps(out, mask, value);
        }
    }
}

/* Runs TILE(R, V) (a macro that calls a tile function and returns) with the constant sizes for
   the variables `rows` (1 to GEMM_ROWS) and `vectors` (1 to GEMM_VECTORS). */
#define GEMM_ROW_CASES(TILE, V) \
    switch (rows) { \
    case 6: TILE(6, V); case 5: TILE(5, V); case 4: TILE(4, V); \
    case 3: TILE(3, V); case 2: TILE(2, V); default: TILE(1, V); \
    }
#define GEMM_DISPATCH(TILE) \
    switch (vectors) { \
    case 4: GEMM_ROW_CASES(TILE, 4) \
    case 3: GEMM_ROW_CASES(TILE, 3) \
    case 2: GEMM_ROW_CASES(TILE, 2) \
    default: GEMM_ROW_CASES(TILE, 1) \
    }

#endif
