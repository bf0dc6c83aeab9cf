import Model
import Tensor

/// The one allreduce of an optimizer step in a data-parallel job: a flat float32 buffer with
/// every trained gradient (LoRA or full fine-tuning), then the step's loss, token count, metric
/// sums and stop flag. After it every process holds the step's global values, so clipping, the
/// update, the skip of a non-finite step and a requested stop agree on every process.
final class StepReduction {
    let communicator: Communicator
    let parameters: [Parameter]
    let sumNames: [String]
    private var buffer: [Float] = []

    init(communicator: Communicator, parameters: [Parameter], sumNames: [String]) {
        self.communicator = communicator
        self.parameters = parameters
        self.sumNames = sumNames
    }

    /// Sums `outcome` and the gradients over the processes; returns whether any process asked
    /// to stop. A process that ran no micro-batch of the step adds zero gradients.
    func reduce(_ outcome: inout StepOutcome, stopRequested: Bool) -> Bool {
        guard communicator.size > 1 else { return stopRequested }
        let gradientCount = parameters.reduce(0) { $0 + $1.tensor.count }
        let scalars = [outcome.loss, Double(outcome.tokens), stopRequested ? 1 : 0] + sumNames.map { outcome.sums[$0] ?? 0 }
        if buffer.count != gradientCount + scalars.count { buffer = [Float](repeating: 0, count: gradientCount + scalars.count) }
        buffer.withUnsafeMutableBufferPointer { flat in
            var offset = 0
            for parameter in parameters {
                let count = parameter.tensor.count
                if let grad = parameter.tensor.grad {
                    (flat.baseAddress! + offset).update(from: grad.data, count: count)
                } else {
                    (flat.baseAddress! + offset).update(repeating: 0, count: count)
                }
                offset += count
            }
            for (i, value) in scalars.enumerated() { flat[offset + i] = Float(value) }
            communicator.allreduceSum(flat)
            offset = 0
            for parameter in parameters {
                let count = parameter.tensor.count
                let grad = parameter.tensor.grad ?? Tensor(zeros: parameter.tensor.shape)
                grad.data.update(from: flat.baseAddress! + offset, count: count)
                parameter.tensor.grad = grad
                offset += count
            }
        }
        let reduced = buffer.suffix(scalars.count).map(Double.init)
        outcome.loss = reduced[0]
        outcome.tokens = Int(reduced[1].rounded())
        for (i, name) in sumNames.enumerated() { outcome.sums[name] = reduced[3 + i] }
        return reduced[2] > 0
    }
}
