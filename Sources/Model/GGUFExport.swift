import Foundation
import Tensor

/// A merged model as one GGUF file in llama.cpp's Llama conventions, for llama.cpp, ollama and
/// transformers' `gguf_file=`.
public enum GGUFExport {
    /// Writes `model` with every adapter merged (in float32, rounded once) as `type` (F16 or
    /// BF16) matrices and F32 norms. The metadata of `source` (the GGUF the model was read
    /// from: its tokenizer, chat template, names) is carried over; the architecture's keys and
    /// the file type are written anew.
    public static func write(_ model: Mistral, type: GGUFTensorType, carrying source: GGUFFile?, to url: URL) throws {
        require(type == .f16 || type == .bf16, "GGUFExport: matrices are written as F16 or BF16, not \(type)")
        let merged = Dictionary(uniqueKeysWithValues: model.linears.filter { $0.adapter != nil || $0.frozenAdapter != nil }
            .map { ("\($0.name).weight", $0.mergedWeight) })
        var tensors = [(name: String, tensor: Tensor, type: GGUFTensorType)]()
        for parameter in model.namedWeights {
            guard let name = GGUFLlama.name(parameter.name) else { continue }
            var tensor = merged[parameter.name] ?? parameter.tensor
            if let heads = GGUFLlama.rotaryHeads(parameter.name, model.config) {
                tensor = GGUFLlama.reorderRotaryRows(tensor, heads: heads, toGGUF: true)
            }
            tensors.append((name, tensor, tensor.rank == 1 ? .f32 : type))
        }
        // llama.cpp's LLAMA_FTYPE_MOSTLY_F16 and MOSTLY_BF16.
        let fileType: UInt32 = type == .f16 ? 1 : 32
        var metadata: [(key: String, value: GGUFValue)] = [("general.architecture", .string(GGUFLlama.architecture))]
        metadata += model.config.ggufMetadata
        metadata.append(("general.file_type", .uint32(fileType)))
        let written = Set(metadata.map(\.key)).union(["general.quantization_version"])
        metadata += (source?.metadata ?? []).filter { !written.contains($0.key) && !$0.key.hasPrefix("llama.") }
        try GGUFFile.write(metadata: metadata, tensors: tensors, to: url)
    }
}
