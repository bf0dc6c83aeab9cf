#include "vector_math.h"

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

static inline __mmask16 tail_mask(long remaining) {
    return remaining >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << remaining) - 1);
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

AVX512 float facet_exponentials_and_sum_avx512(float *out, const float *x, long n, float shift) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512 total = _mm512_setzero_ps();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s));
        if (out) _mm512_mask_storeu_ps(out + i, mask, e);
        total = _mm512_mask_add_ps(total, mask, total, e);
    }
    return _mm512_reduce_add_ps(total);
}

AVX512 void facet_scaled_exponentials_avx512(float *out, const float *x, long n, float shift, float scale) {
    const __m512 s = _mm512_set1_ps(shift), factor = _mm512_set1_ps(scale);
    for (long i = 0; i < n; i += 16) {
        const __mmask16 mask = tail_mask(n - i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), s));
        _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(e, factor));
    }
}
