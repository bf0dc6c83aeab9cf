/// UTF-8 helpers with SentencePiece's exact rules (util.h / util.cc), shared by the encoders
/// and the decoder.
enum UTF8Rules {
    /// The length of the character that `lead` starts, judged from the lead byte alone
    /// (SentencePiece's `OneCharLen`); exact for valid UTF-8.
    @inline(__always)
    static func characterLength(lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: return 4
        case 0xE0...: return 3
        case 0xC0...: return 2
        default: return 1
        }
    }

    /// The scalar value of the valid `length`-byte character at `bytes[start...]`.
    @inline(__always)
    static func scalarValue(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int) -> UInt32 {
        var value = UInt32(bytes[start] & (length == 1 ? 0x7F : 0xFF >> (length + 1)))
        for index in (start + 1)..<(start + length) {
            value = value << 6 | UInt32(bytes[index] & 0x3F)
        }
        return value
    }

    /// The length of the valid character at `bytes[start...]`, or nil where SentencePiece's
    /// `DecodeUTF8` reports an error (it then consumes a single byte as U+FFFD).
    static func validCharacterLength(_ bytes: [UInt8], at start: Int) -> Int? {
        let available = bytes.count - start
        let lead = UInt32(bytes[start])
        func trail(_ offset: Int) -> UInt32? {
            let byte = bytes[start + offset]
            return byte & 0xC0 == 0x80 ? UInt32(byte & 0x3F) : nil
        }
        func isValidScalar(_ value: UInt32) -> Bool { value < 0xD800 || (0xE000...0x10FFFF).contains(value) }

        if lead < 0x80 { return 1 }
        if available >= 2, lead & 0xE0 == 0xC0, let b1 = trail(1) {
            let value = (lead & 0x1F) << 6 | b1
            return value >= 0x80 ? 2 : nil
        }
        if available >= 3, lead & 0xF0 == 0xE0, let b1 = trail(1), let b2 = trail(2) {
            let value = (lead & 0x0F) << 12 | b1 << 6 | b2
            return value >= 0x800 && isValidScalar(value) ? 3 : nil
        }
        if available >= 4, lead & 0xF8 == 0xF0, let b1 = trail(1), let b2 = trail(2), let b3 = trail(3) {
            let value = (lead & 0x07) << 18 | b1 << 12 | b2 << 6 | b3
            return value >= 0x10000 && isValidScalar(value) ? 4 : nil
        }
        return nil
    }

    /// Where a valid but incomplete character at the end of `bytes` starts (`bytes.count` when
    /// there is none): a lead byte followed by fewer continuation bytes than it needs, each in
    /// the range that a valid character allows there.
    static func incompleteSuffixStart(_ bytes: [UInt8]) -> Int {
        for start in stride(from: bytes.count - 1, through: max(0, bytes.count - 3), by: -1) {
            let lead = bytes[start]
            if lead < 0x80 { break }
            if lead < 0xC0 { continue }
            guard lead >= 0xC2, lead <= 0xF4, bytes.count - start < characterLength(lead: lead) else { break }
            // The second byte's range depends on the lead (no overlong forms, surrogates or values past U+10FFFF).
            let secondRange: ClosedRange<UInt8> = switch lead {
            case 0xE0: 0xA0...0xBF
            case 0xED: 0x80...0x9F
            case 0xF0: 0x90...0xBF
            case 0xF4: 0x80...0x8F
            default: 0x80...0xBF
            }
            let trail = bytes[(start + 1)...]
            let isPrefix = trail.enumerated().allSatisfy { offset, byte in
                offset == 0 ? secondRange.contains(byte) : (0x80...0xBF).contains(byte)
            }
            return isPrefix ? start : bytes.count
        }
        return bytes.count
    }
}
