import Foundation
import Model
import Tensor

/// What one optimizer step measured: its loss (normalized over the whole step), the stage's
/// metrics, and the tokens it processed.
public struct StepOutcome: Sendable {
    public var loss: Double
    public var metrics: [String: Double]
    public var tokens: Int

    public init(loss: Double = 0, metrics: [String: Double] = [:], tokens: Int = 0) {
        self.loss = loss
        self.metrics = metrics
        self.tokens = tokens
    }
}

/// The stage-specific part of training (SFT, DPO, ORPO): which micro-batches exist and how
/// a step's loss is computed. The trainer owns everything else.
public protocol TrainingObjective: AnyObject {
    /// Micro-batches of `epoch` (fixed by the seed).
    func microBatchCount(epoch: Int) -> Int
    /// Forward and backward over micro-batches `range` of `epoch`: gradients accumulate in the
    /// trained parameters, already normalized for the whole step.
    func accumulate(epoch: Int, microBatches range: Range<Int>) -> StepOutcome
    /// Metrics on the evaluation set, or nil when there is none.
    func evaluate() -> [String: Double]?
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

    public func accumulate(epoch: Int, microBatches range: Range<Int>) -> StepOutcome {
        let microBatches = epochs[epoch][range].map { rows in
            MicroBatch(rows: rows.map { $0.map { train.examples[$0] } }, packed: plan.packing)
        }
        let stepTokens = microBatches.reduce(0) { $0 + $1.scoredTokens }
        var outcome = StepOutcome()
        for batch in microBatches {
            let loss = model.logProbs(batch.tokens, targets: batch.targets).sum() * (-1 / Float(stepTokens))
            loss.backward()
            outcome.loss += Double(loss.item)
            outcome.tokens += batch.realTokens
        }
        return outcome
    }

    public func evaluate() -> [String: Double]? {
        guard let eval else { return nil }
        var total = 0.0, tokens = 0
        for batch in stride(from: 0, to: eval.examples.count, by: plan.microBatchSize) {
            let rows = eval.examples[batch..<min(batch + plan.microBatchSize, eval.examples.count)].map { [$0] }
            let microBatch = MicroBatch(rows: rows, packed: false)
            let logProbs = withoutGradients { model.logProbs(microBatch.tokens, targets: microBatch.targets) }
            for i in 0..<logProbs.count { total -= Double(logProbs.data[i]) }
            tokens += microBatch.scoredTokens
        }
        return ["eval_loss": total / Double(max(tokens, 1))]
    }
}
