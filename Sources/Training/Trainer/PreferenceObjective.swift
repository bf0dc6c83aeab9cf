import Foundation
import Model
import Tensor

/// DPO and ORPO over preference pairs. A micro-batch runs its chosen and rejected sequences
/// as one batch (chosen rows first), like TRL's concatenated forward. Losses are means over
/// the pairs of the whole optimizer step (ORPO's NLL: per sequence or over the step's chosen
/// tokens, `NLLNormalization`).
public final class PreferenceObjective: TrainingObjective {
    public enum Loss {
        case dpo(beta: Float, type: DPOLossType, labelSmoothing: Float)
        case orpo(lambda: Float, nll: NLLNormalization)
    }

    let model: Mistral
    let train: PreferenceDataset
    let eval: PreferenceDataset?
    let plan: BatchPlan
    let loss: Loss
    private let epochs: EpochBatches
    /// Reference log-probs of the training and evaluation pairs by index, when precomputed.
    private var reference: (train: ReferenceLogProbs, eval: ReferenceLogProbs?)?

    public init(model: Mistral, train: PreferenceDataset, eval: PreferenceDataset?, plan: BatchPlan, loss: Loss) {
        self.model = model
        self.train = train
        self.eval = eval
        self.plan = plan
        epochs = EpochBatches(plan)
        self.loss = loss
    }

    /// Scores every training and evaluation pair under the reference model once
    /// (`dpo.precompute_reference`). Without adapters (full fine-tuning) the reference is the
    /// policy as it is now, before its first update, which this keeps as the reference. The
    /// processes of a data-parallel job each score every N-th micro-batch and share the table.
    public func precomputeReference(communicator: Communicator = SingleProcess()) {
        func score(_ pairs: [PreferencePair]) -> ReferenceLogProbs {
            // [chosen of every pair, rejected of every pair], zero where another process scores.
            var table = [Double](repeating: 0, count: 2 * pairs.count)
            for (index, start) in stride(from: 0, to: pairs.count, by: plan.microBatchSize).enumerated()
            where index % communicator.size == communicator.rank {
                let end = min(start + plan.microBatchSize, pairs.count)
                let scored = referenceLogProbs(Array(pairs[start..<end]))
                for i in 0..<(end - start) {
                    table[start + i] = Double(scored.chosen[i])
                    table[pairs.count + start + i] = Double(scored.rejected[i])
                }
            }
            let all = communicator.allreduceSum(table).map(Float.init)
            return ReferenceLogProbs(chosen: Array(all[..<pairs.count]), rejected: Array(all[pairs.count...]))
        }
        reference = (score(train.pairs), eval.map { score($0.pairs) })
    }

    public func microBatchCount(epoch: Int) -> Int { epochs[epoch].count }

    /// Rows [chosen..., rejected...] of some pairs.
    private func microBatch(_ pairs: [PreferencePair]) -> MicroBatch {
        MicroBatch(rows: pairs.map { [$0.chosen] } + pairs.map { [$0.rejected] }, packed: false)
    }

    /// Summed response log-probs of the chosen and rejected sequences, and the token
    /// log-probs they came from ([rows, tokens]).
    private func sequenceLogProbs(_ batch: MicroBatch) -> (chosen: Tensor, rejected: Tensor, tokens: Tensor) {
        let rows = batch.tokens.batch, n = rows / 2
        let tokens = model.logProbs(batch.tokens, targets: batch.targets).reshaped([rows, batch.tokens.tokens])
        let sums = (tokens * Tensor(batch.responseMask, shape: [rows, batch.tokens.tokens])).sum(axis: 1)
        return (sums.slice(axis: 0, 0..<n), sums.slice(axis: 0, n..<rows), tokens)
    }

    private func referenceLogProbs(_ pairs: [PreferencePair]) -> ReferenceLogProbs {
        withoutGradients {
            model.withTrainedAdaptersDisabled {
                let (chosen, rejected, _) = sequenceLogProbs(microBatch(pairs))
                return ReferenceLogProbs(chosen: chosen.scalars, rejected: rejected.scalars)
            }
        }
    }

    /// The step-normalized loss of some pairs and its metric sums; `reference` holds their
    /// precomputed reference log-probs, if any.
    private func pairLoss(
        _ pairs: [PreferencePair], reference: ReferenceLogProbs?, stepPairs: Int, stepNLLTokens: Int, metrics: inout PreferenceMetrics
    ) -> (loss: Tensor, nll: Double) {
        let batch = microBatch(pairs)
        let (chosen, rejected, tokens) = sequenceLogProbs(batch)
        let n = pairs.count
        let chosenCounts = Tensor(pairs.map { Float($0.chosen.responseLength) }, shape: [n])
        let rejectedCounts = Tensor(pairs.map { Float($0.rejected.responseLength) }, shape: [n])
        switch loss {
        case .dpo(let beta, let type, let labelSmoothing):
            let referencePairs = reference ?? referenceLogProbs(pairs)
            var referenceChosen = Tensor(referencePairs.chosen, shape: [n]), referenceRejected = Tensor(referencePairs.rejected, shape: [n])
            var policyChosen = chosen, policyRejected = rejected
            if type == .ipo {  // IPO compares per-token averages (TRL).
                policyChosen = chosen / chosenCounts
                policyRejected = rejected / rejectedCounts
                referenceChosen = referenceChosen / chosenCounts
                referenceRejected = referenceRejected / rejectedCounts
            }
            let result = dpoLoss(
                policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                referenceRejected: referenceRejected, beta: beta, type: type, labelSmoothing: labelSmoothing)
            metrics.add(chosenRewards: result.chosenRewards, rejectedRewards: result.rejectedRewards,
                        chosenLogps: chosen.scalars, rejectedLogps: rejected.scalars)
            return (result.losses.sum() * (1 / Float(stepPairs)), 0)
        case .orpo(let lambda, let normalization):
            let ratio = orpoOddsRatio(chosenAverage: chosen / chosenCounts, rejectedAverage: rejected / rejectedCounts, lambda: lambda)
            metrics.add(chosenRewards: ratio.chosenRewards, rejectedRewards: ratio.rejectedRewards,
                        chosenLogps: chosen.scalars, rejectedLogps: rejected.scalars)
            metrics.add("log_odds_ratio", sum: ratio.logSigmoidOdds.reduce(0) { $0 + Double($1) })
            metrics.add("log_odds_chosen", sum: ratio.logOdds.reduce(0) { $0 + Double($1) })
            let chosenTokens = tokens.slice(axis: 0, 0..<n)
            let nll = switch normalization {
            case .token: chosenTokens.sum() * (-1 / Float(stepNLLTokens))
            case .sequence:
                (chosenTokens.sum(axis: 1) / Tensor(pairs.map { Float(nllTokens([$0])) }, shape: [n])).sum() * (-1 / Float(stepPairs))
            }
            return (nll - ratio.terms.sum() * (1 / Float(stepPairs)), Double(nll.item))
        }
    }

    /// Tokens of the chosen sequences that ORPO's NLL covers.
    private func nllTokens(_ pairs: [PreferencePair]) -> Int {
        pairs.reduce(0) { $0 + $1.chosen.targets.filter { $0 >= 0 }.count }
    }

    public var sumNames: [String] {
        var names = PreferenceMetrics.sumNames
        if case .orpo = loss { names += PreferenceMetrics.orpoSumNames + ["nll_loss"] }
        return names
    }

    /// Means over the step's pairs; ORPO's `nll_loss` is already normalized for the step.
    public func metrics(fromSums sums: [String: Double]) -> [String: Double] {
        var metrics = PreferenceMetrics.means(sums.filter { $0.key != "nll_loss" })
        if case .orpo = loss { metrics["nll_loss"] = sums["nll_loss"] }
        return metrics
    }

    public func accumulate(epoch: Int, step range: Range<Int>, running: [Int]) -> StepOutcome {
        let batches = epochs[epoch]
        let stepPairs = range.reduce(0) { $0 + batches[$1].count }
        let stepNLLTokens = nllTokens(range.flatMap { batches[$0].map { train.pairs[$0[0]] } })
        var metrics = PreferenceMetrics()
        var outcome = StepOutcome(), nll = 0.0
        for index in running {
            let indices = batches[index].map { $0[0] }
            let pairs = indices.map { train.pairs[$0] }
            model.dropoutState?.reseed(epoch: epoch, microBatch: index)
            let (loss, batchNLL) = pairLoss(
                pairs, reference: reference?.train.subset(indices), stepPairs: stepPairs, stepNLLTokens: stepNLLTokens, metrics: &metrics)
            loss.backward()
            outcome.loss += Double(loss.item)
            outcome.tokens += pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
            nll += batchNLL
        }
        outcome.sums = metrics.sums(names: sumNames.filter { $0 != "nll_loss" })
        if case .orpo = loss { outcome.sums["nll_loss"] = nll }
        return outcome
    }

    /// The loss and NLL are normalized by the whole evaluation set, so their sums over shards
    /// are the set's values.
    public func evaluationSums(shard: Int, of shards: Int) -> [String: Double]? {
        guard let eval else { return nil }
        var metrics = PreferenceMetrics()
        let total = eval.pairs.count, tokens = nllTokens(eval.pairs)
        var lossSum = 0.0, nll = 0.0
        withoutGradients {
            for (index, start) in stride(from: 0, to: total, by: plan.microBatchSize).enumerated() where index % shards == shard {
                let indices = Array(start..<min(start + plan.microBatchSize, total))
                let (loss, batchNLL) = pairLoss(
                    indices.map { eval.pairs[$0] }, reference: reference?.eval?.subset(indices), stepPairs: total,
                    stepNLLTokens: tokens, metrics: &metrics)
                lossSum += Double(loss.item)
                nll += batchNLL
            }
        }
        var sums = metrics.sums(names: sumNames.filter { $0 != "nll_loss" })
        sums["loss"] = lossSum
        sums["nll_loss"] = nll
        return sums
    }

    public func evaluationMetrics(fromSums sums: [String: Double]) -> [String: Double] {
        var result = PreferenceMetrics.means(sums.filter { $0.key != "loss" && $0.key != "nll_loss" }, prefix: "eval_")
        result["eval_loss"] = sums["loss"]
        if case .orpo = loss { result["eval_nll_loss"] = sums["nll_loss"] }
        return result
    }
}

/// Summed response log-probs of the reference model, by pair.
struct ReferenceLogProbs {
    var chosen: [Float]
    var rejected: [Float]

    func subset(_ indices: [Int]) -> ReferenceLogProbs {
        ReferenceLogProbs(chosen: indices.map { chosen[$0] }, rejected: indices.map { rejected[$0] })
    }
}
