#ifndef FACET_VECTOR_MATH_H
#define FACET_VECTOR_MATH_H

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

#endif
