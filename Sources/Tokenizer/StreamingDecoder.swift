/// What decoding needs to know about each piece, computed once per tokenizer.
struct PieceDecoding {
    let types: [SentencePieceModel.PieceType]
    /// Each piece with U+2581 read as a space.
    let surfaces: [String]
    /// Whether the piece starts with U+2581, the marker of the dummy-prefix space.
    let startsWithSpaceMarker: [Bool]
    /// The byte each BYTE piece stands for (0 for other pieces).
    let byteValues: [UInt8]
    let unkSurface: String
    let stripsDummyPrefix: Bool
    let removesExtraWhitespaces: Bool
    /// For byte-level BPE, the bytes of each piece: its characters read through GPT-2's byte
    /// alphabet or, for a piece with a character outside it, its UTF-8 (as `tokenizers` does).
    let byteLevelBytes: [[UInt8]]?

    init(definition: TokenizerDefinition) {
        types = definition.types
        surfaces = definition.pieces.map { piece in
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: piece.unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 })
            return String(scalars)
        }
        startsWithSpaceMarker = definition.pieces.map { $0.unicodeScalars.first == "\u{2581}" }
        byteValues = zip(definition.pieces, definition.types).map { $1 == .byte ? byteValue(ofPiece: $0) ?? 0 : 0 }
        unkSurface = definition.unkSurface
        stripsDummyPrefix = definition.stripsDummyPrefix
        removesExtraWhitespaces = definition.removesExtraWhitespaces
        if case .byteLevel = definition.encoder {
            byteLevelBytes = definition.pieces.map { ByteLevelAlphabet.bytes(of: $0) ?? Array($0.utf8) }
        } else {
            byteLevelBytes = nil
        }
    }
}

extension Tokenizer {
    /// Decodes ids one at a time, as a generator produces them, returning the text each one
    /// completes. Byte pieces are held back until they form a whole UTF-8 character (or
    /// certainly never will), so the pieces returned, followed by `finish()`, add up to
    /// exactly `decode` of all the ids.
    public struct StreamingDecoder: Sendable {
        private let decoding: PieceDecoding
        private var pendingBytes: [UInt8] = []
        /// SentencePiece's `is_bos_ws`: whether a leading U+2581 would still be the dummy prefix.
        private var atStart = true
        private var droppedDummyPrefix = false
        private var hasText = false

        public init(tokenizer: Tokenizer) {
            decoding = tokenizer.decoding
        }

        /// The text that `id` completes; often empty while bytes of a character are pending.
        public mutating func append(_ id: Int32) -> String {
            let index = Int(id)
            if let byteLevelBytes = decoding.byteLevelBytes {
                guard byteLevelBytes.indices.contains(index) else { return "" }
                pendingBytes += byteLevelBytes[index]
                return flushByteLevel(atEnd: false)
            }
            let type = decoding.types.indices.contains(index) ? decoding.types[index] : .unknown
            if type == .byte {
                pendingBytes.append(decoding.byteValues[index])
                return flushBytes(atEnd: false)
            }
            var text = flushBytes(atEnd: true)
            if droppedDummyPrefix || hasText { atStart = false }
            droppedDummyPrefix = false
            switch type {
            case .control:
                break
            case .unknown:
                text += decoding.unkSurface
            default:
                if atStart && decoding.stripsDummyPrefix && decoding.startsWithSpaceMarker[index] {
                    text += String(decoding.surfaces[index].unicodeScalars.dropFirst())
                    // Without extra whitespace SentencePiece drops one leading space only.
                    droppedDummyPrefix = !decoding.removesExtraWhitespaces
                } else {
                    text += decoding.surfaces[index]
                }
            }
            hasText = hasText || !text.isEmpty
            return text
        }

        /// The text of byte pieces still pending at the end of the ids.
        public mutating func finish() -> String {
            decoding.byteLevelBytes == nil ? flushBytes(atEnd: true) : flushByteLevel(atEnd: true)
        }

        /// Turns the pending bytes of byte-level pieces into text as `String::from_utf8_lossy`
        /// does (one U+FFFD per maximal invalid subsequence, as Swift's own decoding), holding
        /// back a character still incomplete unless the ids have ended. Cutting before a lead
        /// byte never changes the result: no invalid subsequence extends over a lead byte.
        private mutating func flushByteLevel(atEnd: Bool) -> String {
            let cut = atEnd ? pendingBytes.count : UTF8Rules.incompleteSuffixStart(pendingBytes)
            let text = String(decoding: pendingBytes[..<cut], as: UTF8.self)
            pendingBytes.removeFirst(cut)
            return text
        }

        /// Turns the pending bytes into characters as SentencePiece does, one U+FFFD per byte
        /// that does not start a valid character; a character still incomplete waits unless
        /// the run of bytes has ended.
        private mutating func flushBytes(atEnd: Bool) -> String {
            var text = ""
            var offset = 0
            while offset < pendingBytes.count {
                let needed = UTF8Rules.characterLength(lead: pendingBytes[offset])
                if !atEnd && pendingBytes.count - offset < needed { break }
                if let length = UTF8Rules.validCharacterLength(pendingBytes, at: offset) {
                    text += String(decoding: pendingBytes[offset..<(offset + length)], as: UTF8.self)
                    offset += length
                } else {
                    text += "\u{FFFD}"
                    offset += 1
                }
            }
            pendingBytes.removeFirst(offset)
            hasText = hasText || !text.isEmpty
            return text
        }
    }
}
