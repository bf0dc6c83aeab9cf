import Foundation
import Model
import Tensor

/// A reward model over preference pairs (`stage: rm`): the model's reward head scores the last
/// token (EOS) of each chosen and rejected sequence, run as one batch (chosen rows first, as
/// TRL's RewardTrainer collates them), and `rewardLoss` is averaged over the pairs of the step.
public final class RewardObjective: TrainingObjective {
    let model: Mistral
    let train: PreferenceDataset
    let eval: PreferenceDataset?
    let plan: BatchPlan
    let margin: Float
    let centerCoefficient: Float?
    private let epochs: EpochBatches

    public init(model: Mistral, train: PreferenceDataset, eval: PreferenceDataset?, plan: BatchPlan, margin: Float, centerCoefficient: Float?) {
        self.model = model
        self.train = train
        self.eval = eval
        self.plan = plan
        self.margin = margin
        self.centerCoefficient = centerCoefficient
        epochs = EpochBatches(plan)
    }

    public func microBatchCount(epoch: Int) -> Int { epochs[epoch].count }

    /// The step-normalized loss of some pairs, their metrics added to `metrics`.
    private func pairLoss(_ pairs: [PreferencePair], stepPairs: Int, metrics: inout PreferenceMetrics) -> Tensor {
        let rows = pairs.map(\.chosen) + pairs.map(\.rejected)
        let batch = MicroBatch(rows: rows.map { [$0] }, packed: false)
        let rewards = model.rewards(batch.tokens, lastTokens: rows.map { $0.ids.count - 1 })
        let n = pairs.count
        let chosen = rewards.slice(axis: 0, 0..<n), rejected = rewards.slice(axis: 0, n..<2 * n)
        metrics.add(chosenRewards: chosen.scalars, rejectedRewards: rejected.scalars)
        let losses = rewardLoss(chosen: chosen, rejected: rejected, margin: margin, centerCoefficient: centerCoefficient)
        return losses.sum() * (1 / Float(stepPairs))
    }

    public var sumNames: [String] { PreferenceMetrics.rewardSumNames }

    public func metrics(fromSums sums: [String: Double]) -> [String: Double] { PreferenceMetrics.means(sums) }

    public func accumulate(epoch: Int, step range: Range<Int>, running: [Int]) -> StepOutcome {
        let batches = epochs[epoch]
        let stepPairs = range.reduce(0) { $0 + batches[$1].count }
        var metrics = PreferenceMetrics()
        var outcome = StepOutcome()
        for index in running {
            let pairs = batches[index].map { train.pairs[$0[0]] }
            model.dropoutState?.reseed(epoch: epoch, microBatch: index)
            let loss = pairLoss(pairs, stepPairs: stepPairs, metrics: &metrics)
            loss.backward()
            outcome.loss += Double(loss.item)
            outcome.tokens += pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
        }
        outcome.sums = metrics.sums(names: sumNames)
        return outcome
    }

    /// The loss is normalized by the whole evaluation set, so its sum over shards is the set's.
    public func evaluationSums(shard: Int, of shards: Int) -> [String: Double]? {
        guard let eval else { return nil }
        var metrics = PreferenceMetrics()
        var lossSum = 0.0
        withoutGradients {
            for (index, start) in stride(from: 0, to: eval.pairs.count, by: plan.microBatchSize).enumerated() where index % shards == shard {
                let pairs = Array(eval.pairs[start..<min(start + plan.microBatchSize, eval.pairs.count)])
                lossSum += Double(pairLoss(pairs, stepPairs: eval.pairs.count, metrics: &metrics).item)
            }
        }
        var sums = metrics.sums(names: sumNames)
        sums["loss"] = lossSum
        return sums
    }

    public func evaluationMetrics(fromSums sums: [String: Double]) -> [String: Double] {
        var result = PreferenceMetrics.means(sums.filter { $0.key != "loss" }, prefix: "eval_")
        result["eval_loss"] = sums["loss"]
        return result
    }
}
