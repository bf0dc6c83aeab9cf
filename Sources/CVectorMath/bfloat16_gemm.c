#include "bfloat16_gemm.h"
#include "gemm_tile.h"

#include <immintrin.h>

#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* A pair of bfloat16 values read as one word from an array of 16-bit elements. */
typedef uint32_t __attribute__((may_alias, aligned(2))) pair_word;

enum { BF16_PAIRS = 128 };

/* The first `remaining` of 32 lanes (none when it is not positive). */
static inline __mmask32 lanes32(long remaining) {
    return remaining >= 32 ? (__mmask32)0xFFFFFFFFu : remaining <= 0 ? 0 : (__mmask32)((1u << remaining) - 1);
}

/* One tile of C as in vector_math.c's gemm_tile: `rows` rows by `vectors` 16-lane vectors, the
   last one masked; each step takes one depth pair. */
static BF16 inline __attribute__((always_inline)) void bf16_tile(
    const int rows, const int vectors, __mmask16 last, float *c, long ldc, const uint16_t *a, long lda,
    const uint32_t *b, long ldb, long pairs, float alpha, float beta) {
    __m512 acc[GEMM_ROWS][GEMM_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_setzero_ps();
    for (long p = 0; p < pairs; p++) {
        __m512bh bv[GEMM_VECTORS];
        for (int v = 0; v < vectors; v++)
            bv[v] = (__m512bh)(v == vectors - 1 ? _mm512_maskz_loadu_epi32(last, b + p * ldb + 16 * v)
                                                : _mm512_loadu_si512(b + p * ldb + 16 * v));
        for (int r = 0; r < rows; r++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)*(const pair_word *)(a + r * lda + 2 * p));
            for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], bv[v], av);
        }
    }
    gemm_store_tile(rows, vectors, last, acc, c, ldc, alpha, beta);
}

#define BF16_TILE(R, V) \
    bf16_tile(R, V, last, c, ldc, a, lda, b, ldb, pairs, alpha, beta); \
    return

static BF16 void bf16_tile_any(int rows, int vectors, __mmask16 last, float *c, long ldc, const uint16_t *a, long lda,
                               const uint32_t *b, long ldb, long pairs, float alpha, float beta) {
    GEMM_DISPATCH(BF16_TILE)
}

BF16 void facet_bf16_gemm(float *c, long ldc, const uint16_t *a, long lda, const uint32_t *b, long ldb, long m, long n,
                          long k2, float alpha, float beta) {
    /* Depth in chunks of BF16_PAIRS; within a chunk each slice of A's rows passes over all of B's
       columns. For attention's short-depth products (64 deep, thousands of columns) this
       measured 11% faster than keeping a column slice of B in L1 across the row tiles. */
    for (long p0 = 0; p0 < k2; p0 += BF16_PAIRS) {
        const long pairs = k2 - p0 < BF16_PAIRS ? k2 - p0 : BF16_PAIRS;
        const float chunk_beta = p0 == 0 ? beta : 1;
        for (long i0 = 0; i0 < m; i0 += GEMM_ROWS) {
            const int rows = m - i0 < GEMM_ROWS ? (int)(m - i0) : GEMM_ROWS;
            for (long j0 = 0; j0 < n; j0 += 16 * GEMM_VECTORS) {
                const long columns = n - j0 < 16 * GEMM_VECTORS ? n - j0 : 16 * GEMM_VECTORS;
                const int vectors = (int)((columns + 15) / 16);
                const __mmask16 last = tail_mask(columns - 16 * (vectors - 1));
                bf16_tile_any(rows, vectors, last, c + i0 * ldc + j0, ldc, a + i0 * lda + 2 * p0, lda,
                              b + p0 * ldb + j0, ldb, pairs, alpha, chunk_beta);
            }
        }
    }
}

/* One row of 32 values rounded into bfloat16, the first 16 from `low`. */
static BF16 inline __m512i bf16_words(__m512 low, __m512 high) { return (__m512i)_mm512_cvtne2ps_pbh(high, low); }

/* 16 pairs (x[i], y[i]) from the bfloat16 words of x in 0-15 and of y in 16-31. */
static BF16 inline __m512i bf16_pairs(__m512 x, __m512 y) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, bf16_words(x, y));
}

BF16 void facet_bf16_pack_rows(uint16_t *dst, long ldd, const float *src, long lds, const float *scales, long rows, long cols) {
    const long padded = cols + (cols & 1);
    for (long i = 0; i < rows; i++) {
        const float *row = src + i * lds;
        const __m512 scale = _mm512_set1_ps(scales ? scales[i] : 1);
        for (long j = 0; j < padded; j += 32) {
            const __mmask16 first = tail_mask(cols - j), second = tail_mask(cols - j - 16);
            const __m512 low = _mm512_maskz_loadu_ps(first, row + j), high = _mm512_maskz_loadu_ps(second, row + j + 16);
            /* Masked, so that a negative scale leaves +0 in the padding column. */
            const __m512i words = scales ? bf16_words(_mm512_maskz_mul_ps(first, low, scale), _mm512_maskz_mul_ps(second, high, scale))
                                         : bf16_words(low, high);
            _mm512_mask_storeu_epi16(dst + i * ldd + j, lanes32(padded - j), words);
        }
    }
}

BF16 void facet_bf16_pack_row_pairs(uint32_t *dst, long ldd, const float *src, long lds, long rows, long cols) {
    for (long i = 0; 2 * i < rows; i++) {
        const float *first = src + 2 * i * lds, *second = 2 * i + 1 < rows ? first + lds : 0;
        for (long j = 0; j < cols; j += 16) {
            const __mmask16 mask = tail_mask(cols - j);
            const __m512 x = _mm512_maskz_loadu_ps(mask, first + j);
            const __m512 y = second ? _mm512_maskz_loadu_ps(mask, second + j) : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(dst + i * ldd + j, mask, bf16_pairs(x, y));
        }
    }
}

BF16 void facet_bf16_score_gradients(uint16_t *ds_rows, uint32_t *ds_pairs, const float *p, const float *dp,
                                     const float *row_dot, float scale, long rows, long cols) {
    const long padded = cols + (cols & 1);
    const __m512 factor = _mm512_set1_ps(scale);
    for (long i = 0; 2 * i < rows; i++) {
        const long r = 2 * i;
        const int second = r + 1 < rows;
        const __m512 dot0 = _mm512_set1_ps(row_dot[r]), dot1 = _mm512_set1_ps(second ? row_dot[r + 1] : 0);
        for (long j = 0; j < padded; j += 16) {
            const __mmask16 mask = tail_mask(cols - j);
            const long at = r * cols + j;
            /* p (dp - dot) scale, in this order as the float32 path computes it. */
            const __m512 x = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, p + at),
                                                         _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, dp + at), dot0)), factor);
            const __m512 y = second ? _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, p + at + cols),
                                                                  _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, dp + at + cols), dot1)), factor)
                                    : _mm512_setzero_ps();
            _mm512_mask_storeu_epi32(ds_pairs + i * cols + j, mask, bf16_pairs(x, y));
            /* The two rows' words; the padding column (j = cols) is the zero of a masked lane. */
            const __m512i words = bf16_words(x, y);
            const __mmask16 row_mask = tail_mask(padded - j);
            _mm512_mask_storeu_epi16(ds_rows + r * padded + j, (__mmask32)row_mask, words);
            if (second)
                _mm256_mask_storeu_epi16(ds_rows + (r + 1) * padded + j, row_mask, _mm512_extracti64x4_epi64(words, 1));
        }
    }
}

void facet_transpose_pairs(uint32_t *dst, long ldd, const uint32_t *src, long lds, long rows, long cols) {
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}
