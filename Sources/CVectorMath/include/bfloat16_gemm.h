#ifndef FACET_BFLOAT16_GEMM_H
#define FACET_BFLOAT16_GEMM_H

#include <stdint.h>

/* Attention's block products in bfloat16 x bfloat16 -> float32 on AVX512_BF16 (vdpbf16ps, which
   multiplies pairs of bfloat16 values along the depth and adds both products to a float32 lane),
   for CPUs that have it (with AVX512BW and AVX512VL); the caller checks the CPU first. Operands are packed
   from float32 by the functions below, rounding to nearest even as `narrowToBFloat16` does except
   that subnormal inputs become zero (the instructions' rule).

   A: (m, k) bfloat16, rows lda elements apart (lda even), depth contiguous; B: pairs of depth
   rows interleaved, B(p, j) at b[(p / 2) * ldb + j] half p % 2 (ldb in 32-bit pairs). An odd k
   is padded with a zero depth row in both. */

/* C = alpha * A B + beta * C; C: (m, n), rows ldc apart; k2 = (k + 1) / 2 > 0 depth pairs.
   With beta = 0, C is only written. */
void facet_bf16_gemm(float *c, long ldc, const uint16_t *a, long lda, const uint32_t *b, long ldb, long m, long n,
                     long k2, float alpha, float beta);

/* dst: (rows, cols rounded up to even) bfloat16, rows ldd elements apart = src: (rows, cols)
   float32 rows lds apart, each row times scales[row] unless scales is NULL, a zero in the
   padding column. As A: the rows of a matrix. */
void facet_bf16_pack_rows(uint16_t *dst, long ldd, const float *src, long lds, const float *scales, long rows, long cols);

/* dst: ((rows + 1) / 2, cols) pairs, rows ldd pairs apart, pair (i, j) = (src[2i][j],
   src[2i + 1][j]) of src: (rows, cols) float32 rows lds apart, zero past the last row. As B:
   the depth rows of a matrix in order. */
void facet_bf16_pack_row_pairs(uint32_t *dst, long ldd, const float *src, long lds, long rows, long cols);

/* The softmax backward of a block, packed for the two products that read it: ds = p (dp -
   row_dot[r]) scale of p, dp: (rows, cols) float32 rows cols apart, into ds_rows: (rows, cols
   rounded up to even) as A and ds_pairs: ((rows + 1) / 2, cols) as B, rows cols pairs apart. */
void facet_bf16_score_gradients(uint16_t *ds_rows, uint32_t *ds_pairs, const float *p, const float *dp,
                                const float *row_dot, float scale, long rows, long cols);

/* dst: (cols, rows) 32-bit words, rows ldd apart = src: (rows, cols) words rows lds apart,
   transposed: pairs of one packing into the layout of the other (a pair stays one word). */
void facet_transpose_pairs(uint32_t *dst, long ldd, const uint32_t *src, long lds, long rows, long cols);

#endif
