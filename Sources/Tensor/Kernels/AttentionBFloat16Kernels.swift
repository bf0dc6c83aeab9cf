import CVectorMath

/// Attention with its block products in bfloat16 x bfloat16 -> float32 on AVX512_BF16
/// (`AttentionGEMM.avx512BFloat16`, CVectorMath's `facet_bf16_gemm`), as PyTorch's CPU autocast
/// runs attention: Q, K, V, the probabilities and the gradients are rounded to bfloat16 for the
/// products only; scores, softmax, log-sum-exp and every accumulation stay float32. The kernel
/// multiplies pairs along the depth, so each product's right operand is packed with pairs of
/// depth rows interleaved: keys and values once per head, in the two layouts the products read;
/// the rest per block. Backward accumulates dK^T and dV^T (each block's keys as columns, so the
/// block's probabilities and score gradients are the right operand in row pairs, with no
/// transpose of a block) and adds them, transposed back, to dk and dv once per head group.
struct BFloat16Operands {
    let g: AttentionGeometry
    var depthPairs: Int { (g.headDim + 1) / 2 }  // pairs along a head
    var keyPairs: Int { (g.keyTokens + 1) / 2 }
    var blockPairs: Int { (AttentionGeometry.blockRows + 1) / 2 }
    var paddedKeys: Int { 2 * keyPairs }

    // A head's keys or values as the right operand of a product over the head dimension:
    // yT: (depthPairs, transposedStride) pairs (d, d + 1) of each key; rows: (keyTokens, 2 depthPairs) scratch.
    func packTransposed(_ yT: UnsafeMutablePointer<UInt32>, rows: UnsafeMutablePointer<UInt16>, _ y: UnsafePointer<Float>, b: Int, h: Int) {
        facet_bf16_pack_rows(rows, 2 * depthPairs, y + g.keyOffset(b, 0, h), g.keyStride, nil, g.keyTokens, g.headDim)
        rows.withMemoryRebound(to: UInt32.self, capacity: g.keyTokens * depthPairs) {
            facet_transpose_pairs(yT, g.transposedStride, $0, depthPairs, g.keyTokens, depthPairs)
        }
    }

    // A head's keys or values as the right operand of a product over keys: yPairs: (keyPairs, headDim).
    func packKeyPairs(_ yPairs: UnsafeMutablePointer<UInt32>, _ y: UnsafePointer<Float>, b: Int, h: Int) {
        facet_bf16_pack_row_pairs(yPairs, g.headDim, y + g.keyOffset(b, 0, h), g.keyStride, g.keyTokens, g.headDim)
    }

    // x: (rows, headDim) of q or dOut as the left operand over the head dimension: xRows: (rows, 2 depthPairs).
    func packRows(_ xRows: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, rows: Int) {
        facet_bf16_pack_rows(xRows, 2 * depthPairs, x, g.queryStride, nil, rows, g.headDim)
    }

    // x: (rows, headDim) of q or dOut transposed, as the left operand over the block's rows:
    // xT: (headDim, 2 blockPairs); scratch: (blockPairs, headDim).
    func packTransposedRows(_ xT: UnsafeMutablePointer<UInt16>, scratch: UnsafeMutablePointer<UInt32>, _ x: UnsafePointer<Float>, rows: Int) {
        facet_bf16_pack_row_pairs(scratch, g.headDim, x, g.queryStride, rows, g.headDim)
        xT.withMemoryRebound(to: UInt32.self, capacity: g.headDim * blockPairs) {
            facet_transpose_pairs($0, blockPairs, scratch, g.headDim, (rows + 1) / 2, g.headDim)
        }
    }

    /// c: (m, n) = alpha * a · b + beta * c over `depth` (a: rows lda elements apart, b in pairs
    /// of depth rows, ldb pairs apart).
    func multiply(
        _ c: UnsafeMutablePointer<Float>, ldc: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt32>, ldb: Int,
        m: Int, n: Int, depth: Int, alpha: Float = 1, beta: Float
    ) {
        guard m > 0, n > 0 else { return }
        guard depth > 0 else { return scaleByBeta(c, m: m, n: n, ldc: ldc, beta: beta) }
        facet_bf16_gemm(c, ldc, a, lda, b, ldb, m, n, (depth + 1) / 2, alpha, beta)
    }
}

/// Scratch of one task from the buffer pool, given back together.
private final class Scratch {
    private var buffers = [(UnsafeMutableRawPointer, Int)]()

    func allocate<T>(_ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        let buffer = BufferPool.allocate(byteCount: bytes)
        buffers.append((buffer, bytes))
        return buffer.bindMemory(to: T.self, capacity: max(count, 1))
    }

    deinit { for (buffer, bytes) in buffers { BufferPool.release(buffer, byteCount: bytes) } }
}

// As attentionForward.
func attentionForwardBFloat16(
    _ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
    _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: AttentionGeometry
) {
    let o = BFloat16Operands(g: g), blockRows = AttentionGeometry.blockRows
    g.forEachHeadGroup(sharingKeys: false) { b, heads in
        let scratch = Scratch()
        let kT = scratch.allocate(UInt32.self, o.depthPairs * g.transposedStride)
        let keyRows = scratch.allocate(UInt16.self, g.keyTokens * 2 * o.depthPairs)
        let vPairs = scratch.allocate(UInt32.self, o.keyPairs * g.headDim)
        let qRows = scratch.allocate(UInt16.self, blockRows * 2 * o.depthPairs)
        let scores = scratch.allocate(Float.self, blockRows * g.keyTokens)
        let pRows = scratch.allocate(UInt16.self, blockRows * o.paddedKeys)
        let rowScales = scratch.allocate(Float.self, blockRows)
        for h in heads {
            o.packTransposed(kT, rows: keyRows, k, b: b, h: h)
            o.packKeyPairs(vPairs, v, b: b, h: h)
            g.forEachBlock { q0, q1, keys in
                let rows = q1 - q0, width = keys.count, paddedWidth = width + width % 2
                o.packRows(qRows, q + g.queryOffset(b, q0, h), rows: rows)
                o.multiply(scores, ldc: width, a: qRows, lda: 2 * o.depthPairs, b: kT + keys.lowerBound, ldb: g.transposedStride,
                           m: rows, n: width, depth: g.headDim, alpha: g.scale, beta: 0)
                g.softmaxRows(scores, b: b, h: h, q0: q0, q1: q1, keys: keys, lse: lse, computeLSE: true, rowScales: rowScales)
                facet_bf16_pack_rows(pRows, paddedWidth, scores, width, rowScales, rows, width)
                o.multiply(out + g.queryOffset(b, q0, h), ldc: g.queryStride, a: pRows, lda: paddedWidth,
                           b: vPairs + keys.lowerBound / 2 * g.headDim, ldb: g.headDim, m: rows, n: g.headDim, depth: width, beta: 0)
            }
        }
    }
}

// As attentionBackward.
func attentionBackwardBFloat16(
    dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
    _ dOut: UnsafePointer<Float>, _ out: UnsafePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
    _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ g: AttentionGeometry
) {
    let rowDot = g.rowDots(dOut, out)
    defer { rowDot.deallocate() }
    let o = BFloat16Operands(g: g), blockRows = AttentionGeometry.blockRows, stride = g.transposedStride
    g.forEachHeadGroup(sharingKeys: true) { b, heads in
        let scratch = Scratch()
        let keyRows = scratch.allocate(UInt16.self, g.keyTokens * 2 * o.depthPairs)
        let kT = scratch.allocate(UInt32.self, o.depthPairs * stride), vT = scratch.allocate(UInt32.self, o.depthPairs * stride)
        let kPairs = scratch.allocate(UInt32.self, o.keyPairs * g.headDim)
        let probabilities = scratch.allocate(Float.self, blockRows * g.keyTokens)
        let gradScores = scratch.allocate(Float.self, blockRows * g.keyTokens)
        let blockPairs = scratch.allocate(UInt32.self, o.blockPairs * g.keyTokens)  // a block's rows in pairs
        let gradRows = scratch.allocate(UInt16.self, blockRows * o.paddedKeys)  // the score gradients as A
        let xRows = scratch.allocate(UInt16.self, blockRows * 2 * o.depthPairs)
        let xT = scratch.allocate(UInt16.self, g.headDim * 2 * o.blockPairs), xPairs = scratch.allocate(UInt32.self, o.blockPairs * g.headDim)
        // dK^T, dV^T: (headDim, stride), the key-value head's gradients with keys as columns.
        let dkT = scratch.allocate(Float.self, g.headDim * stride), dvT = scratch.allocate(Float.self, g.headDim * stride)
        dkT.initialize(repeating: 0, count: g.headDim * stride)
        dvT.initialize(repeating: 0, count: g.headDim * stride)
        o.packTransposed(kT, rows: keyRows, k, b: b, h: heads.lowerBound)
        if dq != nil || dk != nil { o.packTransposed(vT, rows: keyRows, v, b: b, h: heads.lowerBound) }
        if dq != nil { o.packKeyPairs(kPairs, k, b: b, h: heads.lowerBound) }
        for h in heads {
            g.forEachBlock { q0, q1, keys in
                let rows = q1 - q0, width = keys.count, paddedWidth = width + width % 2
                let qBlock = q + g.queryOffset(b, q0, h), dOutBlock = dOut + g.queryOffset(b, q0, h)
                o.packRows(xRows, qBlock, rows: rows)
                o.multiply(probabilities, ldc: width, a: xRows, lda: 2 * o.depthPairs, b: kT + keys.lowerBound, ldb: stride,
                           m: rows, n: width, depth: g.headDim, alpha: g.scale, beta: 0)
                g.softmaxRows(probabilities, b: b, h: h, q0: q0, q1: q1, keys: keys, lse: lse, computeLSE: false)
                if dv != nil {
                    // dV^T[:, keys] += dOut^T P
                    o.packTransposedRows(xT, scratch: xPairs, dOutBlock, rows: rows)
                    facet_bf16_pack_row_pairs(blockPairs, width, probabilities, width, rows, width)
                    o.multiply(dvT + keys.lowerBound, ldc: stride, a: xT, lda: 2 * o.blockPairs, b: blockPairs, ldb: width,
                               m: g.headDim, n: width, depth: rows, beta: 1)
                }
                guard dq != nil || dk != nil else { return }
                o.packRows(xRows, dOutBlock, rows: rows)
                o.multiply(gradScores, ldc: width, a: xRows, lda: 2 * o.depthPairs, b: vT + keys.lowerBound, ldb: stride,
                           m: rows, n: width, depth: g.headDim, beta: 0)
                facet_bf16_score_gradients(gradRows, blockPairs, probabilities, gradScores, rowDot + g.rowIndex(b, h, q0), g.scale, rows, width)
                if let dq {
                    o.multiply(dq + g.queryOffset(b, q0, h), ldc: g.queryStride, a: gradRows, lda: paddedWidth,
                               b: kPairs + keys.lowerBound / 2 * g.headDim, ldb: g.headDim, m: rows, n: g.headDim, depth: width, beta: 1)
                }
                if dk != nil {
                    // dK^T[:, keys] += Q^T dS
                    o.packTransposedRows(xT, scratch: xPairs, qBlock, rows: rows)
                    o.multiply(dkT + keys.lowerBound, ldc: stride, a: xT, lda: 2 * o.blockPairs, b: blockPairs, ldb: width,
                               m: g.headDim, n: width, depth: rows, beta: 1)
                }
            }
        }
        for (gradient, transposed) in [(dk, dkT), (dv, dvT)] {
            guard let gradient else { continue }
            let base = gradient + g.keyOffset(b, 0, heads.lowerBound)
            for t in 0..<g.keyTokens {
                for d in 0..<g.headDim { base[t * g.keyStride + d] += transposed[d * stride + t] }
            }
        }
    }
}
