import Foundation
import Model
import Tensor

/// Asks a running `Trainer` to stop after its current optimizer step and save a checkpoint to
/// resume from. Safe to call from any thread (a signal handler's queue, a UI).
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false

    public init() {}

    public func request() {
        lock.withLock { requested = true }
    }

    public var isRequested: Bool { lock.withLock { requested } }
}

/// A run that cannot go on: steps whose loss or gradient norm is not finite, or parameters
/// that are not finite when a checkpoint is due.
public struct NonFiniteError: Error, CustomStringConvertible, Sendable {
    public let description: String

    /// `train.max_nonfinite_steps` skipped steps in a row, the last of them `step` (1-based).
    init(step: Int, consecutive: Int, loss: Double, gradNorm: Double, parameters: [Parameter]) {
        let culprit = parameters.first { $0.tensor.grad.map(hasNonFinite) ?? false }
        description = "step \(step): loss \(loss), gradient norm \(gradNorm): \(consecutive) steps in a row with a non-finite "
            + "loss or gradient were skipped (train.max_nonfinite_steps: \(consecutive)); "
            + (culprit.map { "the first parameter with a non-finite gradient is \($0.name)" }
                ?? "every gradient is finite, the loss is not")
            + "; lower train.learning_rate or check the model's weights, and resume from the last checkpoint"
    }

    /// A checkpoint is never written from these parameters.
    init(checkpoint url: URL, parameter: String) {
        description = "\(url.path): not written: parameter \(parameter) holds a non-finite value"
    }
}

/// True if any element of `tensor` is NaN or infinite.
func hasNonFinite(_ tensor: Tensor) -> Bool {
    let values = UnsafeBufferPointer(start: tensor.data, count: tensor.count)
    return !values.allSatisfy(\.isFinite)
}
