/// Row-major c: (m, n) = alpha op(A) op(B) + beta c for LoRA's rank-r products, where one of
/// m, n, k is the rank. OpenBLAS packs both operands and wakes its threads on every call, which
/// for these thin shapes cost as much as the arithmetic; on AVX-512F they are read in place by
/// `avx512GEMM`, C split by rows (or, when it has fewer rows than columns, by 16-column strips)
/// over the cores. Every element of C sums over k in the same order whatever the split, so the
/// result does not depend on the thread count. A transposed B (small: it is A or B of the
/// adapter) is copied first, once per call.
func thinGEMM(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard vectorMathUsesAVX512 else {
        return BLAS.sgemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    guard m > 0, n > 0 else { return }
    guard transB else {
        return splitThinGEMM(transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    // B is stored (n, k); its (k, n) copy.
    let bt = Storage(count: k * n, zeroed: false)
    let copy = bt.floats
    for j in 0..<n {
        for p in 0..<k { copy[p * n + j] = b[j * ldb + p] }
    }
    splitThinGEMM(transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: copy, ldb: n, beta: beta, c: c, ldc: ldc)
}

private func splitThinGEMM(
    transA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    // A(i, p) is a[i * lda + p], or a[p * lda + i] when A is stored transposed.
    let rowStride = transA ? 1 : lda, depthStride = transA ? lda : 1
    // Below ~1 MFLOP per thread the wake-up costs more than the split saves.
    let minimumWork = 1 << 20
    if m >= n {
        let rowsPerThread = max(1, minimumWork / max(2 * n * k, 1))
        parallelChunks(m, minimumChunk: rowsPerThread) { rows in
            avx512GEMM(
                m: rows.count, n: n, k: k, alpha: alpha, a: a + rows.lowerBound * rowStride, aRowStride: rowStride,
                aDepthStride: depthStride, b: b, ldb: ldb, beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
        }
    } else {
        let strips = (n + 15) / 16
        let stripsPerThread = max(1, minimumWork / max(2 * 16 * m * k, 1))
        parallelChunks(strips, minimumChunk: stripsPerThread) { range in
            let j0 = range.lowerBound * 16, j1 = min(n, range.upperBound * 16)
            avx512GEMM(
                m: m, n: j1 - j0, k: k, alpha: alpha, a: a, aRowStride: rowStride, aDepthStride: depthStride, b: b + j0, ldb: ldb,
                beta: beta, c: c + j0, ldc: ldc)
        }
    }
}
