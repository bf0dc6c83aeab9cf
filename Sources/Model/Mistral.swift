import Foundation
import Tensor
import Tokenizer

/// One decoder block: pre-norm attention and a pre-norm SwiGLU MLP, each with a residual.
public final class DecoderLayer {
    public let inputLayernorm: Tensor  // [hidden]
    public let qProj, kProj, vProj, oProj: Linear
    public let postAttentionLayernorm: Tensor  // [hidden]
    public let gateProj, upProj, downProj: Linear

    init(index: Int, config c: MistralConfig, dtype: DType, tensor: (String, [Int], DType) throws -> Tensor) throws {
        let prefix = "model.layers.\(index)"
        let shapes = Dictionary(uniqueKeysWithValues: c.linearShapes.map { ($0.module, [$0.out, $0.in]) })
        func linear(_ module: String) throws -> Linear {
            let name = "\(prefix).\(module)"
            return Linear(name: name, weight: try tensor("\(name).weight", shapes[module]!, dtype))
        }
        inputLayernorm = try tensor("\(prefix).input_layernorm.weight", [c.hiddenSize], .float32)
        qProj = try linear("self_attn.q_proj")
        kProj = try linear("self_attn.k_proj")
        vProj = try linear("self_attn.v_proj")
        oProj = try linear("self_attn.o_proj")
        postAttentionLayernorm = try tensor("\(prefix).post_attention_layernorm.weight", [c.hiddenSize], .float32)
        gateProj = try linear("mlp.gate_proj")
        upProj = try linear("mlp.up_proj")
        downProj = try linear("mlp.down_proj")
    }

    public var linears: [Linear] { [qProj, kProj, vProj, oProj, gateProj, upProj, downProj] }

    /// The tensors of this layer that are being trained.
    var trainedTensors: [Tensor] {
        ([inputLayernorm, postAttentionLayernorm] + linears.flatMap { [$0.weight] + ($0.adapter.map { [$0.a, $0.b] } ?? []) })
            .filter(\.requiresGrad)
    }
}

/// Token ids of a batch of equal-length rows (right-padded), with each token's position and,
/// for packed rows, the record (segment) it belongs to.
public struct TokenBatch: Sendable {
    public let ids: [Int32]  // [batch * tokens]
    public let batch: Int
    public let tokens: Int
    public let positions: [Int32]  // [batch * tokens]
    public let segmentIds: [Int32]?  // [batch * tokens], nil when each row is one record

    public init(ids: [Int32], batch: Int, tokens: Int, positions: [Int32]? = nil, segmentIds: [Int32]? = nil) {
        require(ids.count == batch * tokens, "TokenBatch: \(ids.count) ids for \(batch) x \(tokens)")
        self.ids = ids
        self.batch = batch
        self.tokens = tokens
        self.positions = positions ?? (0..<batch).flatMap { _ in (0..<tokens).map(Int32.init) }
        self.segmentIds = segmentIds
    }
}

/// The Mistral decoder (`MistralForCausalLM`), in forward order as transformers writes it.
public final class Mistral {
    public let config: MistralConfig
    public let embedTokens: Tensor  // [vocab, hidden]
    public let layers: [DecoderLayer]
    public let norm: Tensor  // [hidden]
    /// `embedTokens` itself when the config ties them.
    public let lmHead: Tensor  // [vocab, hidden]
    /// The scalar head of a reward model (`stage: rm`); the LM head is then unused.
    public var rewardHead: RewardHead?
    /// Recompute each decoder layer during backward instead of keeping its activations.
    public var recomputesActivations = false
    /// The dropout state of the adapters, replayed when a layer is recomputed.
    public var dropoutState: DropoutState?
    /// How the frozen bfloat16 matrices are multiplied: widened to float32 (exact) or in
    /// bfloat16 on the CPU's bfloat16 instructions (`Tensor.computeDType`); attention's products
    /// follow (`causalAttention(computeDType:)`).
    public var computeDType = DType.float32 {
        didSet { for matrix in [lmHead] + linears.map(\.weight) where matrix.dtype == .bfloat16 { matrix.computeDType = computeDType } }
    }

    /// Builds the model from named HF tensors. Matrices are stored as `dtype` (bfloat16 halves
    /// the memory of frozen weights); norms stay float32.
    public init(config: MistralConfig, dtype: DType = .float32, tensor: (String, [Int], DType) throws -> Tensor) throws {
        self.config = config
        embedTokens = try tensor("model.embed_tokens.weight", [config.vocabSize, config.hiddenSize], dtype)
        // Appended one by one (not mapped, which reserves them all first): a file that claims
        // billions of layers fails on the first missing tensor instead of exhausting memory.
        var layers = [DecoderLayer]()
        for index in 0..<config.numHiddenLayers {
            layers.append(try DecoderLayer(index: index, config: config, dtype: dtype, tensor: tensor))
        }
        self.layers = layers
        norm = try tensor("model.norm.weight", [config.hiddenSize], .float32)
        lmHead = config.tieWordEmbeddings ? embedTokens : try tensor("lm_head.weight", [config.vocabSize, config.hiddenSize], dtype)
    }

    /// Loads an HF model folder: `config.json` and single or sharded safetensors.
    public static func load(directory: URL, dtype: DType = .float32) throws -> Mistral {
        guard FileManager.default.fileExists(atPath: directory.path) else {
            throw ModelError("model folder \(directory.path) does not exist")
        }
        let config = try MistralConfig(contentsOf: directory.appendingPathComponent("config.json"))
        let weights = try SafetensorsCollection(directory: directory)
        return try Mistral(config: config, dtype: dtype) { name, shape, dtype in
            let tensor = try weights.tensor(name, as: dtype)
            guard tensor.shape == shape else {
                throw ModelError("\(directory.path): tensor '\(name)' has shape \(tensor.shape) in the safetensors files, but config.json gives \(shape)")
            }
            return tensor
        }
    }

    /// Refuses a tokenizer whose ids the embedding table cannot hold.
    public func check(_ tokenizer: Tokenizer) throws {
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw ModelError("the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(config.vocabSize)")
        }
    }

    /// Every linear layer, in model order.
    public var linears: [Linear] { layers.flatMap(\.linears) }

    /// The linear layer with HF module path `module`.
    public func linear(named module: String) -> Linear? {
        linears.first { $0.name == module }
    }

    /// Every weight of the model by HF name (full fine-tuning trains all of them); a tied LM head
    /// is the embedding table, listed once, as HF saves it.
    public var namedWeights: [Parameter] {
        var weights = [Parameter(name: "model.embed_tokens.weight", tensor: embedTokens)]
        for (index, layer) in layers.enumerated() {
            let prefix = "model.layers.\(index)"
            weights.append(Parameter(name: "\(prefix).input_layernorm.weight", tensor: layer.inputLayernorm))
            weights.append(Parameter(name: "\(prefix).post_attention_layernorm.weight", tensor: layer.postAttentionLayernorm))
            weights += layer.linears.map { Parameter(name: "\($0.name).weight", tensor: $0.weight) }
        }
        weights.append(Parameter(name: "model.norm.weight", tensor: norm))
        if !config.tieWordEmbeddings { weights.append(Parameter(name: "lm_head.weight", tensor: lmHead)) }
        return weights
    }

    /// The trained tensors: adapter matrices (`<module>.lora_A`, `<module>.lora_B`) when the
    /// model has adapters, otherwise every weight (but the LM head of a reward model); then the
    /// reward head, if any.
    public var trainableParameters: [Parameter] {
        let head = rewardHead.map { [Parameter(name: RewardHead.name, tensor: $0.weight)] } ?? []
        let adapted = linears.compactMap { linear in linear.adapter.map { (linear.name, $0) } }
        if adapted.isEmpty { return namedWeights.filter { rewardHead == nil || $0.tensor !== lmHead } + head }
        return adapted.flatMap { name, adapter in
            [Parameter(name: "\(name).lora_A", tensor: adapter.a), Parameter(name: "\(name).lora_B", tensor: adapter.b)]
        } + head
    }

    /// Overwrites float32 weights with the given values by HF name; `source` names the file
    /// they came from in errors.
    public func load(weights values: [String: Tensor], source: String) throws {
        let weights = Dictionary(uniqueKeysWithValues: namedWeights.map { ($0.name, $0.tensor) })
        for (name, value) in values {
            guard let weight = weights[name], weight.shape == value.shape, weight.dtype == .float32 else {
                throw ModelError("\(source): weight '\(name)' \(value.shape) does not fit this model (load it as float32)")
            }
            weight.data.update(from: value.data, count: value.count)
        }
    }

    /// Gives every targeted linear layer a fresh trainable adapter (A drawn from `seed`).
    public func attachLoRA(_ config: LoRAConfig, seed: UInt64, dropoutState: DropoutState) {
        self.dropoutState = dropoutState
        var generator = RandomGenerator(seed: seed)
        for linear in linears where config.targetModules.contains(linear.kind) {
            linear.adapter = LoRAAdapter(
                outFeatures: linear.outFeatures, inFeatures: linear.inFeatures, rank: config.rank, alpha: config.alpha,
                useRSLoRA: config.useRSLoRA, dropout: config.dropout, dropoutState: dropoutState, generator: &generator)
        }
    }

    /// Puts `adapters` on their layers as frozen adapters (an earlier stage's, or a checkpoint's
    /// for inference), replacing any frozen ones; several on one module are stacked into one of
    /// rank r1 + r2 + ... (`StoredAdapter.stacked`), which adds exactly their updates.
    public func attachFrozen(_ adapters: [StoredAdapter]) throws {
        for (module, parts) in Dictionary(grouping: adapters, by: \.module) {
            guard let linear = linear(named: module) else {
                throw ModelError("the adapter targets '\(module)', which this model does not have")
            }
            let stored = StoredAdapter.stacked(parts)
            guard stored.a.shape[1] == linear.inFeatures, stored.b.shape[0] == linear.outFeatures else {
                throw ModelError("the adapter of '\(module)' has A \(stored.a.shape) and B \(stored.b.shape), which do not fit a [\(linear.outFeatures), \(linear.inFeatures)] weight")
            }
            linear.frozenAdapter = LoRAAdapter(
                a: stored.a.widened(), b: stored.b.widened(), alpha: stored.alpha, useRSLoRA: stored.useRSLoRA, dropout: 0,
                dropoutState: nil)
        }
    }

    /// Runs `body` with the trained adapters switched off and the frozen ones on (the reference
    /// model of DPO: the model the stage started from), switching them back on however `body`
    /// exits.
    public func withTrainedAdaptersDisabled<T>(_ body: () throws -> T) rethrows -> T {
        for linear in linears { linear.adapterEnabled = false }
        defer { for linear in linears { linear.adapterEnabled = true } }
        return try body()
    }

    /// Final-norm hidden states [batch, tokens, hidden]. With a cache, the batch continues the
    /// cached sequence (its positions must follow the cached ones) and the cache grows.
    public func hiddenStates(_ batch: TokenBatch, cache: KVCache? = nil) -> Tensor {
        hiddenStates(batch, rows: cache.map { CachedRows(caches: [$0], tokens: [batch.tokens]) })
    }

    /// Final-norm hidden states [1, tokens, hidden] of several sequences continued together
    /// (`CachedRows`), or of a plain batch without `rows`.
    func hiddenStates(_ batch: TokenBatch, rows: CachedRows?) -> Tensor {
        require(rows == nil || batch.batch == 1, "hiddenStates: cached sequences lie end to end in one row, found batch \(batch.batch)")
        let c = config
        let (b, t) = (batch.batch, batch.tokens)
        var h = embedTokens.embedding(batch.ids).reshaped([b, t, c.hiddenSize])
        for (index, layer) in layers.enumerated() {
            if recomputesActivations && rows == nil {
                h = recomputedLayer(layer, index: index, h, batch)
            } else {
                h = layerForward(layer, index: index, h, batch, rows: rows)
            }
        }
        return h.rmsNorm(weight: norm, eps: c.rmsNormEps)
    }

    // h: (batch, tokens, hidden) -> (batch, tokens, hidden)
    func layerForward(_ layer: DecoderLayer, index: Int, _ h: Tensor, _ batch: TokenBatch, rows: CachedRows?) -> Tensor {
        let c = config
        let (b, t) = (batch.batch, batch.tokens)
        let x = h.rmsNorm(weight: layer.inputLayernorm, eps: c.rmsNormEps)
        let q = layer.qProj(x).reshaped([b, t, c.numAttentionHeads, c.headDim])
            .rotaryEmbedding(positions: batch.positions, theta: c.ropeTheta)
        let k = layer.kProj(x).reshaped([b, t, c.numKeyValueHeads, c.headDim])
            .rotaryEmbedding(positions: batch.positions, theta: c.ropeTheta)
        let v = layer.vProj(x).reshaped([b, t, c.numKeyValueHeads, c.headDim])
        let attended = rows?.attention(layer: index, query: q, key: k, value: v, slidingWindow: c.slidingWindow, computeDType: computeDType)
            ?? causalAttention(
                query: q, key: k, value: v, slidingWindow: c.slidingWindow, segmentIds: batch.segmentIds, computeDType: computeDType)
        let afterAttention = h + layer.oProj(attended.reshaped([b, t, c.numAttentionHeads * c.headDim]))
        let y = afterAttention.rmsNorm(weight: layer.postAttentionLayernorm, eps: c.rmsNormEps)
        return afterAttention + layer.downProj(swiGLU(gate: layer.gateProj(y), up: layer.upProj(y)))
    }

    /// The layer under activation recomputation; the recomputation replays the dropout masks
    /// of the first pass.
    private func recomputedLayer(_ layer: DecoderLayer, index: Int, _ h: Tensor, _ batch: TokenBatch) -> Tensor {
        let parameters = layer.trainedTensors
        let state = dropoutState
        let before = state?.generator
        var firstPass = true
        return recomputed(h, parameters: parameters) { [self] input in
            guard let state, let before else { return layerForward(layer, index: index, input, batch, rows: nil) }
            let current = state.generator
            state.generator = before
            defer {
                if !firstPass { state.generator = current }
                firstPass = false
            }
            return layerForward(layer, index: index, input, batch, rows: nil)
        }
    }

    /// Full logits [..., vocab] of some hidden states (generation, small checks). Training and
    /// evaluation use `tokenLogProbs`, which never materialises all logits.
    public func logits(_ hidden: Tensor) -> Tensor {
        matmul(hidden, lmHead, transposeB: true)
    }

    /// log p(target) for each token of the batch whose target is not negative; targets are
    /// aligned with positions (the target of position i is the token at i + 1). [batch * tokens]
    public func logProbs(_ batch: TokenBatch, targets: [Int32]) -> Tensor {
        let hidden = hiddenStates(batch)
        return tokenLogProbs(hidden: hidden.reshaped([-1, config.hiddenSize]), weight: lmHead, targets: targets)
    }
}
