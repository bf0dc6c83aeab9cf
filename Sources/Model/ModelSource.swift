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

    /// The model's own chat template (Jinja text), if it ships one: GGUF `tokenizer.chat_template`;
    /// in an HF folder `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (a
    /// string, or a list of named templates whose "default" is taken, else the first).
    public func chatTemplate() throws -> String? {
        switch self {
        case .gguf(let url): return try GGUFFile(url: url)["tokenizer.chat_template"]?.string
        case .folder(let url):
            let jinja = url.appendingPathComponent("chat_template.jinja")
            if FileManager.default.fileExists(atPath: jinja.path) {
                do { return try String(contentsOf: jinja, encoding: .utf8) } catch { throw ModelError("\(jinja.path) cannot be read as UTF-8 text") }
            }
            let config = url.appendingPathComponent("tokenizer_config.json")
            guard let data = FileManager.default.contents(atPath: config.path) else { return nil }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelError("\(config.path) is not a JSON object")
            }
            switch object["chat_template"] {
            case nil, is NSNull: return nil
            case let text as String: return text
            case let named as [[String: Any]]:
                let chosen = named.first { $0["name"] as? String == "default" } ?? named.first
                if let text = chosen?["template"] as? String { return text }
            default: break
            }
            throw ModelError("\(config.path): 'chat_template' must be a string or a list of {name, template}")
        }
    }

    public func tokenizer() throws -> Tokenizer {
        switch self {
        case .folder(let url): return try Tokenizer.load(modelDirectory: url)
        case .gguf(let url): return try Tokenizer(gguf: try GGUFFile(url: url))
        }
    }
}
