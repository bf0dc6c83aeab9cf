import Tensor

/// Keys and values of the tokens seen so far, per layer, for one sequence. Storage is
/// allocated once for `capacity` tokens, so each generated token costs one position. Several
/// sequences decoded together each keep their own cache (`CachedRows`).
public final class KVCache {
    public let capacity: Int
    public private(set) var length = 0
    private let keys: [Storage]  // per layer: (capacity, kvHeads, headDim)
    private let values: [Storage]
    private let rowWidth: Int
    private let kvHeads: Int, headDim: Int

    public convenience init(config: MistralConfig, capacity: Int) {
        self.init(layers: config.numHiddenLayers, kvHeads: config.numKeyValueHeads, headDim: config.headDim, capacity: capacity)
    }

    private init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.capacity = capacity
        self.kvHeads = kvHeads
        self.headDim = headDim
        let width = kvHeads * headDim
        rowWidth = width
        keys = (0..<layers).map { _ in Storage(count: capacity * width) }
        values = (0..<layers).map { _ in Storage(count: capacity * width) }
    }

    /// A cache of its own holding the same tokens (the prompt that several answers continue).
    public func copy() -> KVCache {
        let copy = KVCache(layers: keys.count, kvHeads: kvHeads, headDim: headDim, capacity: capacity)
        for (source, target) in zip(keys + values, copy.keys + copy.values) {
            target.floats.update(from: source.floats, count: length * rowWidth)
        }
        copy.length = length
        return copy
    }

    /// Appends this step's key/value [1, tokens, kvHeads, headDim] for `layer` and returns all
    /// cached ones [1, length + tokens, kvHeads, headDim]. The last layer advances `length`.
    func append(layer: Int, key: Tensor, value: Tensor) -> (Tensor, Tensor) {
        require(key.shape[0] == 1, "KVCache: generation runs one sequence at a time, found batch \(key.shape[0])")
        let tokens = key.shape[1]
        require(length + tokens <= capacity, "KVCache: \(length + tokens) tokens exceed the capacity \(capacity)")
        (keys[layer].floats + length * rowWidth).update(from: key.data, count: tokens * rowWidth)
        (values[layer].floats + length * rowWidth).update(from: value.data, count: tokens * rowWidth)
        let total = length + tokens
        if layer == keys.count - 1 { length = total }
        func view(_ storage: Storage) -> Tensor {
            Tensor(shape: [1, total, kvHeads, headDim],
                   storage: Storage(borrowing: storage.raw, count: total * rowWidth, dtype: .float32, owner: storage))
        }
        return (view(keys[layer]), view(values[layer]))
    }
}

/// Several sequences continued together, each from its own KV cache: their new tokens lie end
/// to end in one row of a `TokenBatch` (`tokens[i]` of them continue `caches[i]`, with the
/// positions that follow that cache's). Every projection and MLP then runs once over all the
/// tokens, so each weight read serves every sequence; attention runs sequence by sequence over
/// its own cache, so a sequence sees exactly the keys it would see alone and no padding.
struct CachedRows {
    let caches: [KVCache]
    let tokens: [Int]

    init(caches: [KVCache], tokens: [Int]) {
        require(caches.count == tokens.count && !caches.isEmpty, "CachedRows: \(caches.count) caches for \(tokens.count) runs of tokens")
        self.caches = caches
        self.tokens = tokens
    }

    /// query: [1, sum(tokens), heads, headDim], key/value: [1, sum(tokens), kvHeads, headDim]
    /// -> [1, sum(tokens), heads, headDim]; appends each sequence's keys and values to its cache.
    func attention(layer: Int, query: Tensor, key: Tensor, value: Tensor, slidingWindow: Int?, computeDType: DType) -> Tensor {
        require(query.shape[1] == tokens.reduce(0, +), "CachedRows: \(query.shape[1]) tokens, expected \(tokens.reduce(0, +))")
        if caches.count == 1 {
            let (k, v) = caches[0].append(layer: layer, key: key, value: value)
            return causalAttention(query: query, key: k, value: v, slidingWindow: slidingWindow, computeDType: computeDType)
        }
        var start = 0
        let parts = zip(caches, tokens).map { cache, count in
            defer { start += count }
            let run = start..<(start + count)
            let (k, v) = cache.append(layer: layer, key: key.slice(axis: 1, run), value: value.slice(axis: 1, run))
            return causalAttention(
                query: query.slice(axis: 1, run), key: k, value: v, slidingWindow: slidingWindow, computeDType: computeDType)
        }
        return Tensor.concatenated(parts, axis: 1)
    }
}
