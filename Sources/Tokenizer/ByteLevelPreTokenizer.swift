/// The pre-tokenizer of GPT-2-style byte-level BPE: Hugging Face's `ByteLevel` (use_regex, no
/// prefix space), whose pattern is GPT-2's
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// matched here by hand over Unicode general categories, optionally after `Digits`
/// (individual_digits), which makes every number character a piece of its own (llama.cpp's
/// "smollm" pre-tokenizer, the original SmolLM2 tokenizer.json).
struct ByteLevelPreTokenizer {
    let splitsDigits: Bool

    private enum CharacterClass: UInt8 {
        case whitespace, letter, number, other
    }

    /// Calls `body` with the byte range of each pre-token of the valid UTF-8 `bytes[start..<end]`.
    func forEachPreToken(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ body: (Int, Int) -> Void) {
        // Character i spans bytes offsets[i] ..< offsets[i + 1].
        var classes: [CharacterClass] = []
        var offsets: [Int] = []
        classes.reserveCapacity(end - start)
        offsets.reserveCapacity(end - start + 1)
        var position = start
        while position < end {
            let length = UTF8Rules.characterLength(lead: bytes[position])
            offsets.append(position)
            classes.append(Self.classify(bytes, position, length))
            position += length
        }
        offsets.append(end)
        classes.withUnsafeBufferPointer { classes in
            func regexPieces(_ low: Int, _ high: Int) {
                var index = low
                while index < high {
                    let length = matchLength(classes, bytes, offsets, index, high)
                    body(offsets[index], offsets[index + length])
                    index += length
                }
            }
            guard splitsDigits else { return regexPieces(0, classes.count) }
            var low = 0
            for index in classes.indices where classes[index] == .number {
                regexPieces(low, index)
                body(offsets[index], offsets[index + 1])
                low = index + 1
            }
            regexPieces(low, classes.count)
        }
    }

    /// The number of characters the GPT-2 pattern matches at `index`, looking no further than
    /// `high` (the end of the text or of the piece between digits).
    private func matchLength(
        _ classes: UnsafeBufferPointer<CharacterClass>, _ bytes: UnsafeBufferPointer<UInt8>, _ offsets: [Int],
        _ index: Int, _ high: Int
    ) -> Int {
        // Non-ASCII characters start with a byte >= 0xC0, so comparing first bytes with ASCII is exact.
        func ascii(_ at: Int) -> UInt8 { bytes[offsets[at]] }
        if ascii(index) == UInt8(ascii: "'"), index + 1 < high {
            switch ascii(index + 1) {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"): if index + 2 < high, ascii(index + 2) == UInt8(ascii: "e") { return 3 }
            case UInt8(ascii: "l"): if index + 2 < high, ascii(index + 2) == UInt8(ascii: "l") { return 3 }
            default: break
            }
        }
        // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": one optional space, then a run of one class.
        let first = ascii(index) == 0x20 && index + 1 < high && classes[index + 1] != .whitespace ? index + 1 : index
        let runClass = classes[first]
        var next = first + 1
        while next < high, classes[next] == runClass { next += 1 }
        // "\s+(?!\S)" leaves the last whitespace before a non-space to the next match; "\s+"
        // takes a single whitespace character that the lookahead rejected.
        if runClass == .whitespace, next < high, next - index > 1 { return next - index - 1 }
        return next - index
    }

    private static func classify(_ bytes: UnsafeBufferPointer<UInt8>, _ position: Int, _ length: Int) -> CharacterClass {
        if length == 1 { return asciiClasses[Int(bytes[position])] }
        let properties = Unicode.Scalar(UTF8Rules.scalarValue(bytes, position, length))!.properties
        if properties.isWhitespace { return .whitespace }
        // `tokenizers` 0.23 (Oniguruma's and Rust's tables) knows Unicode 16.0: a character
        // assigned later is unassigned there, neither letter nor number.
        guard let age = properties.age, (age.major, age.minor) <= (16, 0) else { return .other }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    private static let asciiClasses: [CharacterClass] = (0..<128).map { value in
        switch UInt8(value) {
        case 0x09...0x0D, 0x20: .whitespace
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        default: .other
        }
    }
}
