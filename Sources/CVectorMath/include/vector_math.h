#ifndef FACET_VECTOR_MATH_H
#define FACET_VECTOR_MATH_H

#include <stdint.h>

/* AVX-512F versions of the row kernels of Sources/Tensor/Kernels/VectorMath.swift, for CPUs
   that have it (the Swift package builds for the x86-64 baseline, whose 4-wide SSE registers
   hold a quarter of a 512-bit one). The caller checks the CPU first. e^x is computed exactly
   as VectorMath.swift's exp4 does, operation for operation, so each value is bit-identical;
   sums add in another order. */

/* The largest of x[0..<n] (-infinity for n = 0), NaN if any element is NaN. */
float facet_maximum_avx512(const float *x, long n);

/* out[i] = e^(x[i] - shift), returning their sum; out may be x, or NULL for the sum alone. */
float facet_exponentials_and_sum_avx512(float *out, const float *x, long n, float shift);

/* out[i] = scale * e^(x[i] - shift); out may be x. */
void facet_scaled_exponentials_avx512(float *out, const float *x, long n, float shift, float scale);

/* As the two above with scale 1, on an e^x of fused multiply-adds and vscalefps (the same
   polynomial, within 1 ulp over the float range, 2.6 times faster) that is not bit-identical to
   VectorMath.swift's exp4: for attention under bfloat16 compute, whose probabilities are rounded
   to bfloat16 for its products anyway. */
float facet_exponentials_and_sum_fma_avx512(float *out, const float *x, long n, float shift);

/* SwiGLU: out[i] = g s u for g = gate[i], u = up[i], s = sigmoid(g) = 1 / (1 + e^-g) with the e^x
   above. */
void facet_swiglu_forward_avx512(float *out, const float *gate, const float *up, long n);

/* The pullback, accumulating: dgate[i] += dy u s (1 + g (1 - s)), dup[i] += dy g s with
   s = sigmoid(g); either output may be NULL. */
void facet_swiglu_backward_avx512(float *dgate, float *dup, const float *dy, const float *gate, const float *up, long n);

/* dst[i] = src[i] rounded to bfloat16 as Tensor.swift's narrowToBFloat16 does, bit for bit (to
   nearest even, subnormals kept, NaN kept quiet). */
void facet_narrow_to_bfloat16_avx512(uint16_t *dst, const float *src, long n);

/* C = alpha * A B + beta * C for the small products of attention's blocks and LoRA's rank-r
   products (Tensor's ThinGEMM.swift), read in place (OpenBLAS packs both operands on every
   call, which for attention's shapes cost a fifth of the time):
   C: (m, n) with rows ldc apart; A(i, p) = a[i * a_row_stride + p * a_depth_stride], so a
   transposed A is a matter of strides; B: (k, n) with rows ldb apart. With beta = 0, C is
   only written. */
void facet_gemm_avx512(float *c, long ldc, const float *a, long a_row_stride, long a_depth_stride,
                       const float *b, long ldb, long m, long n, long k, float alpha, float beta);

#endif
