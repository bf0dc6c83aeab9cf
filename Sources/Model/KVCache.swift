import Tensor

/// Keys and values of the tokens seen so far, per layer, for one sequence. Storage is
/// allocated once for `capacity` tokens, so each generated token costs one position.
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
