import Foundation
import Tensor

/// A full HF model folder with every adapter merged into the weights: `MistralForCausalLM`, or
/// for a model with a reward head `MistralForSequenceClassification` (one label, `score.weight`,
/// no LM head).
public enum MergedExport {
    /// Writes the model in the dtype of its embedding table; each adapted weight is merged in
    /// float32 and narrowed once. A reward head stays float32.
    public static func write(_ model: Mistral, sourceDirectory: URL, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let dtype = model.embedTokens.dtype
        let merged = Dictionary(uniqueKeysWithValues: model.linears.filter { $0.adapter != nil || $0.frozenAdapter != nil }
            .map { ("\($0.name).weight", $0.mergedWeight) })
        let body = model.namedWeights.filter { model.rewardHead == nil || $0.tensor !== model.lmHead }
        var tensors = body.map { parameter in
            let tensor = merged[parameter.name] ?? parameter.tensor
            return (parameter.name, dtype == .bfloat16 && tensor.dtype == .float32 ? tensor.narrowedToBFloat16() : tensor)
        }
        if let head = model.rewardHead { tensors.append((RewardHead.name, head.weight)) }
        try SafetensorsFile.writeModel(tensors, to: directory)
        var config = model.config.jsonObject(dtype: dtype.rawValue)
        config["dtype"] = dtype.rawValue
        if model.rewardHead != nil {
            // transformers scores the last token that is not pad_token_id: Facet pads with id 0.
            config["architectures"] = ["MistralForSequenceClassification"]
            config["id2label"] = ["0": "LABEL_0"]
            config["label2id"] = ["LABEL_0": 0]
            config["pad_token_id"] = 0
        }
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
