import COpenBLAS
import CVectorMath
import Foundation

/// Which GEMMs run attention's blocks. OpenBLAS packs both operands of every call, which for
/// products this small took a fifth of attention's time; on AVX-512F CPUs CVectorMath's kernel
/// reads them in place instead, keys and values transposed once per head (faster than OpenBLAS
/// on these shapes even with its packing left out). Under bfloat16 compute, on AVX512_BF16 CPUs,
/// the products run in bfloat16 (`AttentionBFloat16Kernels.swift`).
enum AttentionGEMM {
    case openBLAS, avx512, avx512BFloat16

    static let preferred: AttentionGEMM = vectorMathUsesAVX512 ? .avx512 : .openBLAS
    static let cpuHasBFloat16Products = facet_cpu_has_avx512_bf16() != 0 && facet_cpu_has_avx512bw_vl() != 0

    /// The products for a compute dtype: bfloat16 ones where asked for and the CPU has them, else
    /// the float32 path.
    static func forCompute(_ dtype: DType) -> AttentionGEMM {
        dtype == .bfloat16 && cpuHasBFloat16Products ? .avx512BFloat16 : preferred
    }
}

/// Causal attention over head-interleaved layouts, one block of query rows at a time, so
/// the scores held at once are (block rows x keys) for one head: memory grows with T,
/// never with T^2. Query row i sits at absolute position keyTokens - queryTokens + i (a
/// KV cache holds the earlier keys); it sees key j when j <= its position, when the two
/// are closer than the sliding window, and when both lie in the same packed segment.
struct AttentionGeometry {
    let batch, queryTokens, keyTokens, queryHeads, keyValueHeads, headDim: Int
    let slidingWindow: Int?
    let segmentIds: [Int32]?  // [batch * keyTokens]
    var gemm = AttentionGEMM.preferred

    static let blockRows = 64
    var scale: Float { 1 / Float(headDim).squareRoot() }
    var queryStride: Int { queryHeads * headDim }  // between tokens in q, out
    var keyStride: Int { keyValueHeads * headDim }  // between tokens in k, v
    var positionOffset: Int { keyTokens - queryTokens }

    /// Keys that some row of the block [q0, q1) may see; under bfloat16 products from an even
    /// key, where a pair of the packed keys and values starts (an extra key is masked).
    func keyRange(_ q0: Int, _ q1: Int) -> Range<Int> {
        let first = q0 + positionOffset, last = q1 - 1 + positionOffset
        let start = slidingWindow.map { max(0, first - $0 + 1) } ?? 0
        return (gemm == .avx512BFloat16 ? start & ~1 : start)..<(last + 1)
    }

    @inline(__always)
    func allowed(batch b: Int, position p: Int, key j: Int) -> Bool {
        if j > p { return false }
        if let w = slidingWindow, p - j >= w { return false }
        if let segments = segmentIds, segments[b * keyTokens + j] != segments[b * keyTokens + p] { return false }
        return true
    }

    /// Calls `body(q0, q1, keys)` for every block of query rows.
    func forEachBlock(_ body: (Int, Int, Range<Int>) -> Void) {
        for q0 in stride(from: 0, to: queryTokens, by: Self.blockRows) {
            let q1 = min(q0 + Self.blockRows, queryTokens)
            body(q0, q1, keyRange(q0, q1))
        }
    }

    /// Runs `body(b, heads)` for every batch row and group of query heads, all groups in one
    /// parallel region with single-threaded GEMMs: the products of one block are too small to
    /// pay OpenBLAS's threading each time. Each group writes only its own heads' rows, so
    /// groups of a key-value head's query heads (`sharingKeys`) also own that head's keys.
    func forEachHeadGroup(sharingKeys: Bool, _ body: (Int, Range<Int>) -> Void) {
        let perGroup = sharingKeys ? queryHeads / keyValueHeads : 1
        let groupsPerRow = queryHeads / perGroup
        BLAS.withSingleThreadedGEMMs {
            DispatchQueue.concurrentPerform(iterations: batch * groupsPerRow) { task in
                let first = (task % groupsPerRow) * perGroup
                body(task / groupsPerRow, first..<(first + perGroup))
            }
        }
    }

    func queryOffset(_ b: Int, _ t: Int, _ h: Int) -> Int { (b * queryTokens + t) * queryStride + h * headDim }
    func keyOffset(_ b: Int, _ t: Int, _ h: Int) -> Int {
        (b * keyTokens + t) * keyStride + (h / (queryHeads / keyValueHeads)) * headDim
    }
    func rowIndex(_ b: Int, _ h: Int, _ t: Int) -> Int { (b * queryHeads + h) * queryTokens + t }

    /// Row stride of a transposed key or value head: padded past a multiple of 16 floats, as rows
    /// a power of two apart would all fall into the same few L1 cache sets.
    var transposedStride: Int { (keyTokens + 15) / 16 * 16 + 16 }

    /// Scratch for one key or value head transposed, (headDim, transposedStride); nil where the
    /// GEMMs are OpenBLAS's, which take the transpose as a flag.
    func allocateTransposed() -> UnsafeMutablePointer<Float>? {
        gemm == .avx512 ? UnsafeMutablePointer<Float>.allocate(capacity: headDim * transposedStride) : nil
    }

    // yT: (headDim, transposedStride) = the rows of y (k or v) for batch b and query head h's KV head, transposed
    func transpose(_ yT: UnsafeMutablePointer<Float>?, _ y: UnsafePointer<Float>, b: Int, h: Int) {
        guard let yT else { return }
        let base = y + keyOffset(b, 0, h)
        for t in 0..<keyTokens {
            let row = base + t * keyStride
            for d in 0..<headDim { yT[d * transposedStride + t] = row[d] }
        }
    }

    /// c: (m, n) = alpha * op(a) · b + beta * c, b: (k, n) with rows ldb apart; op(a) is a: (m, k)
    /// or, with `transA`, a^T for a: (k, m), rows lda apart.
    func multiply(
        transA: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
        ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        switch gemm {
        case .openBLAS:
            BLAS.sgemm(transA: transA, transB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        case .avx512, .avx512BFloat16:  // the bfloat16 products have their own kernels; a CPU with them has AVX-512F
            avx512GEMM(m: m, n: n, k: k, alpha: alpha, a: a, aRowStride: transA ? 1 : lda, aDepthStride: transA ? lda : 1,
                       b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// c: (rows, keys.count) = alpha * x: (rows, headDim) · y[keys]^T, for y the keys or values
    /// of query head h's KV head, or `yT` (from `transpose`) where there is one.
    func multiplyTransposed(
        _ c: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, y: UnsafePointer<Float>, yT: UnsafePointer<Float>?,
        b: Int, h: Int, rows: Int, keys: Range<Int>, alpha: Float
    ) {
        if let yT {
            avx512GEMM(m: rows, n: keys.count, k: headDim, alpha: alpha, a: x, aRowStride: queryStride, aDepthStride: 1,
                       b: yT + keys.lowerBound, ldb: transposedStride, beta: 0, c: c, ldc: keys.count)
        } else {
            BLAS.sgemm(transA: false, transB: true, m: rows, n: keys.count, k: headDim, alpha: alpha, a: x, lda: queryStride,
                       b: y + keyOffset(b, keys.lowerBound, h), ldb: keyStride, beta: 0, c: c, ldc: keys.count)
        }
    }

    /// scores: (rows, keys.count) = scale * Q K^T (kT: K transposed, or nil), then
    /// `softmaxRows`.
    func probabilities(
        _ scores: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, kT: UnsafePointer<Float>?,
        b: Int, h: Int, q0: Int, q1: Int, keys: Range<Int>, lse: UnsafeMutablePointer<Float>, computeLSE: Bool
    ) {
        multiplyTransposed(scores, x: q + queryOffset(b, q0, h), y: k, yT: kT, b: b, h: h, rows: q1 - q0, keys: keys, alpha: scale)
        softmaxRows(scores, b: b, h: h, q0: q0, q1: q1, keys: keys, lse: lse, computeLSE: computeLSE)
    }

    /// scores: (rows, keys.count) of scaled scores become probabilities exp(s - lse) with masked
    /// entries set to 0; with `computeLSE` the row's log-sum-exp is computed into `lse` first.
    /// With `rowScales` a row may be left as exp(s - max), the factor that makes it the
    /// probabilities in rowScales[r] (1 for the rows that are already probabilities).
    func softmaxRows(
        _ scores: UnsafeMutablePointer<Float>, b: Int, h: Int, q0: Int, q1: Int, keys: Range<Int>,
        lse: UnsafeMutablePointer<Float>, computeLSE: Bool, rowScales: UnsafeMutablePointer<Float>? = nil
    ) {
        let rows = q1 - q0, width = keys.count
        // Under bfloat16 products, the faster e^x of fused multiply-adds: the probabilities are
        // rounded to bfloat16 anyway; the float32 path keeps the e^x of VectorMath.swift.
        let fmaExponentials = gemm == .avx512BFloat16
        for r in 0..<rows {
            let row = scores + r * width, p = q0 + r + positionOffset, index = rowIndex(b, h, q0 + r)
            rowScales?[r] = 1
            guard segmentIds == nil else {
                maskedRowProbabilities(row, width: width, b: b, p: p, keys: keys, lse: &lse[index], computeLSE: computeLSE)
                continue
            }
            // Without segments the visible keys are one contiguous run ending at p.
            let first = slidingWindow.map { max(keys.lowerBound, p - $0 + 1) } ?? keys.lowerBound
            let lo = first - keys.lowerBound, hi = p + 1 - keys.lowerBound
            (row).update(repeating: 0, count: lo)
            if computeLSE {
                let maxScore = maximum(row + lo, hi - lo)
                let total = fmaExponentials
                    ? facet_exponentials_and_sum_fma_avx512(row + lo, row + lo, hi - lo, maxScore)
                    : exponentialsAndSum(row + lo, row + lo, hi - lo, shift: maxScore)
                lse[index] = maxScore + Foundation.log(total)
                let inverse = 1 / total
                if let rowScales {
                    rowScales[r] = inverse
                } else {
                    for j in lo..<hi { row[j] *= inverse }
                }
            } else if fmaExponentials {
                _ = facet_exponentials_and_sum_fma_avx512(row + lo, row + lo, hi - lo, lse[index])
            } else {
                scaledExponentials(row + lo, row + lo, hi - lo, shift: lse[index], scale: 1)
            }
            (row + hi).update(repeating: 0, count: width - hi)
        }
    }

    /// rowDot: (batch, queryHeads, queryTokens), each row's dOut · out, the softmax backward's
    /// correction term (the caller deallocates it).
    func rowDots(_ dOut: UnsafePointer<Float>, _ out: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let rowDot = UnsafeMutablePointer<Float>.allocate(capacity: batch * queryHeads * queryTokens)
        parallelChunks(batch * queryTokens, minimumChunk: 16) { tokens in
            for bt in tokens {
                let b = bt / queryTokens, t = bt % queryTokens
                for h in 0..<queryHeads {
                    let o = queryOffset(b, t, h)
                    var dot: Float = 0
                    for d in 0..<headDim { dot += dOut[o + d] * out[o + d] }
                    rowDot[rowIndex(b, h, t)] = dot
                }
            }
        }
        return rowDot
    }

    /// gradScores: (rows, width), the gradient of the probabilities on entry, becomes that of the
    /// scaled scores: p (dp - rowDot) scale.
    func scoreGradients(
        _ gradScores: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>, rowDot: UnsafePointer<Float>,
        b: Int, h: Int, q0: Int, q1: Int, width: Int
    ) {
        let factor = scale
        for r in 0..<(q1 - q0) {
            let p = probabilities + r * width, ds = gradScores + r * width
            let dot = rowDot[rowIndex(b, h, q0 + r)]
            for j in 0..<width { ds[j] = p[j] * (ds[j] - dot) * factor }
        }
    }

    /// The general row: a mask per key (packed segments).
    private func maskedRowProbabilities(
        _ row: UnsafeMutablePointer<Float>, width: Int, b: Int, p: Int, keys: Range<Int>, lse: inout Float, computeLSE: Bool
    ) {
        if computeLSE {
            var maxScore = -Float.infinity
            for j in 0..<width where allowed(batch: b, position: p, key: keys.lowerBound + j) { maxScore = maximumPropagatingNaN(maxScore, row[j]) }
            var total: Float = 0
            for j in 0..<width where allowed(batch: b, position: p, key: keys.lowerBound + j) {
                total += Foundation.exp(row[j] - maxScore)
            }
            lse = maxScore + Foundation.log(total)
        }
        for j in 0..<width {
            row[j] = allowed(batch: b, position: p, key: keys.lowerBound + j) ? Foundation.exp(row[j] - lse) : 0
        }
    }
}

// out: (batch, queryTokens, queryHeads, headDim); lse: (batch, queryHeads, queryTokens)
// q: (batch, queryTokens, queryHeads, headDim); k, v: (batch, keyTokens, keyValueHeads, headDim)
func attentionForward(
    _ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
    _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: AttentionGeometry
) {
    if g.gemm == .avx512BFloat16 { return attentionForwardBFloat16(out, lse, q, k, v, g) }
    g.forEachHeadGroup(sharingKeys: false) { b, heads in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: AttentionGeometry.blockRows * max(g.keyTokens, 1))
        let kT = g.allocateTransposed()
        defer {
            scores.deallocate()
            kT?.deallocate()
        }
        for h in heads {
            g.transpose(kT, k, b: b, h: h)
            g.forEachBlock { q0, q1, keys in
                g.probabilities(scores, q: q, k: k, kT: kT, b: b, h: h, q0: q0, q1: q1, keys: keys, lse: lse, computeLSE: true)
                g.multiply(transA: false, m: q1 - q0, n: g.headDim, k: keys.count, a: scores, lda: keys.count,
                           b: v + g.keyOffset(b, keys.lowerBound, h), ldb: g.keyStride,
                           beta: 0, c: out + g.queryOffset(b, q0, h), ldc: g.queryStride)
            }
        }
    }
}

// dq, dk, dv accumulate (nil when that input needs no gradient); dOut, out as `out` above
func attentionBackward(
    dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
    _ dOut: UnsafePointer<Float>, _ out: UnsafePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
    _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: AttentionGeometry
) {
    if g.gemm == .avx512BFloat16 { return attentionBackwardBFloat16(dq: dq, dk: dk, dv: dv, dOut, out, lse, q, k, v, g) }
    let capacity = AttentionGeometry.blockRows * max(g.keyTokens, 1)
    let rowDot = g.rowDots(dOut, out)
    defer { rowDot.deallocate() }
    g.forEachHeadGroup(sharingKeys: true) { b, heads in
        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        let gradScores = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        let kT = g.allocateTransposed(), vT = g.allocateTransposed()
        defer {
            probabilities.deallocate()
            gradScores.deallocate()
            kT?.deallocate()
            vT?.deallocate()
        }
        // The group's heads share one KV head.
        g.transpose(kT, k, b: b, h: heads.lowerBound)
        if dq != nil || dk != nil { g.transpose(vT, v, b: b, h: heads.lowerBound) }
        for h in heads {
            g.forEachBlock { q0, q1, keys in
                let rows = q1 - q0, width = keys.count
                g.probabilities(probabilities, q: q, k: k, kT: kT, b: b, h: h, q0: q0, q1: q1, keys: keys, lse: lse, computeLSE: false)
                let dOutBlock = dOut + g.queryOffset(b, q0, h), keyBase = g.keyOffset(b, keys.lowerBound, h)
                if let dv {
                    g.multiply(transA: true, m: width, n: g.headDim, k: rows, a: probabilities, lda: width,
                               b: dOutBlock, ldb: g.queryStride, beta: 1, c: dv + keyBase, ldc: g.keyStride)
                }
                guard dq != nil || dk != nil else { return }
                g.multiplyTransposed(gradScores, x: dOutBlock, y: v, yT: vT, b: b, h: h, rows: rows, keys: keys, alpha: 1)
                g.scoreGradients(gradScores, probabilities: probabilities, rowDot: rowDot, b: b, h: h, q0: q0, q1: q1, width: width)
                if let dq {
                    g.multiply(transA: false, m: rows, n: g.headDim, k: width, a: gradScores, lda: width,
                               b: k + keyBase, ldb: g.keyStride, beta: 1, c: dq + g.queryOffset(b, q0, h), ldc: g.queryStride)
                }
                if let dk {
                    g.multiply(transA: true, m: width, n: g.headDim, k: rows, a: gradScores, lda: width,
                               b: q + g.queryOffset(b, q0, h), ldb: g.queryStride, beta: 1, c: dk + keyBase, ldc: g.keyStride)
                }
            }
        }
    }
}
