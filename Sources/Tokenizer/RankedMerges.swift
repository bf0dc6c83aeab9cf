/// Hugging Face `tokenizers` BPE merging (models/bpe/word.rs): the merges of a `tokenizer.json`
/// or a GGUF file ranked by position, applied lowest rank first, leftmost first among equals.
struct RankedMerges {
    /// Keyed by `left id << 32 | right id`; the value is `rank << 32 | merged id`.
    private let table: [UInt64: UInt64]

    /// The merges as pairs of pieces in rank order; a pair listed twice keeps its last rank, as
    /// the Rust `HashMap` collect does. `describe(rank)` names a merge in an error.
    init(
        _ pairs: [(left: String, right: String)], vocabulary: PieceTable,
        describe: (Int) -> String, failure: (String) -> TokenizerError
    ) throws {
        // Ranks become Float merge scores, exact below 2^24.
        guard pairs.count < 1 << 24 else { throw failure("it has more than 2^24 merges") }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(pairs.count)
        for (rank, pair) in pairs.enumerated() {
            guard let left = vocabulary.id(of: pair.left), let right = vocabulary.id(of: pair.right),
                  let merged = vocabulary.id(of: pair.left + pair.right)
            else { throw failure("\(describe(rank)) (\"\(pair.left) \(pair.right)\") uses a token missing from the vocabulary") }
            table[UInt64(left) << 32 | UInt64(right)] = UInt64(rank) << 32 | UInt64(merged)
        }
        self.table = table
    }

    private func merge(_ left: Int32, _ right: Int32) -> (rank: Int, merged: Int32)? {
        guard let value = table[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] else {
            return nil
        }
        return (Int(value >> 32), Int32(truncatingIfNeeded: value))
    }

    /// Merges the symbols of `word` until no ranked pair is left, then appends the ids of the
    /// symbols that remain.
    func encode(_ word: inout BPEWord, into ids: inout [Int32]) {
        if word.ids.count > 1 { mergeAll(&word) }
        for index in word.ids.indices where word.lengths[index] > 0 { ids.append(word.ids[index]) }
    }

    private func mergeAll(_ word: inout BPEWord) {
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
}

/// The symbols of one word, linked as in `word.rs`; merged-away symbols have length zero.
struct BPEWord {
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

    mutating func removeAll() {
        ids.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
    }
}
