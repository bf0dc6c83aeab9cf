import Foundation
import Tensor
import Tokenizer

/// Where a model comes from (`--model`, `model.path`): an HF folder (config.json, safetensors,
/// tokenizer) or a single GGUF file.
public enum ModelSource {
    case folder(URL)
    case gguf(URL)

    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError("model \(path) does not exist")
        }
        let url = URL(fileURLWithPath: path)
        if isDirectory.boolValue {
            self = .folder(url)
        } else if url.pathExtension.lowercased() == "gguf" {
            self = .gguf(url)
        } else {
            throw ModelError("model \(path) is a file but not a .gguf file; give an HF model folder or a GGUF file")
        }
    }

    public var url: URL {
        switch self {
        case .folder(let url), .gguf(let url): return url
        }
    }

    /// The architecture, without loading the weights.
    public func config() throws -> MistralConfig {
        switch self {
        case .folder(let url): return try MistralConfig(contentsOf: url.appendingPathComponent("config.json"))
        case .gguf(let url): return try MistralConfig(gguf: try GGUFFile(url: url))
        }
    }

    /// The model with its frozen matrices stored as `dtype`.
    public func load(dtype: DType = .float32) throws -> Mistral {
        switch self {
        case .folder(let url): return try Mistral.load(directory: url, dtype: dtype)
        case .gguf(let url): return try Mistral.load(gguf: url, dtype: dtype)
        }
    }

    public func tokenizer() throws -> Tokenizer {
        switch self {
        case .folder(let url): return try Tokenizer.load(modelDirectory: url)
        case .gguf(let url): return try Tokenizer(gguf: try GGUFFile(url: url))
        }
    }
}
