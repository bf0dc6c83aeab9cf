/// Matrix products through OpenBLAS. Transposes are GEMM flags, never copies.
///
/// - `a`: [..., M, K] (or [..., K, M] with `transposeA`), `b`: [K, N] (or [N, K] with
///   `transposeB`) shared by every leading index of `a`, or batched with the same leading
///   dimensions as `a`.
/// - A bfloat16 `b` (a frozen weight) is widened tile by tile; it never receives a gradient.
/// - The product is scaled by `alpha` inside the GEMM (LoRA's scale costs no extra pass).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1) -> Tensor {
    require(a.rank >= 2 && b.rank >= 2, "matmul: shapes \(a.shape) and \(b.shape) must both have rank 2 or more")
    let aRows = a.shape[a.rank - 2], aCols = a.shape[a.rank - 1]
    let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
    let m = transposeA ? aCols : aRows, k = transposeA ? aRows : aCols
    let n = transposeB ? bRows : bCols, kB = transposeB ? bCols : bRows
    require(
        k == kB,
        "matmul: shapes \(a.shape) and \(b.shape) do not match (transposeA: \(transposeA), transposeB: \(transposeB))")
    require(a.dtype == .float32, "matmul: the left operand of shape \(a.shape) must be float32")
    require(!b.requiresGrad || b.dtype == .float32, "matmul: a bfloat16 operand \(b.shape) cannot be trained")

    if b.rank == 2 && !transposeA {
        // Every leading index of `a` shares `b`: one GEMM over all rows.
        let rows = a.count / k
        let out = Tensor(uninitialized: Array(a.shape.dropLast()) + [n])
        require(
            b.dtype == .float32 || transposeB,
            "matmul: a bfloat16 right operand \(b.shape) is supported as a weight [N, K] with transposeB")
        if transposeB {
            weightForward(out.data, a.data, b, rows: rows, n: n, k: k, alpha: alpha)
        } else {
            BLAS.sgemm(transA: false, transB: false, m: rows, n: n, k: k, alpha: alpha, a: a.data, lda: k,
                       b: b.data, ldb: bCols, beta: 0, c: out.data, ldc: n)
        }
        return out.recorded(from: [a, b]) { dy in
            if a.needsGrad {
                if transposeB {
                    weightInputBackward(a.gradBuffer(), dy, b, rows: rows, n: n, k: k, alpha: alpha)
                } else {
                    gemmInputGradient(a.gradBuffer(), dy, b.data, m: rows, n: n, k: k, transposeA: false, transposeB: false, ldb: bCols, alpha: alpha)
                }
            }
            if b.needsGrad {
                gemmWeightGradient(b.gradBuffer(), dy, a.data, m: rows, n: n, k: k, transposeA: false, transposeB: transposeB, lda: k, alpha: alpha)
            }
        }
    }

    require(
        a.shape.dropLast(2) == b.shape.dropLast(2),
        "matmul: batch dimensions of \(a.shape) and \(b.shape) differ")
    require(b.dtype == .float32, "matmul: batched operand \(b.shape) must be float32")
    let batch = a.count / (aRows * aCols)
    let out = Tensor(uninitialized: Array(a.shape.dropLast(2)) + [m, n])
    let (aStride, bStride, cStride) = (aRows * aCols, bRows * bCols, m * n)
    for i in 0..<batch {
        BLAS.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a.data + i * aStride, lda: aCols,
                   b: b.data + i * bStride, ldb: bCols, beta: 0, c: out.data + i * cStride, ldc: n)
    }
    return out.recorded(from: [a, b]) { dy in
        for i in 0..<batch {
            if a.needsGrad {
                gemmInputGradient(a.gradBuffer() + i * aStride, dy + i * cStride, b.data + i * bStride,
                                  m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, ldb: bCols, alpha: alpha)
            }
            if b.needsGrad {
                gemmWeightGradient(b.gradBuffer() + i * bStride, dy + i * cStride, a.data + i * aStride,
                                   m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, lda: aCols, alpha: alpha)
            }
        }
    }
}

/// dA += dC op(B)^T (or its transpose when A was transposed). dC: (m, n).
private func gemmInputGradient(
    _ dA: UnsafeMutablePointer<Float>, _ dC: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, ldb: Int, alpha: Float
) {
    if transposeA {
        BLAS.sgemm(transA: transposeB, transB: true, m: k, n: m, k: n, alpha: alpha, a: b, lda: ldb, b: dC, ldb: n, beta: 1, c: dA, ldc: m)
    } else {
        BLAS.sgemm(transA: false, transB: !transposeB, m: m, n: k, k: n, alpha: alpha, a: dC, lda: n, b: b, ldb: ldb, beta: 1, c: dA, ldc: k)
    }
}

/// dB += op(A)^T dC (or its transpose when B was transposed). dC: (m, n).
private func gemmWeightGradient(
    _ dB: UnsafeMutablePointer<Float>, _ dC: UnsafePointer<Float>, _ a: UnsafePointer<Float>,
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, lda: Int, alpha: Float
) {
    if transposeB {
        BLAS.sgemm(transA: true, transB: transposeA, m: n, n: k, k: m, alpha: alpha, a: dC, lda: n, b: a, ldb: lda, beta: 1, c: dB, ldc: k)
    } else {
        BLAS.sgemm(transA: !transposeA, transB: false, m: k, n: n, k: m, alpha: alpha, a: a, lda: lda, b: dC, ldb: n, beta: 1, c: dB, ldc: n)
    }
}
