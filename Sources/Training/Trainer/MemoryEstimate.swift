import Model
import Tensor

/// What a training run holds in memory, estimated from the shapes before anything is loaded:
/// frozen weights in their storage dtype, four float32 copies of what is trained (value,
/// gradient, two moments), and the activations a step keeps for backward.
public struct MemoryEstimate: Sendable {
    public let weightBytes: Int
    public let trainingStateBytes: Int
    public let activationBytes: Int

    public var totalBytes: Int { weightBytes + trainingStateBytes + activationBytes }

    /// - Parameters:
    ///   - tokens: tokens of one micro-batch (rows x sequence length).
    ///   - recompute: activation recomputation: only each layer's input is kept, and one layer's
    ///     activations while it is recomputed.
    public init(config c: MistralConfig, storage: DType, lora: LoRAConfig?, tokens: Int, recompute: Bool) {
        let all = c.parameterCount
        let trainable = lora.map { c.adapterParameterCount($0) } ?? all
        weightBytes = lora == nil ? 0 : all * storage.byteSize
        trainingStateBytes = 16 * trainable
        // What backward keeps of a layer, per token: about 11 hidden-sized vectors (norm inputs
        // and outputs, query, attention output, projection outputs, residuals), 3 key/value-sized
        // (key before and after RoPE, value) and 3 intermediate-sized (gate, up, their product);
        // measured 22.2k floats per token and layer on the small preset (this formula: 21.8k).
        // Plus one chunk of logits.
        let perLayer = tokens * (11 * c.hiddenSize + 3 * c.numKeyValueHeads * c.headDim + 3 * c.intermediateSize) * 4
        let layers = recompute ? c.numHiddenLayers * tokens * c.hiddenSize * 4 + perLayer : c.numHiddenLayers * perLayer
        activationBytes = layers + 64 * c.vocabSize * 4
    }

    /// Activation recomputation for a run: `requested`, or by default only when the run would
    /// not fit in 90% of the memory available now without it.
    public static func recomputes(
        requested: Bool?, config: MistralConfig, storage: DType, lora: LoRAConfig?, tokens: Int
    ) -> Bool {
        if let requested { return requested }
        let keepingAll = MemoryEstimate(config: config, storage: storage, lora: lora, tokens: tokens, recompute: false)
        guard let available = ProcessMemory.availableBytes else { return false }
        return Double(keepingAll.totalBytes) > 0.9 * Double(available)
    }
}

extension MistralConfig {
    /// Every weight: embeddings, layers (norms and projections), final norm, LM head.
    public var parameterCount: Int {
        let q = numAttentionHeads * headDim, kv = numKeyValueHeads * headDim
        let layer = 2 * hiddenSize + hiddenSize * (2 * q + 2 * kv) + 3 * hiddenSize * intermediateSize
        return 2 * vocabSize * hiddenSize + numHiddenLayers * layer + hiddenSize
    }

    /// LoRA's A and B matrices over every targeted projection.
    public func adapterParameterCount(_ lora: LoRAConfig) -> Int {
        let q = numAttentionHeads * headDim, kv = numKeyValueHeads * headDim
        let shapes: [String: (Int, Int)] = [
            "q_proj": (hiddenSize, q), "k_proj": (hiddenSize, kv), "v_proj": (hiddenSize, kv), "o_proj": (q, hiddenSize),
            "gate_proj": (hiddenSize, intermediateSize), "up_proj": (hiddenSize, intermediateSize),
            "down_proj": (intermediateSize, hiddenSize),
        ]
        let perLayer = lora.targetModules.reduce(0) { total, module in
            let (input, output) = shapes[module] ?? (0, 0)
            return total + lora.rank * (input + output)
        }
        return numHiddenLayers * perLayer
    }
}
