import Foundation
import Tensor

extension Mistral {
    /// The linear layer with HF module path `module`.
    public func linear(named module: String) -> Linear? {
        linears.first { $0.name == module }
    }

    /// Folds adapters into the weights (inference, or the frozen start of a new stage).
    public func merge(_ adapters: [StoredAdapter]) throws {
        for stored in adapters {
            guard let linear = linear(named: stored.module) else {
                throw ModelError("the adapter targets '\(stored.module)', which this model does not have")
            }
            guard stored.a.shape[1] == linear.inFeatures, stored.b.shape[0] == linear.outFeatures else {
                throw ModelError("the adapter of '\(stored.module)' has A \(stored.a.shape) and B \(stored.b.shape), which do not fit a [\(linear.outFeatures), \(linear.inFeatures)] weight")
            }
            linear.adapter = LoRAAdapter(a: stored.a, b: stored.b, alpha: stored.alpha, useRSLoRA: stored.useRSLoRA, dropout: 0, dropoutState: nil)
            linear.mergeAdapter()
        }
    }

    /// The policy a checkpoint describes: the full weights of the stage it continued from and
    /// its own, then its base and trained adapters merged into the weights.
    public func apply(_ checkpoint: LoadedCheckpoint) throws {
        try load(weights: checkpoint.baseWeights.merging(checkpoint.weights, uniquingKeysWith: { $1 }), from: checkpoint.url)
        try merge(checkpoint.baseAdapters + checkpoint.adapters)
    }

    /// Overwrites float32 weights with the given values by HF name.
    public func load(weights values: [String: Tensor], from url: URL) throws {
        let weights = Dictionary(uniqueKeysWithValues: namedWeights.map { ($0.name, $0.tensor) })
        for (name, value) in values {
            guard let weight = weights[name], weight.shape == value.shape, weight.dtype == .float32 else {
                throw CheckpointError(url, "weight '\(name)' \(value.shape) does not fit this model (load it as float32)")
            }
            weight.data.update(from: value.data, count: value.count)
        }
    }
}

/// LoRA adapters in PEFT's on-disk format: `adapter_config.json` and
/// `adapter_model.safetensors` with keys `base_model.model.<module>.lora_A.weight`.
public enum PEFTAdapter {
    /// Writes `adapters` as one PEFT adapter. Several adapters on the same module (an earlier
    /// stage's and this one's) become one of rank r1 + r2, exactly:
    /// s1 B1 A1 + s2 B2 A2 = [s1 B1, s2 B2] [A1; A2], stored with alpha = rank so scale is 1.
    public static func write(_ adapters: [StoredAdapter], baseModel: String, to directory: URL) throws {
        let byModule = Dictionary(grouping: adapters, by: \.module)
        var tensors = [(String, Tensor)]()
        var ranks = Set<Int>(), alphas = Set<Float>(), rslora = Set<Bool>(), dropouts = Set<Float>()
        for module in byModule.keys.sorted() {
            let parts = byModule[module]!
            let combined: StoredAdapter
            if parts.count == 1 {
                combined = parts[0]
            } else {
                let rank = parts.reduce(0) { $0 + $1.rank }
                combined = StoredAdapter(
                    module: module, a: Tensor.concatenated(parts.map { $0.a.widened() }, axis: 0),
                    b: Tensor.concatenated(parts.map { $0.b.widened() * $0.scale }, axis: 1),
                    alpha: Float(rank), useRSLoRA: false, dropout: parts.last!.dropout)
            }
            ranks.insert(combined.rank)
            alphas.insert(combined.alpha)
            rslora.insert(combined.useRSLoRA)
            dropouts.insert(combined.dropout)
            tensors.append(("base_model.model.\(module).lora_A.weight", combined.a.widened()))
            tensors.append(("base_model.model.\(module).lora_B.weight", combined.b.widened()))
        }
        guard ranks.count == 1, alphas.count == 1, rslora.count == 1 else {
            throw ModelError("the adapters differ in rank or alpha across modules, which one PEFT config cannot express")
        }
        let targets = Set(byModule.keys.map { String($0.split(separator: ".").last!) }).sorted()
        let config: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": ranks.first!, "lora_alpha": Double("\(alphas.first!)") ?? 0,
            "lora_dropout": Double("\(dropouts.max() ?? 0)") ?? 0, "target_modules": targets, "use_rslora": rslora.first!,
            "bias": "none", "base_model_name_or_path": baseModel, "fan_in_fan_out": false, "inference_mode": true,
            "init_lora_weights": true, "modules_to_save": NSNull(), "revision": NSNull(),
        ]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: directory.appendingPathComponent("adapter_config.json"), options: .atomic)
        try SafetensorsFile.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent("adapter_model.safetensors"))
    }

    /// Reads a PEFT LoRA adapter folder.
    public static func read(_ directory: URL) throws -> [StoredAdapter] {
        let configURL = directory.appendingPathComponent("adapter_config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path),
              let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw ModelError("\(configURL.path): missing or not a JSON object") }
        guard (config["peft_type"] as? String) == "LORA" else { throw ModelError("\(configURL.path): peft_type must be LORA") }
        guard let rank = (config["r"] as? NSNumber)?.intValue, let alpha = (config["lora_alpha"] as? NSNumber)?.floatValue else {
            throw ModelError("\(configURL.path): r and lora_alpha must be numbers")
        }
        let useRSLoRA = (config["use_rslora"] as? Bool) ?? false
        let dropout = (config["lora_dropout"] as? NSNumber)?.floatValue ?? 0
        let file = try SafetensorsFile(url: directory.appendingPathComponent("adapter_model.safetensors"))
        let prefix = "base_model.model.", suffix = ".lora_A.weight"
        return try file.names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }.map { name in
            let module = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            let a = try file.tensor(name), b = try file.tensor("\(prefix)\(module).lora_B.weight")
            guard a.shape[0] == rank, b.shape[1] == rank else {
                throw ModelError("\(file.url.path): '\(module)' has rank \(a.shape[0]), adapter_config.json says r = \(rank)")
            }
            return StoredAdapter(module: module, a: a, b: b, alpha: alpha, useRSLoRA: useRSLoRA, dropout: dropout)
        }
    }
}

/// A full HF model folder with every adapter merged into the weights.
public enum MergedExport {
    public static func write(_ model: Mistral, sourceDirectory: URL, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dtype = model.embedTokens.dtype
        let tensors = model.namedWeights.map { ($0.name, dtype == .bfloat16 && $0.tensor.dtype == .float32 ? $0.tensor.narrowedToBFloat16() : $0.tensor) }
        try SafetensorsFile.writeModel(tensors, to: directory)
        var config = model.config.jsonObject(dtype: dtype.rawValue)
        config["dtype"] = dtype.rawValue
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: directory.appendingPathComponent("config.json"), options: .atomic)
        for name in ["tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            let source = sourceDirectory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: source.path) {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
                try FileManager.default.copyItem(at: source, to: directory.appendingPathComponent(name))
            }
        }
    }
}
