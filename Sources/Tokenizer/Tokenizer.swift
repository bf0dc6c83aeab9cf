import Foundation

/// A BPE tokenizer of one of two families:
///
/// - SentencePiece BPE with byte fallback (Mistral), read from a SentencePiece `tokenizer.model`
///   or a Hugging Face `tokenizer.json` with a Metaspace pre-tokenizer. With a `tokenizer.model`,
///   `encode` and `decode` give exactly what the `sentencepiece` Python package (0.2) gives. With
///   a `tokenizer.json`, `encode` gives what the `tokenizers` library gives for text without
///   added-token strings (those are left as text here, as SentencePiece leaves them), and
///   `decode` follows SentencePiece.
/// - GPT-2-style byte-level BPE (SmolLM2), read from a `tokenizer.json` with a ByteLevel
///   pre-tokenizer or built from GGUF metadata (`init(byteLevelTokens:...)`). `encode` gives the
///   ids of the `tokenizers` library, added tokens such as `<|im_start|>` in the text included,
///   and `decode` its text (special tokens written out, invalid UTF-8 as U+FFFD).
public final class Tokenizer: Sendable {
    /// The id that starts a sequence when `encode` is asked for one; nil when the model's
    /// sequences start without one (SmolLM2: `add_bos_token` is false).
    public let bosId: Int32?
    public let eosId: Int32
    /// The id of unknown text, if the tokenizer names one (byte-level BPE never needs it).
    public let unkId: Int32?
    private let encoder: TokenizerDefinition.Encoder
    private let pieces: [String]
    private let pieceIds: [String: Int32]
    let decoding: PieceDecoding

    public var vocabularySize: Int { pieces.count }

    /// Loads a SentencePiece `tokenizer.model` or a Hugging Face `tokenizer.json` (told apart
    /// by content, not by name).
    public convenience init(contentsOf url: URL) throws {
        let path = url.path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw TokenizerError(path: path, problem: "the file does not exist")
        }
        guard !isFolder.boolValue else {
            throw TokenizerError(path: path, problem: "it is a folder, not a tokenizer.model or tokenizer.json file")
        }
        // Checked before reading: Foundation leaks the buffer it allocates for an empty file
        // (found by Fuzz/TokenizerModel under AddressSanitizer).
        guard (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) != 0 else {
            throw TokenizerError(path: path, problem: "the file is empty")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(path: path, problem: "the file cannot be read")
        }
        let firstByte = data.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        let definition = firstByte == UInt8(ascii: "{")
            ? try HuggingFaceTokenizerFile.definition(data: data, path: path)
            : try TokenizerDefinition(sentencePiece: SentencePieceModel(data: [UInt8](data), path: path))
        try self.init(definition: definition, path: path)
    }

    init(definition: TokenizerDefinition, path: String) throws {
        var pieceIds: [String: Int32] = [:]
        pieceIds.reserveCapacity(definition.pieces.count)
        // As SentencePiece's PieceToId: control, unknown and byte pieces win a name clash.
        let isReserved = definition.types.map { [.control, .unknown, .byte].contains($0) }
        for pass in [false, true] {
            for (id, piece) in definition.pieces.enumerated() where isReserved[id] == pass { pieceIds[piece] = Int32(id) }
        }
        switch definition.specialTokens {
        case .pieces(let bos, let eos):
            func controlId(_ piece: String, _ role: String) throws -> Int32 {
                guard let id = pieceIds[piece], definition.types[Int(id)] == .control else {
                    throw TokenizerError(path: path, problem: "it has no \(role) token \"\(piece)\"")
                }
                return id
            }
            bosId = try controlId(bos, "beginning-of-sequence")
            eosId = try controlId(eos, "end-of-sequence")
        case .ids(let bos, let eos):
            bosId = bos
            eosId = eos
        }
        unkId = definition.unkId
        encoder = definition.encoder
        pieces = definition.pieces
        self.pieceIds = pieceIds
        decoding = PieceDecoding(definition: definition)
    }

    /// Loads the tokenizer of a Hugging Face model folder, preferring `tokenizer.model`
    /// over `tokenizer.json`.
    public static func load(modelDirectory: URL) throws -> Tokenizer {
        for name in ["tokenizer.model", "tokenizer.json"] {
            let url = modelDirectory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return try Tokenizer(contentsOf: url) }
        }
        throw TokenizerError(path: modelDirectory.path, problem: "the folder has neither tokenizer.model nor tokenizer.json")
    }

    /// The ids of `text`, after the beginning-of-sequence id when `addBOS` is set and the
    /// tokenizer has one (`bosId`).
    public func encode(_ text: String, addBOS: Bool) -> [Int32] {
        var ids: [Int32] = addBOS ? bosId.map { [$0] } ?? [] : []
        switch encoder {
        case .sentencePiece(let bpe): bpe.encode(text, into: &ids)
        case .huggingFace(let bpe): bpe.encode(text, into: &ids)
        case .byteLevel(let bpe): bpe.encode(text, into: &ids)
        }
        return ids
    }

    /// The text of `ids`. SentencePiece tokenizers decode as SentencePiece does: control tokens
    /// vanish, the dummy-prefix space is dropped once at the start, byte pieces are reassembled
    /// into UTF-8 (U+FFFD for each byte of an invalid sequence), and unknown or out-of-range ids
    /// read " ⁇ ". Byte-level tokenizers decode as `tokenizers` does: the bytes of all pieces,
    /// special ones included, read as UTF-8 with U+FFFD for each maximal invalid sequence;
    /// out-of-range ids are skipped.
    public func decode(_ ids: [Int32]) -> String {
        var decoder = StreamingDecoder(tokenizer: self)
        var text = ""
        for id in ids { text += decoder.append(id) }
        return text + decoder.finish()
    }

    public func piece(for id: Int32) -> String? {
        pieces.indices.contains(Int(id)) ? pieces[Int(id)] : nil
    }

    public func id(for piece: String) -> Int32? {
        pieceIds[piece]
    }
}

/// Everything a tokenizer file says, in the form `Tokenizer` is built from.
struct TokenizerDefinition {
    enum Encoder {
        case sentencePiece(SentencePieceBPE)
        case huggingFace(HuggingFaceBPE)
        case byteLevel(ByteLevelBPE)
    }

    /// How the beginning- and end-of-sequence tokens are named: by piece (which must be a
    /// control piece) or by id, already checked.
    enum SpecialTokens {
        case pieces(bos: String, eos: String)
        case ids(bos: Int32?, eos: Int32)
    }

    var pieces: [String]
    var types: [SentencePieceModel.PieceType]
    var encoder: Encoder
    var unkId: Int32?
    var specialTokens: SpecialTokens
    var unkSurface: String
    /// Whether decoding drops the space that the encoder's dummy prefix added.
    var stripsDummyPrefix: Bool
    var removesExtraWhitespaces: Bool
}

extension TokenizerDefinition {
    init(sentencePiece model: SentencePieceModel) {
        let encoder = SentencePieceBPE(model: model)
        self.init(
            pieces: model.pieces.map(\.text), types: model.pieces.map(\.type), encoder: .sentencePiece(encoder),
            unkId: encoder.unkId, specialTokens: .pieces(bos: model.bosPiece, eos: model.eosPiece),
            unkSurface: model.unkSurface,
            stripsDummyPrefix: model.addDummyPrefix || model.removeExtraWhitespaces,
            removesExtraWhitespaces: model.removeExtraWhitespaces)
    }
}
