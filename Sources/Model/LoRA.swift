import Foundation
import Tensor

/// LoRA hyper-parameters, as PEFT's `LoraConfig`.
public struct LoRAConfig: Sendable, Equatable {
    public static let allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targetModules: [String]
    public var useRSLoRA: Bool

    public init(rank: Int = 16, alpha: Float = 32, dropout: Float = 0, targetModules: [String] = allTargets, useRSLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.useRSLoRA = useRSLoRA
    }
}

/// The random state of dropout, shared by every adapter of a model, so that a checkpoint can
/// save one generator and a resumed run draws the same masks.
public final class DropoutState {
    public let seed: UInt64
    public var generator: RandomGenerator
    /// Dropout is applied only inside `training { }`.
    public private(set) var isTraining = false

    public init(seed: UInt64) {
        self.seed = seed
        generator = RandomGenerator(seed: seed)
    }

    /// Starts the masks of micro-batch `microBatch` of `epoch` (its place in the one global batch
    /// plan): they depend on the seed and that place only, not on which process of a
    /// data-parallel job runs it or what ran before.
    public func reseed(epoch: Int, microBatch: Int) {
        generator = RandomGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* (UInt64(epoch) << 32 | UInt64(microBatch) &+ 1))
    }

    /// Runs `body` with dropout active, restoring the previous mode however `body` exits.
    public func training<T>(_ body: () throws -> T) rethrows -> T {
        let previous = isTraining
        isTraining = true
        defer { isTraining = previous }
        return try body()
    }
}

/// A LoRA adapter on one linear layer, with PEFT's conventions:
/// `y = W x + B (A dropout(x)) * scale`, `scale = alpha / r` (`alpha / sqrt(r)` with rsLoRA),
/// A: [r, in] (kaiming-uniform, a = sqrt 5), B: [out, r] (zeros).
public final class LoRAAdapter {
    public let a: Tensor
    public let b: Tensor
    public let alpha: Float
    public let useRSLoRA: Bool
    public let dropout: Float
    let dropoutState: DropoutState?

    public init(a: Tensor, b: Tensor, alpha: Float, useRSLoRA: Bool, dropout: Float, dropoutState: DropoutState?) {
        require(a.rank == 2 && b.rank == 2 && a.shape[0] == b.shape[1], "LoRA: A \(a.shape) and B \(b.shape) do not share a rank")
        self.a = a
        self.b = b
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.dropout = dropout
        self.dropoutState = dropoutState
    }

    /// A fresh trainable adapter for a layer of shape [out, in].
    public convenience init(
        outFeatures: Int, inFeatures: Int, rank: Int, alpha: Float, useRSLoRA: Bool, dropout: Float,
        dropoutState: DropoutState?, generator: inout RandomGenerator
    ) {
        // kaiming_uniform_(a=sqrt(5)) on [r, in]: bound = sqrt(6 / ((1 + 5) * in)) = 1 / sqrt(in).
        let bound = 1 / Float(inFeatures).squareRoot()
        let a = Tensor.uniform([rank, inFeatures], low: -bound, high: bound, generator: &generator)
        let b = Tensor(zeros: [outFeatures, rank])
        a.requiresGrad = true
        b.requiresGrad = true
        self.init(a: a, b: b, alpha: alpha, useRSLoRA: useRSLoRA, dropout: dropout, dropoutState: dropoutState)
    }

    public var rank: Int { a.shape[0] }
    public var scale: Float { Self.scale(alpha: alpha, rank: rank, useRSLoRA: useRSLoRA) }

    /// PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA.
    public static func scale(alpha: Float, rank: Int, useRSLoRA: Bool) -> Float {
        useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }

    /// What the adapter multiplies: x, after dropout while training.
    func input(_ x: Tensor) -> Tensor {
        guard dropout > 0, let state = dropoutState, state.isTraining else { return x }
        return x.dropout(dropout, generator: &state.generator)
    }

    /// scale * B A: [out, in], the update this adapter adds to W.
    public func delta() -> Tensor {
        withoutGradients { matmul(b, a) * scale }
    }
}
