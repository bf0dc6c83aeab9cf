/// Products with a weight stored [n, k] (the HF layout of a linear layer), float32 or
/// bfloat16. A bfloat16 weight is either multiplied in bfloat16 (its `computeDType`), with the
/// activations rounded to bfloat16 for that GEMM only, or widened a tile of rows at a time,
/// never whole.

// out: (rows, n) = x: (rows, k) · w^T
func weightForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: Tensor, rows: Int, n: Int, k: Int, alpha: Float = 1) {
    switch w.dtype {
    case .float32:
        BLAS.sgemm(transA: false, transB: true, m: rows, n: n, k: k, alpha: alpha, a: x, lda: k, b: w.data, ldb: k, beta: 0, c: out, ldc: n)
    case .bfloat16 where w.computeDType == .bfloat16:
        let xb = roundedToBFloat16(x, rows * k)
        BFloat16GEMM.gemm(
            transA: false, transB: true, m: rows, n: n, k: k, alpha: alpha, a: xb.bfloat16s, lda: k, b: w.storage.bfloat16s, ldb: k,
            beta: 0, c: out, ldc: n)
    case .bfloat16:
        bfloat16WeightForward(out, x, w.storage.bfloat16s, rows: rows, n: n, k: k, alpha: alpha)
    }
}

// dx: (rows, k) += dy: (rows, n) · w
func weightInputBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: Tensor, rows: Int, n: Int, k: Int, alpha: Float = 1) {
    switch w.dtype {
    case .float32:
        BLAS.sgemm(transA: false, transB: false, m: rows, n: k, k: n, alpha: alpha, a: dy, lda: n, b: w.data, ldb: k, beta: 1, c: dx, ldc: k)
    case .bfloat16 where w.computeDType == .bfloat16:
        let dyb = roundedToBFloat16(dy, rows * n)
        BFloat16GEMM.gemm(
            transA: false, transB: false, m: rows, n: k, k: n, alpha: alpha, a: dyb.bfloat16s, lda: n, b: w.storage.bfloat16s, ldb: k,
            beta: 1, c: dx, ldc: k)
    case .bfloat16:
        bfloat16WeightBackward(dx, dy, w.storage.bfloat16s, rows: rows, n: n, k: k, alpha: alpha)
    }
}

/// A bfloat16 copy of `count` activations for one GEMM (pooled memory: fresh pages would cost
/// a page fault each).
private func roundedToBFloat16(_ x: UnsafePointer<Float>, _ count: Int) -> Storage {
    let rounded = Storage(count: count, dtype: .bfloat16, zeroed: false)
    narrowToBFloat16(rounded.bfloat16s, x, count)
    return rounded
}

/// Calls `body(n0, rows, tile)` for consecutive row tiles of a bfloat16 weight w: (n, k),
/// each widened into a float32 buffer of about 4 MiB.
private func forEachWidenedTile(_ w: UnsafePointer<UInt16>, n: Int, k: Int, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
    let tileRows = min(n, max(16, (1 << 20) / max(k, 1)))
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * k)
    defer { tile.deallocate() }
    for n0 in stride(from: 0, to: n, by: tileRows) {
        let rows = min(tileRows, n - n0)
        widenBFloat16(tile, w + n0 * k, rows * k)
        body(n0, rows, tile)
    }
}

// out: (rows, n) = x: (rows, k) · w^T, w: (n, k) bfloat16
private func bfloat16WeightForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, rows: Int, n: Int, k: Int, alpha: Float
) {
    forEachWidenedTile(w, n: n, k: k) { n0, nt, tile in
        BLAS.sgemm(transA: false, transB: true, m: rows, n: nt, k: k, alpha: alpha, a: x, lda: k, b: tile, ldb: k, beta: 0, c: out + n0, ldc: n)
    }
}

// dx: (rows, k) += dy: (rows, n) · w, w: (n, k) bfloat16
private func bfloat16WeightBackward(
    _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>, rows: Int, n: Int, k: Int, alpha: Float
) {
    forEachWidenedTile(w, n: n, k: k) { n0, nt, tile in
        BLAS.sgemm(transA: false, transB: false, m: rows, n: k, k: nt, alpha: alpha, a: dy + n0, lda: n, b: tile, ldb: k, beta: 1, c: dx, ldc: k)
    }
}
