import Foundation
import Tensor

/// The scalar head of a reward model (`MistralForSequenceClassification.score` with one label):
/// a float32 [1, hidden] matrix applied to the final-norm hidden state of a sequence's last
/// token.
public final class RewardHead {
    /// HF's name of the head, in exports and optimizer state.
    public static let name = "score.weight"
    public let weight: Tensor  // [1, hidden]

    public init(weight: Tensor) {
        self.weight = weight
    }

    /// A fresh head as transformers initializes `score`: normal with std `initializer_range`
    /// (0.02), drawn from `seed`.
    public convenience init(hiddenSize: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed)
        let weight = Tensor(zeros: [1, hiddenSize])
        for i in 0..<hiddenSize { weight.data[i] = 0.02 * generator.nextNormal() }
        self.init(weight: weight)
    }
}

extension Mistral {
    /// One reward per row of `batch`: `rewardHead` on the hidden state at `lastTokens[row]` (the
    /// row's last real token, as transformers' sequence classification takes the last
    /// non-padding one). [batch]
    public func rewards(_ batch: TokenBatch, lastTokens: [Int]) -> Tensor {
        guard let head = rewardHead else { preconditionFailure("rewards: the model has no reward head") }
        require(lastTokens.count == batch.batch, "rewards: \(lastTokens.count) last tokens for \(batch.batch) rows")
        let hidden = hiddenStates(batch).reshaped([batch.batch * batch.tokens, config.hiddenSize])
        let rows = lastTokens.enumerated().map { Int32($0.offset * batch.tokens + $0.element) }
        return matmul(hidden.embedding(rows), head.weight, transposeB: true).reshaped([batch.batch])
    }
}
