import Foundation
import Model
import Tensor

/// What one optimizer step measured: its loss (normalized over the whole step), the stage's
/// metrics, and the tokens it processed. A process of a data-parallel job measures its share:
/// `sums` (keyed by the objective's `sumNames`) and the loss and tokens add up over processes,
/// and `metrics` come from the sums of all of them.
public struct StepOutcome: Sendable {
    public var loss: Double
    public var metrics: [String: Double]
    public var tokens: Int
    public var sums: [String: Double]

    public init(loss: Double = 0, metrics: [String: Double] = [:], tokens: Int = 0, sums: [String: Double] = [:]) {
        self.loss = loss
        self.metrics = metrics
        self.tokens = tokens
        self.sums = sums
    }
}

/// The stage-specific part of training (SFT, DPO, ORPO): which micro-batches exist and how
/// a step's loss is computed. The trainer owns everything else.
public protocol TrainingObjective: AnyObject {
    /// Micro-batches of `epoch` (fixed by the seed).
    func microBatchCount(epoch: Int) -> Int
    /// Forward and backward over the micro-batches `running` (some of the step's micro-batches
    /// `step` of `epoch`, the ones this process runs): gradients accumulate in the trained
    /// parameters, already normalized for the whole step (its tokens or pairs, counted from the
    /// plan). The outcome's metrics are empty; its `sums` hold every key of `sumNames`.
    func accumulate(epoch: Int, step: Range<Int>, running: [Int]) -> StepOutcome
    /// The keys of `StepOutcome.sums`, the same on every step and process.
    var sumNames: [String] { get }
    /// The logged metrics of a step from its sums over every process.
    func metrics(fromSums sums: [String: Double]) -> [String: Double]
    /// Sums over the evaluation micro-batches b with b % shards == shard (keys fixed by the
    /// objective), or nil when there is no evaluation set.
    func evaluationSums(shard: Int, of shards: Int) -> [String: Double]?
    /// The evaluation metrics from the sums of every shard.
    func evaluationMetrics(fromSums sums: [String: Double]) -> [String: Double]
}

extension TrainingObjective {
    /// The whole step `range` in this process, with its metrics.
    public func accumulate(epoch: Int, microBatches range: Range<Int>) -> StepOutcome {
        var outcome = accumulate(epoch: epoch, step: range, running: Array(range))
        outcome.metrics = metrics(fromSums: outcome.sums)
        return outcome
    }

    /// Metrics on the whole evaluation set in this process, or nil when there is none.
    public func evaluate() -> [String: Double]? {
        evaluationSums(shard: 0, of: 1).map(evaluationMetrics)
    }
}

/// Supervised fine-tuning: token-mean cross-entropy over the response tokens of the whole
/// optimizer step (summed over its micro-batches, divided by the step's response tokens).
public final class SFTObjective: TrainingObjective {
    let model: Mistral
    let train: SFTDataset
    let eval: SFTDataset?
    let plan: BatchPlan
    private let epochs: EpochBatches

    public init(model: Mistral, train: SFTDataset, eval: SFTDataset?, plan: BatchPlan) {
        self.model = model
        self.train = train
        self.eval = eval
        self.plan = plan
        epochs = EpochBatches(plan)
    }

    public func microBatchCount(epoch: Int) -> Int { epochs[epoch].count }

    public var sumNames: [String] { [] }

    public func metrics(fromSums sums: [String: Double]) -> [String: Double] { [:] }

    public func accumulate(epoch: Int, step range: Range<Int>, running: [Int]) -> StepOutcome {
        let microBatches = Dictionary(uniqueKeysWithValues: range.map { index in
            (index, MicroBatch(rows: epochs[epoch][index].map { $0.map { train.examples[$0] } }, packed: plan.packing))
        })
        let stepTokens = microBatches.values.reduce(0) { $0 + $1.scoredTokens }
        var outcome = StepOutcome()
        for index in running {
            let batch = microBatches[index]!
            model.dropoutState?.reseed(epoch: epoch, microBatch: index)
            let loss = model.logProbs(batch.tokens, targets: batch.targets).sum() * (-1 / Float(stepTokens))
            loss.backward()
            outcome.loss += Double(loss.item)
            outcome.tokens += batch.realTokens
        }
        return outcome
    }

    public func evaluationSums(shard: Int, of shards: Int) -> [String: Double]? {
        guard let eval else { return nil }
        var total = 0.0, tokens = 0
        for (index, batch) in stride(from: 0, to: eval.examples.count, by: plan.microBatchSize).enumerated() where index % shards == shard {
            let rows = eval.examples[batch..<min(batch + plan.microBatchSize, eval.examples.count)].map { [$0] }
            let microBatch = MicroBatch(rows: rows, packed: false)
            let logProbs = withoutGradients { model.logProbs(microBatch.tokens, targets: microBatch.targets) }
            for i in 0..<logProbs.count { total -= Double(logProbs.data[i]) }
            tokens += microBatch.scoredTokens
        }
        return ["nll": total, "tokens": Double(tokens)]
    }

    public func evaluationMetrics(fromSums sums: [String: Double]) -> [String: Double] {
        ["eval_loss": sums["nll"]! / max(sums["tokens"]!, 1)]
    }
}
