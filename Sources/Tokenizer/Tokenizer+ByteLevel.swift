extension Tokenizer {
    /// A GPT-2-style byte-level BPE tokenizer from the metadata of a GGUF file whose
    /// `tokenizer.ggml.model` is "gpt2": `tokenizer.ggml.tokens` (pieces by id, written in GPT-2's
    /// byte alphabet), `.merges` ("left right", by rank), `.token_type` (1 normal, 2 unknown,
    /// 3 control, 4 user-defined, 5 unused; control and user-defined tokens are found in the
    /// text as added tokens), `.bos_token_id`, `.eos_token_id`, `.unknown_token_id`,
    /// `.add_bos_token` and `.pre`: "gpt2" (the GPT-2 pattern) or "smollm" (digits one by one,
    /// then the GPT-2 pattern, as llama.cpp and SmolLM2's own tokenizer.json split).
    /// Bytes without a piece are dropped, as transformers' tokenizer from the GGUF drops them
    /// (`unknownId` is kept as `unkId` only). `source` names the file in errors.
    public convenience init(
        byteLevelTokens tokens: [String], merges: [String], tokenTypes: [Int32],
        bosId: Int32?, eosId: Int32, unknownId: Int32?, addBOS: Bool, preTokenizer: String, source: String
    ) throws {
        func failure(_ problem: String) -> TokenizerError { TokenizerError(path: source, problem: problem) }
        let splitsDigits: Bool
        switch preTokenizer {
        case "gpt2": splitsDigits = false
        case "smollm": splitsDigits = true
        default: throw failure("its pre-tokenizer (tokenizer.ggml.pre) \"\(preTokenizer)\" is not supported (gpt2 and smollm are)")
        }
        guard tokenTypes.count == tokens.count else {
            throw failure("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        let types = try tokenTypes.enumerated().map { id, type -> SentencePieceModel.PieceType in
            switch type {
            case 1, 2, 5: return .normal
            case 3: return .control
            case 4: return .userDefined
            default: throw failure("tokenizer.ggml.token_type of token \(id) is \(type), not a type of a byte-level vocabulary")
            }
        }
        for (key, id) in [("bos_token_id", addBOS ? bosId : nil), ("eos_token_id", eosId), ("unknown_token_id", unknownId)] {
            if let id, !tokens.indices.contains(Int(id)) {
                throw failure("tokenizer.ggml.\(key) \(id) is not the id of a token (there are \(tokens.count))")
            }
        }
        if addBOS && bosId == nil { throw failure("tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id") }
        let vocabulary = PieceTable(tokens.enumerated().map { (key: Array($1.utf8), id: Int32($0)) })
        let pairs = try merges.enumerated().map { rank, merge in
            let parts = merge.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw failure("tokenizer.ggml.merges entry \(rank) is not two tokens separated by a space") }
            return (left: String(parts[0]), right: String(parts[1]))
        }
        let rankedMerges = try RankedMerges(
            pairs, vocabulary: vocabulary, describe: { "tokenizer.ggml.merges entry \($0)" }, failure: failure)
        let definition = TokenizerDefinition(
            byteLevelPieces: tokens, types: types, vocabulary: vocabulary, merges: rankedMerges,
            splitsDigits: splitsDigits, bosId: addBOS ? bosId : nil, eosId: eosId, unkId: unknownId,
            unknownByte: nil, fusesUnknown: false)
        try self.init(definition: definition, path: source)
    }
}

extension TokenizerDefinition {
    /// A byte-level BPE tokenizer; control and user-defined pieces are its added tokens.
    init(
        byteLevelPieces pieces: [String], types: [SentencePieceModel.PieceType], vocabulary: PieceTable,
        merges: RankedMerges, splitsDigits: Bool, bosId: Int32?, eosId: Int32, unkId: Int32?,
        unknownByte: Int32?, fusesUnknown: Bool
    ) {
        let byteIds = ByteLevelAlphabet.scalars.map { vocabulary.id(of: String($0)) ?? -1 }
        let addedTokens = pieces.indices.filter { [.control, .userDefined].contains(types[$0]) }
            .map { (content: pieces[$0], id: Int32($0)) }
        let encoder = ByteLevelBPE(
            preTokenizer: ByteLevelPreTokenizer(splitsDigits: splitsDigits), merges: merges, byteIds: byteIds,
            unknownId: unknownByte, fusesUnknown: fusesUnknown, addedTokens: AddedTokenMatcher(addedTokens))
        self.init(
            pieces: pieces, types: types, encoder: .byteLevel(encoder), unkId: unkId,
            specialTokens: .ids(bos: bosId, eos: eosId), unkSurface: "", stripsDummyPrefix: false,
            removesExtraWhitespaces: false)
    }
}
