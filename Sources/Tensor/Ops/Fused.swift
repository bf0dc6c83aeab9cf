import Foundation

/// Fused ops: one kernel forward, one backward, for the layers where composing the small ops
/// would cost memory or time.
extension Tensor {
    /// RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight.
    public func rmsNorm(weight: Tensor, eps: Float) -> Tensor {
        let dim = shape.last ?? 0
        require(weight.shape == [dim], "rmsNorm: weight shape \(weight.shape) does not match input shape \(shape)")
        let rows = count / max(dim, 1)
        let out = Tensor(uninitialized: shape)
        let rstd = Storage(count: rows)
        rmsNormForward(out.data, rstd.floats, data, weight.data, rows: rows, dim: dim, eps: eps)
        return out.recorded(from: [self, weight]) { [self] dy in
            if needsGrad {
                rmsNormInputBackward(gradBuffer(), dy, data, weight.data, rstd.floats, rows: rows, dim: dim)
            }
            if weight.needsGrad {
                rmsNormWeightBackward(weight.gradBuffer(), dy, data, rstd.floats, rows: rows, dim: dim)
            }
        }
    }

    /// Rotary position embedding of x: [batch, tokens, heads, headDim] ("rotate half", as in
    /// transformers), each token rotated by its entry of `positions` ([batch * tokens]).
    public func rotaryEmbedding(positions: [Int32], theta: Float) -> Tensor {
        require(rank == 4 && shape[3] % 2 == 0, "rope: expected [batch, tokens, heads, even headDim], found \(shape)")
        require(
            positions.count == shape[0] * shape[1],
            "rope: \(positions.count) positions for shape \(shape) (need batch * tokens)")
        let (heads, headDim) = (shape[2], shape[3])
        let frequencies = ropeInverseFrequencies(headDim: headDim, theta: theta)
        let out = Tensor(uninitialized: shape)
        ropeApply(out.data, data, positions: positions, inverseFrequencies: frequencies,
                  heads: heads, headDim: headDim, inverse: false)
        return out.recorded(from: [self]) { [self] dy in
            ropeApply(gradBuffer(), dy, positions: positions, inverseFrequencies: frequencies,
                      heads: heads, headDim: headDim, inverse: true)
        }
    }
}

/// SwiGLU: silu(gate) * up, elementwise.
public func swiGLU(gate: Tensor, up: Tensor) -> Tensor {
    require(gate.shape == up.shape, "swiGLU: shapes \(gate.shape) and \(up.shape) differ")
    let out = Tensor(uninitialized: gate.shape)
    swiGLUForward(out.data, gate.data, up.data, gate.count)
    return out.recorded(from: [gate, up]) { dy in
        swiGLUBackward(
            dGate: gate.needsGrad ? gate.gradBuffer() : nil, dUp: up.needsGrad ? up.gradBuffer() : nil, dy, gate.data, up.data,
            gate.count)
    }
}
