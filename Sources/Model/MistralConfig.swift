import Foundation

public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The architecture of a Mistral-style decoder (Mistral or Llama), read from an HF `config.json`
/// or a GGUF file's metadata.
public struct MistralConfig: Equatable, Sendable {
    /// `mistral` or `llama`: the same decoder; the type names the HF classes of an export.
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var slidingWindow: Int?
    public var maxPositionEmbeddings: Int
    public var bosTokenId: Int32
    public var eosTokenId: Int32
    /// The dtype the weights were saved in (`torch_dtype` or `dtype`), informational.
    public var savedDType: String?
    /// The LM head is the token embedding table (one tensor used twice).
    public var tieWordEmbeddings: Bool

    public static let modelTypes = ["mistral", "llama"]

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
        numKeyValueHeads: Int, headDim: Int? = nil, ropeTheta: Float = 10000, rmsNormEps: Float = 1e-5,
        slidingWindow: Int? = nil, maxPositionEmbeddings: Int = 32768, bosTokenId: Int32 = 1, eosTokenId: Int32 = 2,
        savedDType: String? = nil, modelType: String = "mistral", tieWordEmbeddings: Bool = false
    ) {
        self.modelType = modelType
        self.tieWordEmbeddings = tieWordEmbeddings
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? hiddenSize / max(numAttentionHeads, 1)
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.slidingWindow = slidingWindow
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.savedDType = savedDType
    }

    /// (out, in) of each linear layer of a decoder block, by the module's name in the block
    /// (`self_attn.q_proj`); the one place these shapes are written.
    public var linearShapes: [(module: String, out: Int, in: Int)] {
        let (h, i, q, kv) = (hiddenSize, intermediateSize, numAttentionHeads * headDim, numKeyValueHeads * headDim)
        return [
            ("self_attn.q_proj", q, h), ("self_attn.k_proj", kv, h), ("self_attn.v_proj", kv, h), ("self_attn.o_proj", h, q),
            ("mlp.gate_proj", i, h), ("mlp.up_proj", i, h), ("mlp.down_proj", h, i),
        ]
    }

    /// Every weight of the model: embeddings, LM head, final norm, and per layer two norms and
    /// the linear layers.
    public var parameterCount: Int {
        let perLayer = 2 * hiddenSize + linearShapes.reduce(0) { $0 + $1.out * $1.in }
        return (tieWordEmbeddings ? 1 : 2) * vocabSize * hiddenSize + hiddenSize + numHiddenLayers * perLayer
    }

    /// Mistral 7B v0.2 (and Instruct v0.2, the base of JANUS).
    public static let mistral7Bv02 = MistralConfig(
        vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32, numAttentionHeads: 32,
        numKeyValueHeads: 8, headDim: 128, ropeTheta: 1_000_000, rmsNormEps: 1e-5, slidingWindow: nil,
        maxPositionEmbeddings: 32768, savedDType: "bfloat16")

    /// Shapes by name (vocab 32000, rope theta 1e6): `tiny` and `small` for benchmarks, `demo`
    /// for the model `make demo` trains from scratch, `7b-shape` = Mistral 7B v0.2.
    public static func preset(_ name: String) -> MistralConfig? {
        func shapes(_ hidden: Int, _ intermediate: Int, _ layers: Int, _ heads: Int, _ kvHeads: Int) -> MistralConfig {
            MistralConfig(
                vocabSize: 32000, hiddenSize: hidden, intermediateSize: intermediate, numHiddenLayers: layers,
                numAttentionHeads: heads, numKeyValueHeads: kvHeads, ropeTheta: 1_000_000, maxPositionEmbeddings: 4096)
        }
        switch name {
        case "demo": return shapes(128, 384, 4, 4, 2)
        case "tiny": return shapes(256, 768, 4, 8, 2)
        case "small": return shapes(1024, 3584, 8, 16, 4)
        case "7b-shape": return mistral7Bv02
        default: return nil
        }
    }

    public static let presetNames = ["demo", "tiny", "small", "7b-shape"]

    /// Reads `config.json`: `rope_theta` at top level or in `rope_parameters`, `head_dim` given or
    /// derived, `sliding_window` null or a number, `torch_dtype` or `dtype`; `model_type` mistral
    /// or llama, `tie_word_embeddings` false unless given.
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("\(url.path): config.json is missing or unreadable")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError("\(url.path): not a JSON object")
        }
        func integer(_ key: String) throws -> Int? {
            guard let value = json[key], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) else {
                throw ModelError("\(url.path): '\(key)' must be an integer, found \(value)")
            }
            return exact
        }
        func required(_ key: String) throws -> Int {
            guard let value = try integer(key) else { throw ModelError("\(url.path): missing '\(key)'") }
            guard value > 0 else { throw ModelError("\(url.path): '\(key)' must be positive, found \(value)") }
            return value
        }
        func real(_ value: Any?, _ key: String) throws -> Float? {
            guard let value, !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber else { throw ModelError("\(url.path): '\(key)' must be a number") }
            return number.floatValue
        }
        func tokenId(_ key: String, default value: Int32) throws -> Int32 {
            guard let id = try integer(key) else { return value }
            guard let exact = Int32(exactly: id), exact >= 0 else { throw ModelError("\(url.path): '\(key)' \(id) is not a token id") }
            return exact
        }
        let modelType = (json["model_type"] as? String) ?? "mistral"
        guard Self.modelTypes.contains(modelType) else {
            throw ModelError("\(url.path): model_type '\(modelType)' is not supported (supported: \(Self.modelTypes.joined(separator: ", ")))")
        }
        for key in ["attention_bias", "mlp_bias"] where (json[key] as? Bool) == true {
            throw ModelError("\(url.path): '\(key)' is true, but Facet's decoder has no biases")
        }
        let tied = json["tie_word_embeddings"] ?? false
        guard let tieWordEmbeddings = tied as? Bool else {
            throw ModelError("\(url.path): 'tie_word_embeddings' must be true or false, found \(tied)")
        }
        let ropeParameters = json["rope_parameters"] as? [String: Any]
        let ropeType = (ropeParameters?["rope_type"] as? String) ?? ((json["rope_scaling"] as? [String: Any])?["rope_type"] as? String)
        if let ropeType, ropeType != "default" {
            throw ModelError("\(url.path): rope type '\(ropeType)' is not supported (only the default rotary embedding)")
        }
        let theta = try real(json["rope_theta"], "rope_theta") ?? real(ropeParameters?["rope_theta"], "rope_parameters.rope_theta") ?? 10000
        let heads = try required("num_attention_heads")
        self.init(
            vocabSize: try required("vocab_size"), hiddenSize: try required("hidden_size"),
            intermediateSize: try required("intermediate_size"), numHiddenLayers: try required("num_hidden_layers"),
            numAttentionHeads: heads, numKeyValueHeads: try integer("num_key_value_heads") ?? heads,
            headDim: try integer("head_dim"), ropeTheta: theta,
            rmsNormEps: try real(json["rms_norm_eps"], "rms_norm_eps") ?? 1e-5,
            slidingWindow: try integer("sliding_window"),
            maxPositionEmbeddings: try integer("max_position_embeddings") ?? 32768,
            bosTokenId: try tokenId("bos_token_id", default: 1), eosTokenId: try tokenId("eos_token_id", default: 2),
            savedDType: (json["torch_dtype"] as? String) ?? (json["dtype"] as? String), modelType: modelType,
            tieWordEmbeddings: tieWordEmbeddings)
        try validate(source: url.path)
    }

    public func validate(source: String) throws {
        guard numKeyValueHeads > 0, numAttentionHeads % numKeyValueHeads == 0 else {
            throw ModelError("\(source): num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim > 0, headDim % 2 == 0 else { throw ModelError("\(source): head_dim \(headDim) must be positive and even") }
        if let w = slidingWindow, w <= 0 { throw ModelError("\(source): sliding_window must be positive or null") }
        if modelType == "llama" && slidingWindow != nil { throw ModelError("\(source): a llama model has no sliding_window") }
    }

    /// The HF `config.json` object for this architecture (used when exporting merged weights).
    public func jsonObject(dtype: String) -> [String: Any] {
        var object: [String: Any] = [
            "architectures": [modelType == "llama" ? "LlamaForCausalLM" : "MistralForCausalLM"], "model_type": modelType, "vocab_size": vocabSize,
            "hidden_size": hiddenSize, "intermediate_size": intermediateSize, "num_hidden_layers": numHiddenLayers,
            "num_attention_heads": numAttentionHeads, "num_key_value_heads": numKeyValueHeads, "head_dim": headDim,
            "rope_theta": Double(ropeTheta), "rms_norm_eps": Double(rmsNormEps),
            "max_position_embeddings": maxPositionEmbeddings, "bos_token_id": Int(bosTokenId),
            "eos_token_id": Int(eosTokenId), "hidden_act": "silu", "tie_word_embeddings": tieWordEmbeddings,
            "torch_dtype": dtype,
        ]
        if modelType == "llama" {
            object["attention_bias"] = false
            object["mlp_bias"] = false
        } else {
            object["sliding_window"] = slidingWindow.map { $0 as Any } ?? NSNull()
        }
        return object
    }
}
