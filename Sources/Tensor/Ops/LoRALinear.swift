/// A frozen linear layer and its LoRA adapter as one op:
/// `y = x W^T + scale (d A^T) B^T`, with `d` the adapter's input (x itself, or x after dropout).
///
/// - `x`: [..., in]; `weight`: [out, in], frozen (float32, or bfloat16 multiplied as its
///   `computeDType` says); `adapterInput`: the shape of `x`; `a`: [r, in]; `b`: [out, r].
/// - Backward keeps only the inputs and the rank-r product d A^T: the composite form would also
///   keep the base output and the adapter's output, two [..., out] tensors per projection.
public func loraLinear(_ x: Tensor, weight: Tensor, adapterInput d: Tensor, a: Tensor, b: Tensor, scale: Float) -> Tensor {
    let inFeatures = x.shape.last ?? 0, outFeatures = weight.shape[0], rank = a.shape[0]
    require(
        weight.rank == 2 && weight.shape[1] == inFeatures && d.shape == x.shape && a.shape == [rank, inFeatures]
            && b.shape == [outFeatures, rank],
        "loraLinear: x \(x.shape), weight \(weight.shape), adapter input \(d.shape), A \(a.shape), B \(b.shape) do not fit")
    require(x.dtype == .float32 && a.dtype == .float32 && b.dtype == .float32, "loraLinear: x, A and B must be float32")
    require(!weight.requiresGrad, "loraLinear: the weight \(weight.shape) is frozen under an adapter")
    let rows = x.count / max(inFeatures, 1)
    let out = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    let mid = Storage(count: rows * rank, zeroed: false)  // (rows, r) = d A^T
    weightForward(out.data, x.data, weight, rows: rows, n: outFeatures, k: inFeatures)
    thinGEMM(transA: false, transB: true, m: rows, n: rank, k: inFeatures, a: d.data, lda: inFeatures, b: a.data, ldb: inFeatures,
             beta: 0, c: mid.floats, ldc: rank)
    thinGEMM(transA: false, transB: true, m: rows, n: outFeatures, k: rank, alpha: scale, a: mid.floats, lda: rank,
             b: b.data, ldb: rank, beta: 1, c: out.data, ldc: outFeatures)
    let inputs = d === x ? [x, a, b] : [x, d, a, b]
    return out.recorded(from: inputs) { dy in
        if x.needsGrad { weightInputBackward(x.gradBuffer(), dy, weight, rows: rows, n: outFeatures, k: inFeatures) }
        if b.needsGrad {
            // dB += scale dy^T (d A^T): (out, r)
            thinGEMM(transA: true, transB: false, m: outFeatures, n: rank, k: rows, alpha: scale, a: dy, lda: outFeatures,
                     b: mid.floats, ldb: rank, beta: 1, c: b.gradBuffer(), ldc: rank)
        }
        guard a.needsGrad || d.needsGrad else { return }
        let dMid = Storage(count: rows * rank, zeroed: false)  // (rows, r) = scale dy B
        thinGEMM(transA: false, transB: false, m: rows, n: rank, k: outFeatures, alpha: scale, a: dy, lda: outFeatures,
                 b: b.data, ldb: rank, beta: 0, c: dMid.floats, ldc: rank)
        if a.needsGrad {
            thinGEMM(transA: true, transB: false, m: rank, n: inFeatures, k: rows, a: dMid.floats, lda: rank, b: d.data,
                     ldb: inFeatures, beta: 1, c: a.gradBuffer(), ldc: inFeatures)
        }
        if d.needsGrad {
            thinGEMM(transA: false, transB: false, m: rows, n: inFeatures, k: rank, a: dMid.floats, lda: rank, b: a.data,
                     ldb: inFeatures, beta: 1, c: d.gradBuffer(), ldc: inFeatures)
        }
    }
}
