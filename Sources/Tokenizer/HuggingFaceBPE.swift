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
    /// Keyed by `left id << 32 | right id`; the value is `rank << 32 | merged id`.
    let merges: [UInt64: UInt64]
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
        var word = Word()
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
        mergeAll(&word)
        for index in word.ids.indices where word.lengths[index] > 0 { ids.append(word.ids[index]) }
    }

    private func merge(_ left: Int32, _ right: Int32) -> (rank: Int, merged: Int32)? {
        guard let value = merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] else {
            return nil
        }
        return (Int(value >> 32), Int32(truncatingIfNeeded: value))
    }

    private func mergeAll(_ word: inout Word) {
        var queue = MergeQueue(capacity: word.ids.count)
        func addCandidate(at position: Int32, _ left: Int32, _ right: Int32) {
            guard let (rank, merged) = merge(left, right) else { return }
            queue.push(MergeCandidate(score: -Float(rank), left: position, right: -1, check: merged))
        }
        for index in word.ids.indices.dropLast() {
            addCandidate(at: Int32(index), word.ids[index], word.ids[index + 1])
        }
        while let top = queue.pop() {
            let position = Int(top.left)
            let right = Int(word.next[position])
            // Stale unless the pair now at this position still merges into the same token.
            guard word.lengths[position] > 0, right >= 0,
                  merge(word.ids[position], word.ids[right])?.merged == top.check
            else { continue }
            word.ids[position] = top.check
            word.lengths[position] += word.lengths[right]
            word.lengths[right] = 0
            let after = word.next[right]
            word.next[position] = after
            if after >= 0 { word.prev[Int(after)] = top.left }
            let before = word.prev[position]
            if before >= 0 { addCandidate(at: before, word.ids[Int(before)], top.check) }
            if after >= 0 { addCandidate(at: top.left, top.check, word.ids[Int(after)]) }
        }
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

/// The symbols of one word, linked as in `word.rs`; merged-away symbols have length zero.
private struct Word {
    var ids: [Int32] = []
    var lengths: [Int] = []
    var prev: [Int32] = []
    var next: [Int32] = []

    mutating func append(_ id: Int32, length: Int) {
        if let last = next.indices.last { next[last] = Int32(ids.count) }
        prev.append(Int32(ids.count) - 1)
        next.append(-1)
        ids.append(id)
        lengths.append(length)
    }
}
