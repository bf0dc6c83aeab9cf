import Foundation
import Tensor

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
