import Foundation
import Tensor
import Tokenizer

extension Tokenizer {
    /// The tokenizer of a GGUF file's `tokenizer.ggml.*` metadata. Facet reads the byte-level
    /// BPE of `tokenizer.ggml.model` "gpt2" (SmolLM2, Llama 3, Qwen); another model (llama.cpp's
    /// "llama" SentencePiece vocabularies among them) is an error naming it. A missing
    /// `tokenizer.ggml.pre` counts as "gpt2", as llama.cpp reads it.
    public convenience init(gguf file: GGUFFile) throws {
        let source = file.url.path
        func value(_ key: String) throws -> GGUFValue { try file.required("tokenizer.ggml.\(key)") }
        func strings(_ key: String) throws -> [String] {
            let entries = try value(key).array ?? []
            return try entries.map {
                guard let text = $0.string else { throw ModelError("\(source): tokenizer.ggml.\(key) must be an array of strings") }
                return text
            }
        }
        func id(_ key: String) throws -> Int32 {
            let value = try value(key)
            guard let number = value.integer, let id = Int32(exactly: number) else {
                throw ModelError("\(source): metadata key 'tokenizer.ggml.\(key)' must be a token id, found \(value)")
            }
            return id
        }
        func optionalId(_ key: String) throws -> Int32? { file["tokenizer.ggml.\(key)"] == nil ? nil : try id(key) }
        let model = try value("model")
        guard model.string == "gpt2" else {
            throw ModelError("\(source): tokenizer.ggml.model \(model) is not supported (Facet reads GGUF byte-level BPE, \"gpt2\")")
        }
        let typeEntries = try value("token_type").array ?? []
        let types = try typeEntries.map {
            guard let number = $0.integer, let type = Int32(exactly: number) else {
                throw ModelError("\(source): tokenizer.ggml.token_type must be an array of integers")
            }
            return type
        }
        try self.init(
            byteLevelTokens: try strings("tokens"), merges: try strings("merges"), tokenTypes: types,
            bosId: try optionalId("bos_token_id"), eosId: try id("eos_token_id"), unknownId: try optionalId("unknown_token_id"),
            addBOS: file["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            preTokenizer: file["tokenizer.ggml.pre"]?.string ?? "gpt2", source: source)
    }
}
