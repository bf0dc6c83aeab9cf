/// Whether `causalAttention(computeDType: .bfloat16)` multiplies in bfloat16 on this CPU.
public let causalAttentionHasBFloat16Products = AttentionGEMM.cpuHasBFloat16Products

/// Scaled dot-product causal attention with grouped-query heads.
///
/// - `query`: [batch, queryTokens, queryHeads, headDim]; `key`, `value`: [batch, keyTokens,
///   keyValueHeads, headDim] with keyTokens >= queryTokens (the last queryTokens keys are the
///   queries' own positions; earlier ones come from a KV cache). queryHeads must be a
///   multiple of keyValueHeads.
/// - `slidingWindow`: a token sees at most this many keys, itself included.
/// - `segmentIds`: [batch * keyTokens]; tokens attend only within their own segment, so
///   several records can be packed into one sequence.
/// - `computeDType`: `.bfloat16` runs the block products in bfloat16 where the CPU has
///   AVX512_BF16 (operands rounded for the products only, softmax and sums in float32), as
///   PyTorch's CPU autocast does; float32 elsewhere.
/// - Returns [batch, queryTokens, queryHeads, headDim].
public func causalAttention(
    query: Tensor, key: Tensor, value: Tensor, slidingWindow: Int? = nil, segmentIds: [Int32]? = nil,
    computeDType: DType = .float32
) -> Tensor {
    require(
        query.rank == 4 && key.rank == 4 && key.shape == value.shape,
        "attention: query \(query.shape), key \(key.shape) and value \(value.shape) must be [batch, tokens, heads, headDim] with equal key and value shapes")
    let (batch, queryTokens, queryHeads, headDim) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
    let (keyTokens, keyValueHeads) = (key.shape[1], key.shape[2])
    require(
        key.shape[0] == batch && key.shape[3] == headDim && keyTokens >= queryTokens
            && keyValueHeads > 0 && queryHeads % keyValueHeads == 0,
        "attention: query \(query.shape) and key \(key.shape) do not fit (batch, headDim, tokens or head grouping)")
    require(slidingWindow.map { $0 > 0 } ?? true, "attention: sliding window must be positive")
    if let segmentIds {
        require(
            segmentIds.count == batch * keyTokens,
            "attention: \(segmentIds.count) segment ids for key shape \(key.shape) (need batch * keyTokens)")
    }
    let geometry = AttentionGeometry(
        batch: batch, queryTokens: queryTokens, keyTokens: keyTokens, queryHeads: queryHeads,
        keyValueHeads: keyValueHeads, headDim: headDim, slidingWindow: slidingWindow, segmentIds: segmentIds,
        gemm: .forCompute(computeDType))
    let out = Tensor(uninitialized: query.shape)
    let lse = Storage(count: batch * queryHeads * queryTokens)
    attentionForward(out.data, lse.floats, query.data, key.data, value.data, geometry)
    let outStorage = out.storage
    return out.recorded(from: [query, key, value]) { dy in
        attentionBackward(
            dq: query.needsGrad ? query.gradBuffer() : nil,
            dk: key.needsGrad ? key.gradBuffer() : nil,
            dv: value.needsGrad ? value.gradBuffer() : nil,
            dy, outStorage.floats, lse.floats, query.data, key.data, value.data, geometry)
    }
}
