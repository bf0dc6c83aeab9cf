/// Strided copy for `permuted`: out[i_0, ..., i_r] = x[index with dims permuted].
/// With `accumulate`, adds into `out` instead (the backward of a permutation).

// out: (outShape), x: (inShape), outShape[d] = inShape[dims[d]]
func permuteForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, inShape: [Int], dims: [Int], accumulate: Bool
) {
    let rank = inShape.count
    var inStrides = [Int](repeating: 1, count: rank)
    for d in stride(from: rank - 2, through: 0, by: -1) { inStrides[d] = inStrides[d + 1] * inShape[d + 1] }
    let outShape = dims.map { inShape[$0] }
    let strides = dims.map { inStrides[$0] }  // input stride of each output dimension
    let inner = outShape.last ?? 1, innerStride = strides.last ?? 1
    let outerCount = outShape.dropLast().reduce(1, *)
    parallelChunks(outerCount, minimumChunk: max(1, 8192 / max(inner, 1))) { rows in
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        for row in rows {
            var rest = row, offset = 0
            for d in stride(from: rank - 2, through: 0, by: -1) {
                index[d] = rest % outShape[d]
                rest /= outShape[d]
                offset += index[d] * strides[d]
            }
            let dst = out + row * inner, src = x + offset
            if accumulate {
                for i in 0..<inner { dst[i] += src[i * innerStride] }
            } else {
                for i in 0..<inner { dst[i] = src[i * innerStride] }
            }
        }
    }
}
