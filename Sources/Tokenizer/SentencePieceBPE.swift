/// SentencePiece's BPE encoding (normalizer.cc, bpe_model.cc and the byte-fallback and
/// unknown handling of sentencepiece_processor.cc) for models with the identity normalizer.
struct SentencePieceBPE {
    /// NORMAL, USER_DEFINED and UNUSED pieces: the only ones a merge may produce.
    let mergeable: PieceTable
    /// CONTROL, UNKNOWN and BYTE pieces, which take precedence when a final symbol is named.
    let reserved: PieceTable
    /// USER_DEFINED pieces, matched (longest first) before splitting into characters and never merged.
    let userDefined: PieceTable
    let scores: [Float]
    let types: [SentencePieceModel.PieceType]
    let unkId: Int32
    /// The id of `<0xXX>` for each byte; nil without byte fallback.
    let byteIds: [Int32]?
    let hasUnusedPieces: Bool
    /// Every pair of adjacent characters (`first << 32 | second` scalar values) inside a
    /// mergeable piece; no merge joins two characters that are not such a pair.
    let adjacentCharacterPairs: Set<UInt64>
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool

    init(model: SentencePieceModel) {
        let entries = model.pieces.enumerated().map { (key: Array($1.text.utf8), id: Int32($0), type: $1.type) }
        let isMergeable: (SentencePieceModel.PieceType) -> Bool = { [.normal, .userDefined, .unused].contains($0) }
        mergeable = PieceTable(entries.filter { isMergeable($0.type) }.map { ($0.key, $0.id) })
        reserved = PieceTable(entries.filter { !isMergeable($0.type) }.map { ($0.key, $0.id) })
        userDefined = PieceTable(entries.filter { $0.type == .userDefined }.map { ($0.key, $0.id) })
        scores = model.pieces.map(\.score)
        types = model.pieces.map(\.type)
        // SentencePieceModel has checked that there is one unknown piece and, with byte
        // fallback, all 256 byte pieces.
        unkId = Int32(model.pieces.firstIndex { $0.type == .unknown }!)
        if model.byteFallback {
            var byteIds = [Int32](repeating: 0, count: 256)
            for (id, piece) in model.pieces.enumerated() where piece.type == .byte {
                byteIds[Int(byteValue(ofPiece: piece.text)!)] = Int32(id)
            }
            self.byteIds = byteIds
        } else {
            byteIds = nil
        }
        hasUnusedPieces = types.contains(.unused)
        var pairs = Set<UInt64>()
        for piece in model.pieces where isMergeable(piece.type) {
            let scalars = piece.text.unicodeScalars.map(\.value)
            for (first, second) in zip(scalars, scalars.dropFirst()) { pairs.insert(UInt64(first) << 32 | UInt64(second)) }
        }
        adjacentCharacterPairs = pairs
        addDummyPrefix = model.addDummyPrefix
        removeExtraWhitespaces = model.removeExtraWhitespaces
        escapeWhitespaces = model.escapeWhitespaces
    }

    func encode(_ text: String, into ids: inout [Int32]) {
        let normalized = normalize(text)
        normalized.withUnsafeBufferPointer { encode(normalized: $0, into: &ids) }
    }

    /// The identity normalization: an optional dummy-prefix space, optionally collapsed
    /// spaces, and spaces escaped as U+2581. Only U+0020 counts as a space.
    func normalize(_ text: String) -> [UInt8] {
        let space: [UInt8] = escapeWhitespaces ? [0xE2, 0x96, 0x81] : [0x20]
        var input = text.utf8[...]
        if removeExtraWhitespaces {
            input = input.drop { $0 == 0x20 }
        }
        guard !input.isEmpty else { return [] }
        var output: [UInt8] = []
        output.reserveCapacity(input.count + input.count / 2 + 3)
        if addDummyPrefix { output.append(contentsOf: space) }
        var previousIsSpace = removeExtraWhitespaces
        for byte in input {
            if byte == 0x20 {
                if previousIsSpace { continue }
                output.append(contentsOf: space)
                previousIsSpace = removeExtraWhitespaces
            } else {
                output.append(byte)
                previousIsSpace = false
            }
        }
        if removeExtraWhitespaces {
            while output.count >= space.count, output.suffix(space.count).elementsEqual(space) {
                output.removeLast(space.count)
            }
        }
        return output
    }

    private func encode(normalized bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int32]) {
        guard !bytes.isEmpty else { return }
        var symbols = SymbolList(capacity: bytes.count)
        var position = 0
        while position < bytes.count {
            var length = min(UTF8Rules.characterLength(lead: bytes[position]), bytes.count - position)
            var frozen = false
            if userDefined.maxKeyLength > 0 {
                for candidate in stride(from: min(userDefined.maxKeyLength, bytes.count - position), to: 0, by: -1)
                where userDefined.id(bytes, position, candidate) != nil {
                    length = candidate
                    frozen = true
                    break
                }
            }
            symbols.append(start: position, length: length, frozen: frozen)
            position += length
        }

        var queue = MergeQueue(capacity: 64)
        var reverseMerges: [Int32: (Int, Int, Int, Int)] = [:]
        func addCandidate(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0, !symbols.frozen[Int(left)], !symbols.frozen[Int(right)] else { return }
            let start = symbols.start[Int(left)]
            let leftLength = symbols.length[Int(left)]
            let size = leftLength + symbols.length[Int(right)]
            guard let id = mergeable.id(bytes, start, size) else { return }
            queue.push(MergeCandidate(score: scores[Int(id)], left: left, right: right, check: Int32(size)))
            // Remembered as SentencePiece does, for splitting UNUSED pieces back afterwards.
            if hasUnusedPieces && types[Int(id)] == .unused {
                reverseMerges[id] = (start, leftLength, start + leftLength, symbols.length[Int(right)])
            }
        }
        // No merge crosses a chunk boundary, so merging chunk by chunk keeps the queue small
        // and gives what one queue over the whole text gives.
        var chunkStart = 0
        for index in 1...symbols.count where index == symbols.count || isChunkBoundary(symbols, index, bytes) {
            for right in (chunkStart + 1)..<index {
                addCandidate(Int32(right - 1), Int32(right))
            }
            chunkStart = index
            while let top = queue.pop() {
                let left = Int(top.left)
                let right = Int(top.right)
                let leftLength = symbols.length[left]
                let rightLength = symbols.length[right]
                // Stale: one side was merged away or grew since the candidate was queued.
                if leftLength == 0 || rightLength == 0 || leftLength + rightLength != Int(top.check) { continue }
                symbols.length[left] = leftLength + rightLength
                symbols.length[right] = 0
                let after = symbols.next[right]
                symbols.next[left] = after
                if after >= 0 { symbols.prev[Int(after)] = top.left }
                addCandidate(symbols.prev[left], top.left)
                addCandidate(top.left, after)
            }
        }

        var previousIsUnknown = false
        func emit(_ start: Int, _ length: Int) {
            let id = reserved.id(bytes, start, length) ?? mergeable.id(bytes, start, length) ?? unkId
            if types[Int(id)] == .unused, let (leftStart, leftLength, rightStart, rightLength) = reverseMerges[id] {
                emit(leftStart, leftLength)
                emit(rightStart, rightLength)
                return
            }
            let isUnknown = types[Int(id)] == .unknown
            if isUnknown, let byteIds {
                for index in start..<(start + length) { ids.append(byteIds[Int(bytes[index])]) }
            } else if !(isUnknown && previousIsUnknown) {
                // A run of unknown symbols becomes one unknown id.
                ids.append(id)
            }
            previousIsUnknown = isUnknown
        }
        var index: Int32 = 0
        while index >= 0 {
            emit(symbols.start[Int(index)], symbols.length[Int(index)])
            index = symbols.next[Int(index)]
        }
    }

    /// Whether no merge can join the (still unmerged) symbols `index - 1` and `index`: a frozen
    /// symbol never merges, and a merged piece spanning the boundary would contain the two
    /// characters side by side. Never with UNUSED pieces, whose reverse merges SentencePiece
    /// records in the order of one queue over the whole text.
    private func isChunkBoundary(_ symbols: SymbolList, _ index: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if hasUnusedPieces { return false }
        if symbols.frozen[index - 1] || symbols.frozen[index] { return true }
        let left = UTF8Rules.scalarValue(bytes, symbols.start[index - 1], symbols.length[index - 1])
        let right = UTF8Rules.scalarValue(bytes, symbols.start[index], symbols.length[index])
        return !adjacentCharacterPairs.contains(UInt64(left) << 32 | UInt64(right))
    }
}

/// Symbols of the text being merged, as a doubly linked list over parallel arrays; a merged
/// symbol keeps the left index and the right one's length drops to zero.
private struct SymbolList {
    var start: [Int] = []
    var length: [Int] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var frozen: [Bool] = []

    init(capacity: Int) {
        start.reserveCapacity(capacity)
        length.reserveCapacity(capacity)
        prev.reserveCapacity(capacity)
        next.reserveCapacity(capacity)
        frozen.reserveCapacity(capacity)
    }

    var count: Int { start.count }

    mutating func append(start: Int, length: Int, frozen: Bool) {
        if let last = next.indices.last { next[last] = Int32(count) }
        prev.append(Int32(count) - 1)
        next.append(-1)
        self.start.append(start)
        self.length.append(length)
        self.frozen.append(frozen)
    }
}
