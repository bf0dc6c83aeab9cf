import Foundation
import Tensor

/// LoRA hyper-parameters, as PEFT's `LoraConfig`.
public struct LoRAConfig: Sendable, Equatable {
    public static let allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targetModules: [String]
    public var useRSLoRA: Bool

    public init(rank: Int = 16, alpha: Float = 32, dropout: Float = 0, targetModules: [String] = allTargets, useRSLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.useRSLoRA = useRSLoRA
    }
}

extension Linear {
    /// The last component of the module path: `q_proj`, `down_proj`, ...
    public var kind: String { String(name.split(separator: ".").last ?? "") }
}

extension Mistral {
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

    /// Every weight of the model by HF name (full fine-tuning trains all of them).
    public var namedWeights: [Parameter] {
        var weights = [Parameter(name: "model.embed_tokens.weight", tensor: embedTokens)]
        for (index, layer) in layers.enumerated() {
            let prefix = "model.layers.\(index)"
            weights.append(Parameter(name: "\(prefix).input_layernorm.weight", tensor: layer.inputLayernorm))
            weights.append(Parameter(name: "\(prefix).post_attention_layernorm.weight", tensor: layer.postAttentionLayernorm))
            weights += layer.linears.map { Parameter(name: "\($0.name).weight", tensor: $0.weight) }
        }
        weights.append(Parameter(name: "model.norm.weight", tensor: norm))
        weights.append(Parameter(name: "lm_head.weight", tensor: lmHead))
        return weights
    }

    /// The trained tensors: adapter matrices (`<module>.lora_A`, `<module>.lora_B`) when the
    /// model has adapters, otherwise every weight.
    public var trainableParameters: [Parameter] {
        let adapted = linears.compactMap { linear in linear.adapter.map { (linear.name, $0) } }
        if adapted.isEmpty { return namedWeights }
        return adapted.flatMap { name, adapter in
            [Parameter(name: "\(name).lora_A", tensor: adapter.a), Parameter(name: "\(name).lora_B", tensor: adapter.b)]
        }
    }
}
