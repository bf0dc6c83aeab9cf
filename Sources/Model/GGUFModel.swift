import Foundation
import Tensor

/// llama.cpp's conventions for a Llama-architecture model in GGUF: tensor names, metadata keys,
/// and the rotary layout of the query and key projections.
public enum GGUFLlama {
    /// The one `general.architecture` Facet reads (llama.cpp also stores Mistral models so).
    public static let architecture = "llama"

    /// The GGUF name of an HF tensor name (`model.layers.3.self_attn.q_proj.weight` ->
    /// `blk.3.attn_q.weight`).
    public static func name(_ hfName: String) -> String? {
        switch hfName {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = hfName.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let modules = [
            "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "ffn_norm",
            "self_attn.q_proj.weight": "attn_q", "self_attn.k_proj.weight": "attn_k", "self_attn.v_proj.weight": "attn_v",
            "self_attn.o_proj.weight": "attn_output", "mlp.gate_proj.weight": "ffn_gate", "mlp.up_proj.weight": "ffn_up",
            "mlp.down_proj.weight": "ffn_down",
        ]
        return modules[parts[3]].map { "blk.\(layer).\($0).weight" }
    }

    /// The heads whose rows llama.cpp's converter reorders, for an HF tensor name: within each
    /// head, HF keeps the two rotary halves apart (rows i and i + d/2 form a pair) and GGUF
    /// interleaves them (rows 2i and 2i + 1).
    static func rotaryHeads(_ hfName: String, _ config: MistralConfig) -> Int? {
        if hfName.hasSuffix("self_attn.q_proj.weight") { return config.numAttentionHeads }
        if hfName.hasSuffix("self_attn.k_proj.weight") { return config.numKeyValueHeads }
        return nil
    }

    // weight: (heads * headDim, in), rows of each head in the layout of `from`
    static func reorderRotaryRows(_ weight: Tensor, heads: Int, toGGUF: Bool) -> Tensor {
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        let half = rows / heads / 2
        let split = [heads, 2, half, columns], interleaved = [heads, half, 2, columns]
        return weight.widened().reshaped(toGGUF ? split : interleaved).permuted([0, 2, 1, 3]).reshaped([rows, columns])
    }
}

extension GGUFFile {
    /// The value of metadata `key`, or an error naming the file and the key.
    func required(_ key: String) throws -> GGUFValue {
        guard let value = self[key] else { throw ModelError("\(url.path): missing metadata key '\(key)'") }
        return value
    }
}

extension MistralConfig {
    /// The architecture from a GGUF file's `llama.*` metadata; the vocabulary size from
    /// `llama.vocab_size`, else the tokenizer's token list; tied embeddings when the file has no
    /// `output.weight`.
    public init(gguf file: GGUFFile) throws {
        let source = file.url.path
        func positive(_ key: String, default fallback: Int? = nil) throws -> Int {
            if file[key] == nil, let fallback { return fallback }
            let value = try file.required(key)
            guard let number = value.integer, number > 0 else {
                throw ModelError("\(source): metadata key '\(key)' must be a positive integer, found \(value)")
            }
            return number
        }
        func real(_ key: String, default fallback: Float?) throws -> Float {
            if file[key] == nil, let fallback { return fallback }
            let value = try file.required(key)
            guard let number = value.number, number > 0 else {
                throw ModelError("\(source): metadata key '\(key)' must be a positive number, found \(value)")
            }
            return Float(number)
        }
        let architecture = try file.required("general.architecture")
        guard architecture.string == GGUFLlama.architecture else {
            throw ModelError("\(source): general.architecture \(architecture) is not supported (supported: \(GGUFLlama.architecture))")
        }
        if let scaling = file["llama.rope.scaling.type"], scaling.string != "none" {
            throw ModelError("\(source): llama.rope.scaling.type \(scaling) is not supported (only unscaled rotary embeddings)")
        }
        let hidden = try positive("llama.embedding_length")
        let heads = try positive("llama.attention.head_count")
        let headDim = try positive("llama.attention.key_length", default: hidden / heads)
        let rotary = try positive("llama.rope.dimension_count", default: headDim)
        guard rotary == headDim else {
            throw ModelError("\(source): llama.rope.dimension_count \(rotary) differs from the head size \(headDim) (partial rotary embeddings are not supported)")
        }
        let tokens = file["tokenizer.ggml.tokens"]?.array?.count
        func tokenId(_ key: String, default fallback: Int32) throws -> Int32 {
            guard let value = file[key] else { return fallback }
            guard let id = value.integer.flatMap(Int32.init(exactly:)), id >= 0 else {
                throw ModelError("\(source): metadata key '\(key)' \(value) is not a token id")
            }
            return id
        }
        self.init(
            vocabSize: try positive("llama.vocab_size", default: tokens), hiddenSize: hidden,
            intermediateSize: try positive("llama.feed_forward_length"), numHiddenLayers: try positive("llama.block_count"),
            numAttentionHeads: heads, numKeyValueHeads: try positive("llama.attention.head_count_kv", default: heads),
            headDim: headDim, ropeTheta: try real("llama.rope.freq_base", default: 10000),
            rmsNormEps: try real("llama.attention.layer_norm_rms_epsilon", default: nil), slidingWindow: nil,
            maxPositionEmbeddings: try positive("llama.context_length", default: 2048),
            bosTokenId: try tokenId("tokenizer.ggml.bos_token_id", default: 1),
            eosTokenId: try tokenId("tokenizer.ggml.eos_token_id", default: 2), savedDType: nil, modelType: "llama",
            tieWordEmbeddings: file.info("output.weight") == nil)
        try validate(source: source)
    }

    /// The `llama.*` metadata of this architecture, as llama.cpp's converter writes it.
    var ggufMetadata: [(key: String, value: GGUFValue)] {
        [
            ("llama.vocab_size", .uint32(UInt32(vocabSize))), ("llama.context_length", .uint32(UInt32(maxPositionEmbeddings))),
            ("llama.embedding_length", .uint32(UInt32(hiddenSize))), ("llama.block_count", .uint32(UInt32(numHiddenLayers))),
            ("llama.feed_forward_length", .uint32(UInt32(intermediateSize))),
            ("llama.rope.dimension_count", .uint32(UInt32(headDim))),
            ("llama.attention.head_count", .uint32(UInt32(numAttentionHeads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(numKeyValueHeads))),
            ("llama.attention.key_length", .uint32(UInt32(headDim))), ("llama.attention.value_length", .uint32(UInt32(headDim))),
            ("llama.rope.freq_base", .float32(ropeTheta)), ("llama.attention.layer_norm_rms_epsilon", .float32(rmsNormEps)),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(bosTokenId))), ("tokenizer.ggml.eos_token_id", .uint32(UInt32(eosTokenId))),
        ]
    }
}

extension Mistral {
    /// Loads a Llama-architecture GGUF file: metadata mapped to the config, tensors dequantized
    /// to `dtype` (norms to float32), the query and key rows put back in HF's rotary layout.
    public static func load(gguf url: URL, dtype: DType = .float32) throws -> Mistral {
        let file = try GGUFFile(url: url)
        let config = try MistralConfig(gguf: file)
        return try Mistral(config: config, dtype: dtype) { name, shape, dtype in
            guard let ggufName = GGUFLlama.name(name), let info = file.info(ggufName) else {
                throw ModelError("\(url.path): tensor '\(GGUFLlama.name(name) ?? name)' (\(name)) is missing")
            }
            guard info.shape == shape else {
                throw ModelError("\(url.path): tensor '\(ggufName)' has shape \(info.shape), but the metadata gives \(shape)")
            }
            guard let heads = GGUFLlama.rotaryHeads(name, config) else { return try file.tensor(ggufName, as: dtype) }
            let weight = GGUFLlama.reorderRotaryRows(try file.tensor(ggufName), heads: heads, toGGUF: false)
            return dtype == .float32 ? weight : weight.narrowedToBFloat16()
        }
    }
}
