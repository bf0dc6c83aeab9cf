import Foundation
import Model
import Tensor

/// AdamW with decoupled weight decay and bias correction, as `torch.optim.AdamW`.
public final class AdamW {
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let weightDecay: Double
    /// Updates taken so far (PyTorch's `step`).
    public private(set) var step = 0
    public private(set) var expAvg: [String: Tensor] = [:]
    public private(set) var expAvgSq: [String: Tensor] = [:]

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// Restores moments and the step count from a checkpoint.
    public func restore(step: Int, expAvg: [String: Tensor], expAvgSq: [String: Tensor]) {
        self.step = step
        self.expAvg = expAvg
        self.expAvgSq = expAvgSq
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`.
    public func update(_ parameters: [Parameter], lr: Double) {
        step += 1
        // Scalars in double precision, as PyTorch computes them in Python floats.
        let correction1 = 1 - Foundation.pow(beta1, Double(step))
        let correction2Root = Float((1 - Foundation.pow(beta2, Double(step))).squareRoot())
        let stepSize = Float(lr / correction1)
        let decay = Float(1 - lr * weightDecay)
        let (b1, b2, eps) = (Float(beta1), Float(beta2), Float(self.eps))
        for parameter in parameters {
            guard let grad = parameter.tensor.grad else { continue }
            let m = expAvg[parameter.name] ?? Tensor(zeros: parameter.tensor.shape)
            let v = expAvgSq[parameter.name] ?? Tensor(zeros: parameter.tensor.shape)
            expAvg[parameter.name] = m
            expAvgSq[parameter.name] = v
            let (p, g, mp, vp) = (parameter.tensor.data, grad.data, m.data, v.data)
            parallelChunks(parameter.tensor.count, minimumChunk: 1 << 14) { range in
                for i in range {
                    p[i] *= decay
                    mp[i] += (g[i] - mp[i]) * (1 - b1)
                    vp[i] = vp[i] * b2 + (1 - b2) * g[i] * g[i]
                    p[i] -= stepSize * mp[i] / (vp[i].squareRoot() / correction2Root + eps)
                }
            }
        }
    }
}

/// Global L2 norm of all gradients, and scaling them to at most `maxNorm` as
/// `torch.nn.utils.clip_grad_norm_` does (coefficient maxNorm / (norm + 1e-6), capped at 1).
public enum GradientClipping {
    public static func globalNorm(_ parameters: [Parameter]) -> Double {
        var total = 0.0
        for parameter in parameters {
            guard let grad = parameter.tensor.grad else { continue }
            let g = grad.data
            for i in 0..<grad.count { total += Double(g[i]) * Double(g[i]) }
        }
        return total.squareRoot()
    }

    /// Scales the gradients, whose global norm is `norm`, to at most `maxNorm` (nil: no clipping).
    public static func scale(_ parameters: [Parameter], norm: Double, maxNorm: Double?) {
        guard let maxNorm else { return }
        let coefficient = Float(min(maxNorm / (norm + 1e-6), 1))
        guard coefficient < 1 else { return }
        for parameter in parameters {
            guard let grad = parameter.tensor.grad else { continue }
            let g = grad.data
            for i in 0..<grad.count { g[i] *= coefficient }
        }
    }
}
