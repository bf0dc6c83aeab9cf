/// GPT-2-style byte-level BPE as Hugging Face `tokenizers` runs it: added tokens are split out of
/// the text first (leftmost, then longest), every other stretch is pre-tokenized
/// (`ByteLevelPreTokenizer`), and each piece's bytes, one symbol per byte, are merged by rank.
struct ByteLevelBPE {
    let preTokenizer: ByteLevelPreTokenizer
    let merges: RankedMerges
    /// The id of the piece that stands for each byte (its `ByteLevelAlphabet` character); -1
    /// where the vocabulary has none (SmolLM2 lacks 21 bytes, among them 0x04 and 0xF1).
    let byteIds: [Int32]
    /// What a byte without a piece becomes (the BPE model's `unk_token`, fused into one per run
    /// with `fuse_unk`); without one it is dropped.
    let unknownId: Int32?
    let fusesUnknown: Bool
    let addedTokens: AddedTokenMatcher

    func encode(_ text: String, into ids: inout [Int32]) {
        var text = text
        text.withUTF8 { bytes in
            var word = BPEWord()
            var segmentStart = 0
            var position = 0
            while position < bytes.count {
                guard let (id, length) = addedTokens.match(bytes, at: position) else {
                    position += 1
                    continue
                }
                encodeSegment(bytes, segmentStart, position, &word, into: &ids)
                ids.append(id)
                position += length
                segmentStart = position
            }
            encodeSegment(bytes, segmentStart, bytes.count, &word, into: &ids)
        }
    }

    private func encodeSegment(
        _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ word: inout BPEWord, into ids: inout [Int32]
    ) {
        guard start < end else { return }
        preTokenizer.forEachPreToken(bytes, start, end) { pieceStart, pieceEnd in
            word.removeAll()
            var previousIsUnknown = false
            for index in pieceStart..<pieceEnd {
                let id = byteIds[Int(bytes[index])]
                if id >= 0 {
                    word.append(id, length: 1)
                    previousIsUnknown = false
                } else if let unknownId {
                    if fusesUnknown && previousIsUnknown {
                        word.lengths[word.lengths.count - 1] += 1
                    } else {
                        word.append(unknownId, length: 1)
                    }
                    previousIsUnknown = true
                }
            }
            merges.encode(&word, into: &ids)
        }
    }
}

/// The added tokens of a tokenizer (ChatML's `<|im_start|>`, `<|im_end|>`, ...), found in raw text
/// as Hugging Face's `AddedVocabulary` finds those that are not normalized.
struct AddedTokenMatcher {
    private let table: PieceTable
    private let isFirstByte: [Bool]

    init(_ tokens: [(content: String, id: Int32)]) {
        let tokens = tokens.filter { !$0.content.isEmpty }
        table = PieceTable(tokens.map { (key: Array($0.content.utf8), id: $0.id) })
        var isFirstByte = [Bool](repeating: false, count: 256)
        for token in tokens { isFirstByte[Int(token.content.utf8.first!)] = true }
        self.isFirstByte = isFirstByte
    }

    /// The longest added token that starts at `position`.
    @inline(__always)
    func match(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int) -> (id: Int32, length: Int)? {
        guard isFirstByte[Int(bytes[position])] else { return nil }
        for length in stride(from: min(table.maxKeyLength, bytes.count - position), to: 0, by: -1) {
            if let id = table.id(bytes, position, length) { return (id, length) }
        }
        return nil
    }
}

/// GPT-2's `bytes_to_unicode`: the printable character each byte is written as in a byte-level
/// vocabulary. Printable Latin-1 bytes stand for themselves; the 68 others, in order, for
/// U+0100 onwards (so a space is "Ġ", a newline "Ċ").
enum ByteLevelAlphabet {
    private static func isPrintable(_ value: UInt32) -> Bool {
        (0x21...0x7E).contains(value) || (0xA1...0xAC).contains(value) || (0xAE...0xFF).contains(value)
    }

    static let scalars: [Unicode.Scalar] = {
        var nextExtra: UInt32 = 0x100
        return (0..<256).map { (byte: UInt32) in
            if isPrintable(byte) { return Unicode.Scalar(byte)! }
            defer { nextExtra += 1 }
            return Unicode.Scalar(nextExtra)!
        }
    }()

    /// The bytes a byte-level piece stands for, or nil when a character is outside the alphabet.
    static func bytes(of piece: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(piece.unicodeScalars.count)
        for scalar in piece.unicodeScalars {
            guard let byte = byteValues[scalar] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static let byteValues: [Unicode.Scalar: UInt8] = Dictionary(
        uniqueKeysWithValues: scalars.enumerated().map { ($1, UInt8($0)) })
}
