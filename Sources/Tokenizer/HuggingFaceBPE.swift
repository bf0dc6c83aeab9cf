/// Hugging Face `tokenizers` BPE (models/bpe/model.rs and word.rs) behind the `Prepend` /
/// `Replace` normalizers and the `Metaspace` pre-tokenizer that Llama and Mistral
/// `tokenizer.json` files use. Added tokens are not searched for in the text, as
/// SentencePiece does not: a literal "</s>" in a document stays text.
struct HuggingFaceBPE {
    enum Normalizer {
        case prepend([UInt8])
        case replace(pattern: [UInt8], content: [UInt8])
    }

    enum PrependScheme {
        case always, first, never
    }

    struct Metaspace {
        var replacement: [UInt8]
        var prependScheme: PrependScheme
        var split: Bool
    }

    let vocabulary: PieceTable
    let merges: RankedMerges
    let normalizers: [Normalizer]
    let metaspace: Metaspace?
    /// The id of `<0xXX>` for each byte (-1 where absent); nil without byte fallback.
    let byteIds: [Int32]?
    let unkId: Int32?
    let fuseUnknown: Bool
    let ignoreMerges: Bool

    func encode(_ text: String, into ids: inout [Int32]) {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return }
        for normalizer in normalizers {
            switch normalizer {
            case .prepend(let prefix): if !bytes.isEmpty { bytes.insert(contentsOf: prefix, at: 0) }
            case .replace(let pattern, let content): bytes = Self.replacing(pattern, with: content, in: bytes)
            }
        }
        guard !bytes.isEmpty else { return }
        var wordStarts = [0]
        if let metaspace {
            bytes = Self.replacing([0x20], with: metaspace.replacement, in: bytes)
            // With no added tokens split off, the one section always starts the text, so
            // `first` prepends exactly like `always`.
            if metaspace.prependScheme != .never && !bytes.starts(with: metaspace.replacement) {
                bytes.insert(contentsOf: metaspace.replacement, at: 0)
            }
            if metaspace.split {
                wordStarts = Self.occurrences(of: metaspace.replacement, in: bytes).filter { $0 > 0 }
                wordStarts.insert(0, at: 0)
            }
        }
        bytes.withUnsafeBufferPointer { buffer in
            for (index, start) in wordStarts.enumerated() {
                let end = index + 1 < wordStarts.count ? wordStarts[index + 1] : buffer.count
                if start < end { encodeWord(buffer, start, end, into: &ids) }
            }
        }
    }

    private func encodeWord(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into ids: inout [Int32]) {
        if ignoreMerges, let id = vocabulary.id(bytes, start, end - start) {
            ids.append(id)
            return
        }
        var word = BPEWord()
        var pendingUnknown: (id: Int32, length: Int)?
        var position = start
        while position < end {
            let length = min(UTF8Rules.characterLength(lead: bytes[position]), end - position)
            defer { position += length }
            if let id = vocabulary.id(bytes, position, length) {
                if let unknown = pendingUnknown {
                    word.append(unknown.id, length: unknown.length)
                    pendingUnknown = nil
                }
                word.append(id, length: length)
                continue
            }
            if let byteIds, (position..<(position + length)).allSatisfy({ byteIds[Int(bytes[$0])] >= 0 }) {
                for index in position..<(position + length) { word.append(byteIds[Int(bytes[index])], length: 1) }
                continue
            }
            guard let unkId else { continue }
            if let unknown = pendingUnknown {
                if fuseUnknown {
                    pendingUnknown = (unknown.id, unknown.length + length)
                    continue
                }
                word.append(unknown.id, length: unknown.length)
            }
            pendingUnknown = (unkId, length)
        }
        if let unknown = pendingUnknown { word.append(unknown.id, length: unknown.length) }
        merges.encode(&word, into: &ids)
    }

    private static func occurrences(of pattern: [UInt8], in bytes: [UInt8]) -> [Int] {
        var result: [Int] = []
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                result.append(index)
                index += pattern.count
            } else {
                index += 1
            }
        }
        return result
    }

    private static func replacing(_ pattern: [UInt8], with content: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var copied = 0
        for index in occurrences(of: pattern, in: bytes) {
            result.append(contentsOf: bytes[copied..<index])
            result.append(contentsOf: content)
            copied = index + pattern.count
        }
        result.append(contentsOf: bytes[copied...])
        return result
    }
}
