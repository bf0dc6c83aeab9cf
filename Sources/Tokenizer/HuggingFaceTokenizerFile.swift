import Foundation

/// Reads a Hugging Face `tokenizer.json` with a BPE model into a `TokenizerDefinition`.
///
/// Decoded with `JSONDecoder`: on Linux, `JSONSerialization` drops a leading U+FEFF from
/// strings, which loses the vocabulary's byte-order-mark piece.
enum HuggingFaceTokenizerFile {
    struct File: Decodable {
        var model: Model
        var addedTokens: [AddedToken]?
        var normalizer: NormalizerJSON?
        var preTokenizer: PreTokenizerJSON?
        var postProcessor: PostProcessorJSON?
        var decoder: DecoderJSON?

        enum CodingKeys: String, CodingKey {
            case model, normalizer, decoder
            case addedTokens = "added_tokens", preTokenizer = "pre_tokenizer", postProcessor = "post_processor"
        }
    }

    struct Model: Decodable {
        var type: String?
        var vocab: [String: Int]?
        var merges: [Merge]?
        var byteFallback: Bool?
        var fuseUnknown: Bool?
        var unkToken: String?
        var ignoreMerges: Bool?
        var dropout: Double?
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, dropout
            case byteFallback = "byte_fallback", fuseUnknown = "fuse_unk", unkToken = "unk_token"
            case ignoreMerges = "ignore_merges", continuingSubwordPrefix = "continuing_subword_prefix"
            case endOfWordSuffix = "end_of_word_suffix"
        }
    }

    /// A merge as a `"left right"` string (the legacy form) or a `[left, right]` pair.
    struct Merge: Decodable {
        var parts: [String]

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                parts = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = try container.decode([String].self)
            }
        }
    }

    struct AddedToken: Decodable {
        var id: Int
        var content: String?
        var special: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var singleWord: Bool?

        enum CodingKeys: String, CodingKey {
            case id, content, special, lstrip, rstrip
            case singleWord = "single_word"
        }
    }

    struct NormalizerJSON: Decodable {
        struct Pattern: Decodable {
            var string: String?

            enum CodingKeys: String, CodingKey {
                case string = "String"
            }
        }

        var type: String
        var normalizers: [NormalizerJSON]?
        var prepend: String?
        var pattern: Pattern?
        var content: String?
    }

    struct PreTokenizerJSON: Decodable {
        var type: String
        var replacement: String?
        var prependScheme: String?
        var addPrefixSpace: Bool?
        var split: Bool?
        var useRegex: Bool?
        var individualDigits: Bool?
        var pretokenizers: [PreTokenizerJSON]?

        enum CodingKeys: String, CodingKey {
            case type, replacement, split, pretokenizers
            case prependScheme = "prepend_scheme", addPrefixSpace = "add_prefix_space"
            case useRegex = "use_regex", individualDigits = "individual_digits"
        }
    }

    struct PostProcessorJSON: Decodable {
        /// One item of a template: `{"SpecialToken": {"id": "<s>"}}` or `{"Sequence": {"id": "A"}}`.
        struct TemplateItem: Decodable {
            struct Name: Decodable {
                var id: String
            }

            var specialToken: Name?
            var sequence: Name?

            enum CodingKeys: String, CodingKey {
                case specialToken = "SpecialToken", sequence = "Sequence"
            }
        }

        struct SpecialToken: Decodable {
            var ids: [Int]
        }

        var type: String
        var single: [TemplateItem]?
        var specialTokens: [String: SpecialToken]?
        var processors: [PostProcessorJSON]?

        enum CodingKeys: String, CodingKey {
            case type, single, processors
            case specialTokens = "special_tokens"
        }
    }

    struct DecoderJSON: Decodable {
        var type: String
    }

    static func definition(data: Data, path: String) throws -> TokenizerDefinition {
        func failure(_ problem: String) -> TokenizerError { TokenizerError(path: path, problem: problem) }

        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw failure("\((context.codingPath + [key]).map(\.stringValue).joined(separator: ".")) is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw failure("\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw failure("it is not a valid JSON tokenizer file")
        }
        let model = file.model
        let modelType = model.type ?? "none"
        guard modelType == "BPE" else { throw failure("its model type is \(modelType), but only BPE is supported") }
        if !(model.continuingSubwordPrefix ?? "").isEmpty || !(model.endOfWordSuffix ?? "").isEmpty {
            throw failure("subword prefixes and word suffixes are not supported")
        }
        if (model.dropout ?? 0) > 0 { throw failure("BPE dropout is not supported") }

        guard let vocab = model.vocab else { throw failure("model.vocab is missing") }
        var pieces = [String?](repeating: nil, count: vocab.count)
        for (piece, id) in vocab {
            guard pieces.indices.contains(id), pieces[id] == nil else {
                throw failure("the vocabulary ids are not 0 to \(vocab.count - 1), each used once (see \"\(piece)\")")
            }
            pieces[id] = piece
        }
        let vocabulary = PieceTable(pieces.enumerated().map { (key: Array($1!.utf8), id: Int32($0)) })
        guard let mergeList = model.merges else { throw failure("model.merges is missing") }
        let merges = try RankedMerges(
            mergeList.enumerated().map { rank, merge in
                guard merge.parts.count == 2 else { throw failure("merge \(rank) is not a pair of tokens") }
                return (merge.parts[0], merge.parts[1])
            },
            vocabulary: vocabulary, describe: { "merge \($0)" }, failure: failure)
        if let splitsDigits = try file.preTokenizer.flatMap({ try byteLevelSplitsDigits($0, failure: failure) }) {
            return try byteLevelDefinition(
                file, pieces: pieces.map { $0! }, vocabulary: vocabulary, merges: merges, splitsDigits: splitsDigits,
                path: path, failure: failure)
        }

        let byteFallback = model.byteFallback ?? false
        var types = [SentencePieceModel.PieceType](repeating: .normal, count: pieces.count)
        var byteIds = [Int32](repeating: -1, count: 256)
        if byteFallback {
            for (id, piece) in pieces.enumerated() {
                guard let byte = byteValue(ofPiece: piece!) else { continue }
                byteIds[Int(byte)] = Int32(id)
                types[id] = .byte
            }
        }
        for token in file.addedTokens ?? [] where token.special == true && types.indices.contains(token.id) {
            types[token.id] = .control
        }
        let modelUnkId = try model.unkToken.map { token in
            guard let id = vocabulary.id(of: token) else { throw failure("model.unk_token \"\(token)\" is not in the vocabulary") }
            return id
        }
        guard let unkId = modelUnkId ?? vocabulary.id(of: "<unk>") else {
            throw failure("it names no unknown token (model.unk_token) and has no \"<unk>\"")
        }
        types[Int(unkId)] = .unknown

        let normalizers = try file.normalizer.map { try normalizerList($0, failure: failure) } ?? []
        let metaspace = try file.preTokenizer.map { try metaspaceSettings($0, failure: failure) }
        let prependsSpaceMarker = normalizers.contains {
            if case .prepend(let prefix) = $0 { return prefix == Array("\u{2581}".utf8) }
            return false
        }
        let encoder = HuggingFaceBPE(
            vocabulary: vocabulary, merges: merges, normalizers: normalizers, metaspace: metaspace,
            byteIds: byteFallback ? byteIds : nil, unkId: modelUnkId,
            fuseUnknown: model.fuseUnknown ?? false, ignoreMerges: model.ignoreMerges ?? false)
        return TokenizerDefinition(
            pieces: pieces.map { $0! }, types: types, encoder: .huggingFace(encoder), unkId: unkId,
            specialTokens: .pieces(bos: "<s>", eos: "</s>"), unkSurface: " \u{2047} ",
            stripsDummyPrefix: prependsSpaceMarker || (metaspace.map { $0.prependScheme != .never } ?? false),
            removesExtraWhitespaces: false)
    }

    private static func normalizerList(
        _ normalizer: NormalizerJSON, failure: (String) -> TokenizerError
    ) throws -> [HuggingFaceBPE.Normalizer] {
        switch normalizer.type {
        case "Sequence":
            return try (normalizer.normalizers ?? []).flatMap { try normalizerList($0, failure: failure) }
        case "Prepend":
            guard let prefix = normalizer.prepend else { throw failure("a Prepend normalizer has no \"prepend\"") }
            return [.prepend(Array(prefix.utf8))]
        case "Replace":
            guard let pattern = normalizer.pattern?.string, !pattern.isEmpty, let content = normalizer.content else {
                throw failure("only Replace normalizers with a plain string pattern are supported")
            }
            return [.replace(pattern: Array(pattern.utf8), content: Array(content.utf8))]
        default:
            throw failure("its normalizer \(normalizer.type) is not supported (only Prepend and Replace are)")
        }
    }

    private static func metaspaceSettings(
        _ preTokenizer: PreTokenizerJSON, failure: (String) -> TokenizerError
    ) throws -> HuggingFaceBPE.Metaspace {
        guard preTokenizer.type == "Metaspace" else {
            throw failure("its pre-tokenizer \(preTokenizer.type) is not supported (only Metaspace is)")
        }
        guard let replacement = preTokenizer.replacement, !replacement.isEmpty else {
            throw failure("its Metaspace pre-tokenizer has no replacement character")
        }
        let scheme: HuggingFaceBPE.PrependScheme
        switch preTokenizer.prependScheme {
        case "always": scheme = .always
        case "first": scheme = .first
        case "never": scheme = .never
        case nil: scheme = preTokenizer.addPrefixSpace == false ? .never : .always
        case let other?: throw failure("Metaspace prepend_scheme \"\(other)\" is unknown")
        }
        return HuggingFaceBPE.Metaspace(
            replacement: Array(replacement.utf8), prependScheme: scheme, split: preTokenizer.split ?? true)
    }
}
