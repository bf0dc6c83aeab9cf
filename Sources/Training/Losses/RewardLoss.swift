import Foundation
import Tensor

/// The reward model's Bradley-Terry loss per pair on rewards [pairs], as TRL's RewardTrainer:
/// `-log sigmoid(r_c - r_r - margin)`, plus `centerCoefficient * (r_c + r_r)^2` when given
/// (TRL adds the coefficient times the batch mean of that square; the objective averages
/// these per-pair losses over the step, which is the same).
public func rewardLoss(chosen: Tensor, rejected: Tensor, margin: Float, centerCoefficient: Float?) -> Tensor {
    let losses = -(chosen - rejected - margin).logSigmoid()
    guard let centerCoefficient else { return losses }
    return losses + (chosen + rejected).squared() * centerCoefficient
}
