import Foundation
import Tensor

/// Per-pair losses of a preference objective with the rewards its metrics report.
public struct PreferenceLoss {
    /// [pairs]; the objective averages them over the step.
    public let losses: Tensor
    public let chosenRewards: [Float]
    public let rejectedRewards: [Float]
}

public enum DPOLossType: String, Sendable, CaseIterable {
    case sigmoid, ipo, hinge
}

/// DPO (Rafailov et al.) on sequence log-probs [pairs] of the policy and the reference (the
/// reference ones carry no gradient). With logits `d = (pi_c - ref_c) - (pi_r - ref_r)`:
/// sigmoid `-(1-e) log sigmoid(beta d) - e log sigmoid(-beta d)`, ipo `(d - 1/(2 beta))^2`
/// (callers pass per-token average log-probs for ipo, as TRL does), hinge `relu(1 - beta d)`.
/// Rewards are `beta * (pi - ref)`.
public func dpoLoss(
    policyChosen: Tensor, policyRejected: Tensor, referenceChosen: Tensor, referenceRejected: Tensor,
    beta: Float, type: DPOLossType, labelSmoothing: Float = 0
) -> PreferenceLoss {
    let chosenRatio = policyChosen - referenceChosen
    let rejectedRatio = policyRejected - referenceRejected
    let logits = chosenRatio - rejectedRatio
    let losses: Tensor
    switch type {
    case .sigmoid:
        let z = logits * beta
        losses = -(1 - labelSmoothing) * z.logSigmoid() - labelSmoothing * (-z).logSigmoid()
    case .ipo:
        losses = (logits - 1 / (2 * beta)).squared()
    case .hinge:
        losses = (1 - logits * beta).relu()
    }
    return PreferenceLoss(
        losses: losses, chosenRewards: chosenRatio.scalars.map { beta * $0 }, rejectedRewards: rejectedRatio.scalars.map { beta * $0 })
}

/// ORPO's odds-ratio term (Hong et al.) on per-token average log-probs [pairs]:
/// `log_odds = (a_c - a_r) - (log(1 - e^a_c) - log(1 - e^a_r))`, per-pair term
/// `lambda * log sigmoid(log_odds)` (the loss subtracts its mean from the NLL), rewards
/// `lambda * a`.
public struct OddsRatio {
    public let terms: Tensor
    public let logOdds: [Float]
    public let logSigmoidOdds: [Float]
    public let chosenRewards: [Float]
    public let rejectedRewards: [Float]
}

public func orpoOddsRatio(chosenAverage: Tensor, rejectedAverage: Tensor, lambda: Float) -> OddsRatio {
    let logOdds = (chosenAverage - rejectedAverage) - (chosenAverage.log1mexp() - rejectedAverage.log1mexp())
    let ratio = logOdds.logSigmoid()
    return OddsRatio(
        terms: ratio * lambda, logOdds: logOdds.scalars, logSigmoidOdds: ratio.scalars,
        chosenRewards: chosenAverage.scalars.map { lambda * $0 }, rejectedRewards: rejectedAverage.scalars.map { lambda * $0 })
}

/// Sums of the preference metrics over pairs, averaged once the step is complete.
struct PreferenceMetrics {
    private var sums = [String: Double]()
    private(set) var pairs = 0

    mutating func add(chosenRewards: [Float], rejectedRewards: [Float], chosenLogps: [Float], rejectedLogps: [Float]) {
        for i in chosenRewards.indices {
            sums["rewards/chosen", default: 0] += Double(chosenRewards[i])
            sums["rewards/rejected", default: 0] += Double(rejectedRewards[i])
            sums["rewards/margins", default: 0] += Double(chosenRewards[i] - rejectedRewards[i])
            sums["rewards/accuracies", default: 0] += chosenRewards[i] > rejectedRewards[i] ? 1 : 0
            sums["logps/chosen", default: 0] += Double(chosenLogps[i])
            sums["logps/rejected", default: 0] += Double(rejectedLogps[i])
        }
        pairs += chosenRewards.count
    }

    mutating func add(_ name: String, sum: Double) { sums[name, default: 0] += sum }

    /// A reward model's pairs: `rewards/chosen`, `rewards/rejected`, `accuracy` (share with
    /// chosen > rejected) and `margin` (chosen - rejected), as TRL's RewardTrainer logs them.
    mutating func add(chosenRewards: [Float], rejectedRewards: [Float]) {
        for (chosen, rejected) in zip(chosenRewards, rejectedRewards) {
            sums["rewards/chosen", default: 0] += Double(chosen)
            sums["rewards/rejected", default: 0] += Double(rejected)
            sums["accuracy", default: 0] += chosen > rejected ? 1 : 0
            sums["margin", default: 0] += Double(chosen - rejected)
        }
        pairs += chosenRewards.count
    }

    /// The metrics every preference loss sums, and the ones only ORPO adds (`add(_:sum:)`).
    static let sumNames = ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected", "pairs"]
    static let orpoSumNames = ["log_odds_ratio", "log_odds_chosen"]
    /// A reward model's (`add(chosenRewards:rejectedRewards:)`).
    static let rewardSumNames = ["rewards/chosen", "rewards/rejected", "accuracy", "margin", "pairs"]

    /// The sums of `names` (zero when nothing was added), the pair count under "pairs": what
    /// the processes of a data-parallel job add up.
    func sums(names: [String]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, $0 == "pairs" ? Double(pairs) : sums[$0] ?? 0) })
    }

    /// Every metric as a mean over the pairs its "pairs" sum counts; `prefix` names evaluation
    /// metrics.
    static func means(_ sums: [String: Double], prefix: String = "") -> [String: Double] {
        let pairs = max(sums["pairs"] ?? 0, 1)
        return Dictionary(uniqueKeysWithValues: sums.filter { $0.key != "pairs" }.map { (prefix + $0.key, $0.value / pairs) })
    }
}

/// How ORPO's NLL term averages over an optimizer step.
public enum NLLNormalization: String, Sendable, CaseIterable {
    /// Each chosen sequence's token mean, averaged over the step's pairs: TRL's ORPOTrainer
    /// (token mean within a micro-batch, micro-batches averaged) at the paper's micro-batch 1.
    case sequence
    /// The token mean over every chosen token of the step (long answers weigh more).
    case token
}
