import Model
import Tensor

/// Rows of tokenized examples ready for the model: right-padded to the longest row, with
/// targets aligned to positions (-1 where nothing is scored). A packed row holds several
/// examples with their own segment ids and restarted positions.
public struct MicroBatch: Sendable {
    public let tokens: TokenBatch
    public let targets: [Int32]
    /// 1 at positions that predict a response token, 0 elsewhere: [rows * tokens].
    public let responseMask: [Float]
    /// Tokens scored in this micro-batch.
    public let scoredTokens: Int
    /// Real (non-padding) tokens.
    public let realTokens: Int

    static let paddingId: Int32 = 0

    public init(rows: [[TokenizedExample]], packed: Bool) {
        let width = rows.map { $0.reduce(0) { $0 + $1.ids.count } }.max() ?? 0
        var ids = [Int32](), targets = [Int32](), positions = [Int32](), segments = [Int32](), mask = [Float]()
        var scored = 0, real = 0
        for row in rows {
            var used = 0
            for (segment, example) in row.enumerated() {
                ids += example.ids
                let exampleTargets = example.targets
                targets += exampleTargets
                mask += (0..<example.ids.count).map { example.predictsResponse($0) ? 1 : 0 }
                positions += (0..<example.ids.count).map(Int32.init)
                segments += [Int32](repeating: Int32(segment), count: example.ids.count)
                scored += exampleTargets.filter { $0 >= 0 }.count
                used += example.ids.count
            }
            real += used
            let padding = width - used
            ids += [Int32](repeating: Self.paddingId, count: padding)
            targets += [Int32](repeating: -1, count: padding)
            mask += [Float](repeating: 0, count: padding)
            positions += (0..<padding).map { Int32(used + $0) }
            segments += [Int32](repeating: Int32(row.count), count: padding)
        }
        tokens = TokenBatch(ids: ids, batch: rows.count, tokens: width, positions: positions, segmentIds: packed ? segments : nil)
        self.targets = targets
        responseMask = mask
        scoredTokens = scored
        realTokens = real
    }
}

/// Which examples form each micro-batch of each epoch: a seeded shuffle per epoch, then
/// either length-grouped batches (as HF's group_by_length: windows of 50 batches sorted by
/// length, so padding stays small) or packed rows of up to `maxSeqLen` tokens.
public struct BatchPlan: Sendable {
    public let lengths: [Int]
    public let microBatchSize: Int
    public let packing: Bool
    public let maxSeqLen: Int
    public let seed: UInt64

    public init(lengths: [Int], microBatchSize: Int, packing: Bool, maxSeqLen: Int, seed: UInt64) {
        self.lengths = lengths
        self.microBatchSize = microBatchSize
        self.packing = packing
        self.maxSeqLen = maxSeqLen
        self.seed = seed
    }

    /// micro-batch -> rows -> example indices.
    public func microBatches(epoch: Int) -> [[[Int]]] {
        var generator = RandomGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
        var order = Array(lengths.indices)
        generator.shuffle(&order)
        let rows: [[Int]]
        if packing {
            var packed = [[Int]](), current = [Int](), used = 0
            for index in order {
                if used + lengths[index] > maxSeqLen && !current.isEmpty {
                    packed.append(current)
                    current = []
                    used = 0
                }
                current.append(index)
                used += lengths[index]
            }
            if !current.isEmpty { packed.append(current) }
            rows = packed
        } else {
            let window = 50 * microBatchSize
            rows = stride(from: 0, to: order.count, by: window).flatMap { start in
                order[start..<min(start + window, order.count)].sorted { lengths[$0] > lengths[$1] }.map { [$0] }
            }
        }
        return stride(from: 0, to: rows.count, by: microBatchSize).map { Array(rows[$0..<min($0 + microBatchSize, rows.count)]) }
    }
}

/// The micro-batches of the epoch in use, computed once per epoch.
final class EpochBatches {
    let plan: BatchPlan
    private var cached: (epoch: Int, batches: [[[Int]]])?

    init(_ plan: BatchPlan) { self.plan = plan }

    subscript(epoch: Int) -> [[[Int]]] {
        if let cached, cached.epoch == epoch { return cached.batches }
        let batches = plan.microBatches(epoch: epoch)
        cached = (epoch, batches)
        return batches
    }
}
