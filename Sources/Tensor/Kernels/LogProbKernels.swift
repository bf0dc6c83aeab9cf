import Foundation

/// Log-probabilities of target tokens under logits = hidden · weight^T, computed a chunk of
/// rows at a time so that at most (chunk x vocab) logits exist at once.
struct LogProbChunks {
    let rows: [Int]  // the scored rows of hidden, in order
    let targets: [Int32]  // their target ids
    let dim: Int
    let vocab: Int

    /// Rows per chunk: at most 64 MiB of logits. The head's GEMMs need the rows: at 32000 x 1024
    /// the bfloat16 products ran at 474-521 GFLOP/s over 65 rows (an 8 MiB chunk), 695-700 over
    /// 256 and 733-741 over 384.
    var chunkRows: Int { max(1, min(512, (1 << 24) / max(vocab, 1))) }

    /// Calls `body(chunkStart, chunkCount, hiddenRows, logits)` with the chunk's hidden rows
    /// gathered into a contiguous (count, dim) buffer and its (count, vocab) logits.
    func forEachChunk(
        hidden: UnsafePointer<Float>, weight: Tensor,
        _ body: (Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    ) {
        let capacity = chunkRows
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: capacity * dim)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: capacity * vocab)
        defer {
            gathered.deallocate()
            logits.deallocate()
        }
        for start in stride(from: 0, to: rows.count, by: capacity) {
            let count = min(capacity, rows.count - start)
            for i in 0..<count { (gathered + i * dim).update(from: hidden + rows[start + i] * dim, count: dim) }
            weightForward(logits, gathered, weight, rows: count, n: vocab, k: dim)
            body(start, count, gathered, logits)
        }
    }
}

/// d logp / d logits = onehot(target) - softmax, written over a row of logits.
@inline(__always)
private func logitGradient(_ row: UnsafeMutablePointer<Float>, vocab: Int, lse: Float, target: Int32, scale: Float) {
    scaledExponentials(row, row, vocab, shift: lse, scale: -scale)
    row[Int(target)] += scale
}

// logProbs: (scored rows) = logit[target] - logsumexp(logits); lse: (scored rows).
// inputGradient: (scored rows, dim) = d logp / d hidden, when given (a frozen head's
// gradient needs nothing else from the logits, so backward need not recompute them).
func logProbForward(
    _ logProbs: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
    hidden: UnsafePointer<Float>, weight: Tensor, _ chunks: LogProbChunks
) {
    let (vocab, dim) = (chunks.vocab, chunks.dim)
    chunks.forEachChunk(hidden: hidden, weight: weight) { start, count, _, logits in
        parallelChunks(count) { range in
            for i in range {
                let row = logits + i * vocab
                let maxLogit = maximum(row, vocab)
                let rowLSE = maxLogit + Foundation.log(sumOfExponentials(row, vocab, shift: maxLogit))
                lse[start + i] = rowLSE
                logProbs[start + i] = row[Int(chunks.targets[start + i])] - rowLSE
                if inputGradient != nil { logitGradient(row, vocab: vocab, lse: rowLSE, target: chunks.targets[start + i], scale: 1) }
            }
        }
        if let inputGradient { weightInputBackward(inputGradient + start * dim, logits, weight, rows: count, n: vocab, k: dim) }
    }
}

// dHidden: (rows, dim) and dWeight: (vocab, dim) accumulate; dLogProbs: (scored rows)
func logProbBackward(
    dHidden: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
    _ dLogProbs: UnsafePointer<Float>, _ lse: UnsafePointer<Float>,
    hidden: UnsafePointer<Float>, weight: Tensor, _ chunks: LogProbChunks
) {
    let (vocab, dim) = (chunks.vocab, chunks.dim)
    let dGathered = UnsafeMutablePointer<Float>.allocate(capacity: chunks.chunkRows * dim)
    defer { dGathered.deallocate() }
    chunks.forEachChunk(hidden: hidden, weight: weight) { start, count, gathered, logits in
        parallelChunks(count) { range in
            for i in range {
                logitGradient(logits + i * vocab, vocab: vocab, lse: lse[start + i], target: chunks.targets[start + i], scale: dLogProbs[start + i])
            }
        }
        if let dHidden {
            dGathered.update(repeating: 0, count: count * dim)
            weightInputBackward(dGathered, logits, weight, rows: count, n: vocab, k: dim)
            for i in 0..<count {
                let dst = dHidden + chunks.rows[start + i] * dim, src = dGathered + i * dim
                for d in 0..<dim { dst[d] += src[d] }
            }
        }
        if let dWeight {
            BLAS.sgemm(transA: true, transB: false, m: vocab, n: dim, k: count, a: logits, lda: vocab,
                       b: gathered, ldb: dim, beta: 1, c: dWeight, ldc: dim)
        }
    }
}
