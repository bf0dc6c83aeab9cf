import Foundation

/// The byte-level BPE files among Hugging Face `tokenizer.json`s: a ByteLevel pre-tokenizer
/// (alone, or after Digits with individual digits) and a ByteLevel decoder.
extension HuggingFaceTokenizerFile {
    /// Whether a supported byte-level pre-tokenizer splits digits first; nil for a pre-tokenizer
    /// without ByteLevel (the SentencePiece-style files).
    static func byteLevelSplitsDigits(_ preTokenizer: PreTokenizerJSON, failure: (String) -> TokenizerError) throws -> Bool? {
        func check(_ byteLevel: PreTokenizerJSON) throws {
            // The defaults of `tokenizers` for a ByteLevel without these keys.
            if byteLevel.addPrefixSpace ?? true {
                throw failure("its ByteLevel pre-tokenizer adds a prefix space, which is not supported")
            }
            if !(byteLevel.useRegex ?? true) {
                throw failure("its ByteLevel pre-tokenizer does not split with the GPT-2 pattern (use_regex), which is not supported")
            }
        }
        switch preTokenizer.type {
        case "ByteLevel":
            try check(preTokenizer)
            return false
        case "Sequence":
            let parts = preTokenizer.pretokenizers ?? []
            guard parts.contains(where: { $0.type == "ByteLevel" }) else { return nil }
            guard parts.count == 2, parts[0].type == "Digits", parts[0].individualDigits == true, parts[1].type == "ByteLevel" else {
                let names = parts.map(\.type).joined(separator: ", ")
                throw failure("its pre-tokenizer sequence [\(names)] is not supported (ByteLevel, or Digits with individual digits then ByteLevel, are)")
            }
            try check(parts[1])
            return true
        default:
            return nil
        }
    }

    static func byteLevelDefinition(
        _ file: File, pieces: [String], vocabulary: PieceTable, merges: RankedMerges, splitsDigits: Bool,
        path: String, failure: (String) -> TokenizerError
    ) throws -> TokenizerDefinition {
        if let normalizer = file.normalizer {
            throw failure("its normalizer \(normalizer.type) before a ByteLevel pre-tokenizer is not supported")
        }
        if file.model.ignoreMerges == true {
            throw failure("model.ignore_merges is not supported with a ByteLevel pre-tokenizer")
        }
        guard let decoder = file.decoder?.type, decoder == "ByteLevel" else {
            throw failure("its decoder \(file.decoder?.type ?? "(none)") is not supported with a ByteLevel pre-tokenizer (only ByteLevel is)")
        }
        var types = [SentencePieceModel.PieceType](repeating: .normal, count: pieces.count)
        for token in file.addedTokens ?? [] {
            let name = "added token \(token.id)"
            guard pieces.indices.contains(token.id), token.content == pieces[token.id] else {
                throw failure("\(name) is not the vocabulary's piece of that id")
            }
            if token.lstrip == true || token.rstrip == true || token.singleWord == true {
                throw failure("\(name) (\"\(pieces[token.id])\") strips spaces or matches single words, which is not supported")
            }
            types[token.id] = token.special == true ? .control : .userDefined
        }
        let unkId = try file.model.unkToken.map { token in
            guard let id = vocabulary.id(of: token) else { throw failure("model.unk_token \"\(token)\" is not in the vocabulary") }
            return id
        }
        let bosId = try file.postProcessor.flatMap { try beginningOfSequence($0, failure: failure) }
        let eosId = try endOfSequence(path: path, vocabulary: vocabulary, failure: failure)
        return TokenizerDefinition(
            byteLevelPieces: pieces, types: types, vocabulary: vocabulary, merges: merges, splitsDigits: splitsDigits,
            bosId: bosId.map(Int32.init), eosId: eosId, unkId: unkId, unknownByte: unkId,
            fusesUnknown: file.model.fuseUnknown ?? false)
    }

    /// The id that the post-processor puts before a single sequence, if any.
    private static func beginningOfSequence(_ processor: PostProcessorJSON, failure: (String) -> TokenizerError) throws -> Int? {
        switch processor.type {
        case "ByteLevel":
            return nil
        case "Sequence":
            let ids = try (processor.processors ?? []).compactMap { try beginningOfSequence($0, failure: failure) }
            guard ids.count <= 1 else { throw failure("its post-processors add more than one beginning-of-sequence token") }
            return ids.first
        case "TemplateProcessing":
            let items = processor.single ?? []
            guard let last = items.last, last.sequence != nil, items.count <= 2 else {
                throw failure("its post-processor template adds tokens after the text, which is not supported")
            }
            guard items.count == 2 else { return nil }
            guard let name = items[0].specialToken?.id, let ids = processor.specialTokens?[name]?.ids, ids.count == 1 else {
                throw failure("its post-processor template starts with a token it does not define as one special token")
            }
            return ids[0]
        default:
            throw failure("its post-processor \(processor.type) is not supported with a ByteLevel pre-tokenizer")
        }
    }

    /// `eos_token` of the `tokenizer_config.json` beside the file, as transformers reads it; GPT-2's
    /// `<|endoftext|>` without one.
    private static func endOfSequence(path: String, vocabulary: PieceTable, failure: (String) -> TokenizerError) throws -> Int32 {
        struct Config: Decodable {
            struct TokenName: Decodable {
                var content: String

                init(from decoder: Decoder) throws {
                    if let text = try? decoder.singleValueContainer().decode(String.self) {
                        content = text
                    } else {
                        content = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .content)
                    }
                }

                enum CodingKeys: String, CodingKey {
                    case content
                }
            }

            var eosToken: TokenName?

            enum CodingKeys: String, CodingKey {
                case eosToken = "eos_token"
            }
        }
        let configURL = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            guard let id = vocabulary.id(of: "<|endoftext|>") else {
                throw failure("it has no \"<|endoftext|>\" and no tokenizer_config.json beside it names an eos_token")
            }
            return id
        }
        let configFailure = { (problem: String) in TokenizerError(path: configURL.path, problem: problem) }
        guard let config = try? JSONDecoder().decode(Config.self, from: data) else {
            throw configFailure("it is not a JSON object whose eos_token is a string or has a content string")
        }
        guard let name = config.eosToken?.content else { throw configFailure("it names no eos_token") }
        guard let id = vocabulary.id(of: name) else { throw configFailure("its eos_token \"\(name)\" is not in the vocabulary of \(path)") }
        return id
    }
}
