/// Per-token log-probabilities of `targets` under the logits `hidden · weight^T`, without
/// ever holding more than one chunk of logits.
///
/// - `hidden`: [rows, dim] (any leading shape flattened); `weight`: [vocab, dim] (the LM head,
///   float32 or bfloat16); `targets`: one id per row, negative for rows that are not scored.
/// - Returns [rows] with log p(target) at scored rows and 0 elsewhere. Unscored rows cost
///   nothing: no logits are computed for them.
public func tokenLogProbs(hidden: Tensor, weight: Tensor, targets: [Int32]) -> Tensor {
    require(weight.rank == 2, "tokenLogProbs: weight must be [vocab, dim], found \(weight.shape)")
    let (vocab, dim) = (weight.shape[0], weight.shape[1])
    require(
        hidden.shape.last == dim && hidden.count / max(dim, 1) == targets.count,
        "tokenLogProbs: hidden \(hidden.shape) does not match weight \(weight.shape) and \(targets.count) targets")
    var rows = [Int](), scoredTargets = [Int32]()
    for (row, target) in targets.enumerated() where target >= 0 {
        require(Int(target) < vocab, "tokenLogProbs: target \(target) at row \(row) is outside vocab \(vocab)")
        rows.append(row)
        scoredTargets.append(target)
    }
    let chunks = LogProbChunks(rows: rows, targets: scoredTargets, dim: dim, vocab: vocab)
    let scored = Storage(count: rows.count), lse = Storage(count: rows.count)
    // With a frozen head, d logp / d hidden is computed here, while the logits exist anyway.
    let precomputed = Autograd.isEnabled && hidden.needsGrad && !weight.needsGrad ? Storage(count: rows.count * dim) : nil
    logProbForward(scored.floats, lse.floats, inputGradient: precomputed?.floats, hidden: hidden.data, weight: weight, chunks)
    let out = Tensor(zeros: [targets.count])
    for (i, row) in rows.enumerated() { out.data[row] = scored.floats[i] }
    return out.recorded(from: [hidden, weight]) { dy in
        if let precomputed {
            let dHidden = hidden.gradBuffer(), gradient = precomputed.floats
            parallelChunks(rows.count, minimumChunk: 16) { range in
                for i in range {
                    let dst = dHidden + rows[i] * dim, src = gradient + i * dim, upstream = dy[rows[i]]
                    for d in 0..<dim { dst[d] += upstream * src[d] }
                }
            }
            return
        }
        let dScored = Storage(count: rows.count)
        for (i, row) in rows.enumerated() { dScored.floats[i] = dy[row] }
        logProbBackward(
            dHidden: hidden.needsGrad ? hidden.gradBuffer() : nil,
            dWeight: weight.needsGrad ? weight.gradBuffer() : nil,
            dScored.floats, lse.floats, hidden: hidden.data, weight: weight, chunks)
    }
}
