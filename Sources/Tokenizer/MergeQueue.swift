/// A merge of two adjacent symbols that may still apply when it reaches the top of the queue.
struct MergeCandidate {
    /// Higher merges first (SentencePiece: the merged piece's score; Hugging Face: minus the rank).
    var score: Float
    /// Index of the left symbol; among equal scores the leftmost merges first.
    var left: Int32
    var right: Int32
    /// What the engine needs to tell a stale candidate (a byte length or a merged id).
    var check: Int32
}

/// A binary max-heap of merge candidates ordered by score, then leftmost position, as both
/// SentencePiece's `bpe_model.cc` and Hugging Face's `word.rs` order their agendas.
struct MergeQueue {
    private var heap: [MergeCandidate] = []

    init(capacity: Int) {
        heap.reserveCapacity(capacity)
    }

    mutating func push(_ candidate: MergeCandidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            let right = left + 1
            let best = right < heap.count && Self.precedes(heap[right], heap[left]) ? right : left
            guard Self.precedes(heap[best], heap[parent]) else { break }
            heap.swapAt(best, parent)
            parent = best
        }
        return top
    }

    private static func precedes(_ a: MergeCandidate, _ b: MergeCandidate) -> Bool {
        a.score > b.score || (a.score == b.score && a.left < b.left)
    }
}
