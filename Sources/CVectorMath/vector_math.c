#include "vector_math.h"
#include "gemm_tile.h"

#include <immintrin.h>
#include <math.h>

/* exp4's float arithmetic, unfused: a contracted multiply-add would round once where the
   Swift code rounds twice, and the two paths would differ in the last bit. */
#pragma clang fp contract(off)

#define AVX512 __attribute__((target("avx512f")))

static AVX512 inline __m512 exp16(__m512 input) {
    const __m512 lowest = _mm512_set1_ps(-87.33654f), highest = _mm512_set1_ps(88.72283f);
    const __mmask16 under = _mm512_cmp_ps_mask(input, lowest, _CMP_LT_OQ);
    const __mmask16 over = _mm512_cmp_ps_mask(input, highest, _CMP_GT_OQ);
    const __mmask16 nan = _mm512_cmp_ps_mask(input, input, _CMP_UNORD_Q);
    __m512 x = _mm512_mask_mov_ps(input, under, lowest);
    x = _mm512_mask_mov_ps(x, over, highest);
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 shifted = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), magic);
    const __m512 rounded = _mm512_sub_ps(shifted, magic);
    const __m512 r = _mm512_add_ps(
        _mm512_sub_ps(x, _mm512_mul_ps(rounded, _mm512_set1_ps(0.693359375f))),
        _mm512_mul_ps(rounded, _mm512_set1_ps(2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    const __m512i n = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    const __m512i half = _mm512_srai_epi32(n, 1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 low = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(half, bias), 23));
    const __m512 high = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(n, half), bias), 23));
    __m512 result = _mm512_mul_ps(_mm512_mul_ps(p, low), high);
    result = _mm512_mask_mov_ps(result, over, _mm512_set1_ps(INFINITY));
    result = _mm512_mask_mov_ps(result, under, _mm512_setzero_ps());
    return _mm512_mask_mov_ps(result, nan, input);
}

AVX512 float facet_maximum_avx512(const float *x, long n) {
    __m512 lanes = _mm512_set1_ps(-INFINITY);
    __mmask16 saw_nan = 0;
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, x + i);
        lanes = _mm512_max_ps(lanes, v);
        saw_nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    return saw_nan ? NAN : _mm512_reduce_max_ps(lanes);
}

/* exp16's polynomial with fused multiply-adds, 2^n by vscalefps. The clamps only keep infinite
   inputs from becoming NaN (scalef takes any exponent: overflow gives infinity, underflow 0);
   max and min return their second operand, x, when it is NaN. */
static AVX512 inline __m512 exp16_fma(__m512 input) {
    const __m512 x = _mm512_min_ps(_mm512_set1_ps(128.0f), _mm512_max_ps(_mm512_set1_ps(-256.0f), input));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* out[i] = e^(x[i] - shift) (out may be NULL), returning their sum; on exp16_fma when `fused`. */
static AVX512 inline __attribute__((always_inline)) float exponentials_and_sum(float *out, const float *x, long n, float shift,
                                                                              const int fused) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 total = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 shifted = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s);
        const __m512 e = fused ? exp16_fma(shifted) : exp16(shifted);
        if (out) _mm512_mask_storeu_ps(out + i, mask, e);
        total = _mm512_mask_add_ps(total, mask, total, e);
    }
    return _mm512_reduce_add_ps(total);
}

AVX512 float facet_exponentials_and_sum_avx512(float *out, const float *x, long n, float shift) {
    return exponentials_and_sum(out, x, n, shift, 0);
}

AVX512 void facet_scaled_exponentials_avx512(float *out, const float *x, long n, float shift, float scale) {
    const __m512 s = _mm512_set1_ps(shift), factor = _mm512_set1_ps(scale);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s));
        _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(e, factor));
    }
}

AVX512 float facet_exponentials_and_sum_fma_avx512(float *out, const float *x, long n, float shift) {
    return exponentials_and_sum(out, x, n, shift, 1);
}

static AVX512 inline __m512 sigmoid16(__m512 g) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

AVX512 void facet_swiglu_forward_avx512(float *out, const float *gate, const float *up, long n) {
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i), u = _mm512_maskz_loadu_ps(mask, up + i);
        _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(_mm512_mul_ps(g, sigmoid16(g)), u));
    }
}

AVX512 void facet_swiglu_backward_avx512(float *dgate, float *dup, const float *dy, const float *gate, const float *up, long n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i), d = _mm512_maskz_loadu_ps(mask, dy + i);
        const __m512 s = sigmoid16(g);
        if (dup) {
            const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dup + i), _mm512_mul_ps(_mm512_mul_ps(d, g), s));
            _mm512_mask_storeu_ps(dup + i, mask, sum);
        }
        if (dgate) {
            const __m512 u = _mm512_maskz_loadu_ps(mask, up + i);
            const __m512 slope = _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, s)));
            const __m512 term = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, u), s), slope);
            _mm512_mask_storeu_ps(dgate + i, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dgate + i), term));
        }
    }
}

AVX512 void facet_narrow_to_bfloat16_avx512(uint16_t *dst, const float *src, long n) {
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512i word = _mm512_maskz_loadu_epi32(mask, src + i);
        const __m512i high = _mm512_srli_epi32(word, 16);
        const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(word, _mm512_add_epi32(bias, _mm512_and_si512(high, one))), 16);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(word, magnitude), infinity);
        const __m512i value = _mm512_mask_or_epi32(rounded, nan, high, quiet);
        _mm512_mask_cvtepi32_storeu_epi16(dst + i, mask, value);
    }
}

enum { GEMM_DEPTH = 128 };

/* One tile of C: `rows` (<= GEMM_ROWS) rows by `vectors` (<= GEMM_VECTORS) 16-lane vectors, the
   last one masked; 24 accumulators at full size. Always inlined with constant sizes, so the
   arrays live in registers. */
static AVX512 inline __attribute__((always_inline)) void gemm_tile(
    const int rows, const int vectors, __mmask16 last, float *c, long ldc, const float *a, long ar, long ad,
    const float *b, long ldb, long k, float alpha, float beta) {
    __m512 acc[GEMM_ROWS][GEMM_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_setzero_ps();
    for (long p = 0; p < k; p++) {
        __m512 bv[GEMM_VECTORS];
        for (int v = 0; v < vectors; v++)
            bv[v] = v == vectors - 1 ? _mm512_maskz_loadu_ps(last, b + p * ldb + 16 * v) : _mm512_loadu_ps(b + p * ldb + 16 * v);
        for (int r = 0; r < rows; r++) {
            const __m512 av = _mm512_set1_ps(a[r * ar + p * ad]);
            for (int v = 0; v < vectors; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    gemm_store_tile(rows, vectors, last, acc, c, ldc, alpha, beta);
}

#define GEMM_TILE(R, V) \
    gemm_tile(R, V, last, c, ldc, a, ar, ad, b, ldb, k, alpha, beta); \
    return

static AVX512 void gemm_tile_any(int rows, int vectors, __mmask16 last, float *c, long ldc, const float *a, long ar,
                                 long ad, const float *b, long ldb, long k, float alpha, float beta) {
    GEMM_DISPATCH(GEMM_TILE)
}

AVX512 void facet_gemm_avx512(float *c, long ldc, const float *a, long a_row_stride, long a_depth_stride,
                              const float *b, long ldb, long m, long n, long k, float alpha, float beta) {
    /* Depth in chunks whose slice of B (GEMM_DEPTH x 64 floats, 32 KiB) stays in L1 while every
       row tile passes over it. */
    for (long p0 = 0; p0 < k; p0 += GEMM_DEPTH) {
        const long depth = k - p0 < GEMM_DEPTH ? k - p0 : GEMM_DEPTH;
        const float chunk_beta = p0 == 0 ? beta : 1;
        for (long j0 = 0; j0 < n; j0 += 16 * GEMM_VECTORS) {
            const long columns = n - j0 < 16 * GEMM_VECTORS ? n - j0 : 16 * GEMM_VECTORS;
            const int vectors = (int)((columns + 15) / 16);
            const __mmask16 last = tail_mask(columns - 16 * (vectors - 1));
            for (long i0 = 0; i0 < m; i0 += GEMM_ROWS) {
                const int rows = m - i0 < GEMM_ROWS ? (int)(m - i0) : GEMM_ROWS;
                gemm_tile_any(rows, vectors, last, c + i0 * ldc + j0, ldc, a + i0 * a_row_stride + p0 * a_depth_stride,
                              a_row_stride, a_depth_stride, b + p0 * ldb + j0, ldb, depth, alpha, chunk_beta);
            }
        }
    }
}
