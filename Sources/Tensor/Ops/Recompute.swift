/// Activation recomputation (activation checkpointing in PyTorch): runs `body(x)` without keeping its graph, and recomputes it
/// during backward to pull the gradient through. Memory holds `x` instead of every
/// intermediate of `body`, at the price of one more forward pass. `parameters` are the
/// trained tensors that `body` uses (they receive gradients from the recomputation).
/// `body` must compute the same function on every call.
public func recomputed(_ x: Tensor, parameters: [Tensor], _ body: @escaping (Tensor) -> Tensor) -> Tensor {
    guard Autograd.isEnabled, x.needsGrad || parameters.contains(where: { $0.requiresGrad }) else { return body(x) }
    let value = withoutGradients { body(x) }
    let out = Tensor(shape: value.shape, storage: value.storage)
    out.node = Node(inputs: [x] + parameters) { dy in
        let input = x.detached()
        input.requiresGrad = x.needsGrad
        let y = body(input)
        let seed = Tensor(uninitialized: y.shape)
        seed.data.update(from: dy, count: seed.count)
        y.backward(seed: seed)
        if x.needsGrad, let g = input.grad {
            let dx = x.gradBuffer()
            for i in 0..<g.count { dx[i] += g.data[i] }
        }
    }
    return out
}
