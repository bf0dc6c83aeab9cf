import Foundation
import Tensor

/// A LoRA adapter as stored in a file (checkpoint or PEFT folder): module name (HF path), A, B
/// and its scaling.
public struct StoredAdapter {
    public let module: String
    public let a: Tensor
    public let b: Tensor
    public let alpha: Float
    public let useRSLoRA: Bool
    public let dropout: Float

    public init(module: String, a: Tensor, b: Tensor, alpha: Float, useRSLoRA: Bool, dropout: Float) {
        self.module = module
        self.a = a
        self.b = b
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.dropout = dropout
    }

    public var rank: Int { a.shape[0] }
    public var scale: Float { LoRAAdapter.scale(alpha: alpha, rank: rank, useRSLoRA: useRSLoRA) }

    /// Adapters of one module as one of rank r1 + r2 + ..., exactly their summed update:
    /// s1 B1 A1 + s2 B2 A2 = [s1 B1, s2 B2] [A1; A2], with alpha = rank so the scale is 1
    /// (float32). One adapter is returned as it is.
    public static func stacked(_ parts: [StoredAdapter]) -> StoredAdapter {
        guard parts.count > 1 else { return parts[0] }
        let rank = parts.reduce(0) { $0 + $1.rank }
        return StoredAdapter(
            module: parts[0].module, a: Tensor.concatenated(parts.map { $0.a.widened() }, axis: 0),
            b: Tensor.concatenated(parts.map { $0.b.widened() * $0.scale }, axis: 1),
            alpha: Float(rank), useRSLoRA: false, dropout: parts.last!.dropout)
    }
}

/// LoRA adapters in PEFT's on-disk format: `adapter_config.json` and
/// `adapter_model.safetensors` with keys `base_model.model.<module>.lora_A.weight`.
public enum PEFTAdapter {
    /// Writes `adapters` as one PEFT adapter. Several adapters on the same module (an earlier
    /// stage's and this one's) become one of rank r1 + r2 (`StoredAdapter.stacked`).
    public static func write(_ adapters: [StoredAdapter], baseModel: String, to directory: URL) throws {
        let byModule = Dictionary(grouping: adapters, by: \.module)
        var tensors = [(String, Tensor)]()
        var ranks = Set<Int>(), alphas = Set<Float>(), rslora = Set<Bool>(), dropouts = Set<Float>()
        for module in byModule.keys.sorted() {
            let combined = StoredAdapter.stacked(byModule[module]!)
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

