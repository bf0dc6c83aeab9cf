/// One recorded op: its inputs and the pullback that accumulates the output's gradient into
/// theirs. The pullback captures only what backward needs.
final class Node {
    let inputs: [Tensor]
    let pullback: (UnsafeMutablePointer<Float>) -> Void

    init(inputs: [Tensor], pullback: @escaping (UnsafeMutablePointer<Float>) -> Void) {
        self.inputs = inputs
        self.pullback = pullback
    }
}

public enum Autograd {
    @TaskLocal static var isRecording = true

    /// Whether ops called now record a graph.
    public static var isEnabled: Bool { isRecording }
}

/// Runs `body` without recording any graph: reference-model passes, evaluation, generation.
public func withoutGradients<T>(_ body: () throws -> T) rethrows -> T {
    try Autograd.$isRecording.withValue(false, operation: body)
}

extension Tensor {
    /// True when a gradient must flow into this tensor: a trainable leaf or the result of an
    /// op that depends on one. Frozen tensors are never part of backward work.
    public var needsGrad: Bool { requiresGrad || node != nil }

    /// The gradient buffer, created zero-filled on first use.
    func gradBuffer() -> UnsafeMutablePointer<Float> {
        if let g = grad { return g.data }
        let g = Tensor(zeros: shape)
        grad = g
        return g.data
    }

    /// Makes `self` the result of an op over `inputs`, if any of them needs a gradient and
    /// recording is on. `pullback` receives the gradient of `self`.
    @discardableResult
    func recorded(from inputs: [Tensor], pullback: @escaping (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        if Autograd.isRecording && inputs.contains(where: { $0.needsGrad }) {
            node = Node(inputs: inputs, pullback: pullback)
        }
        return self
    }

    /// Reverse-mode sweep from this tensor. A scalar is seeded with 1; otherwise pass `seed`
    /// of the same shape. Gradients accumulate into `grad` of every trainable leaf; the
    /// intermediate gradients are released as soon as they have been pulled back.
    public func backward(seed: Tensor? = nil) {
        if let seed {
            require(seed.shape == shape, "backward: seed shape \(seed.shape) differs from tensor shape \(shape)")
            let g = gradBuffer()
            for i in 0..<count { g[i] += seed.data[i] }
        } else {
            require(count == 1, "backward: tensor of shape \(shape) is not a scalar; pass a seed")
            gradBuffer()[0] += 1
        }
        for tensor in topologicalOrder().reversed() {
            guard let node = tensor.node, let g = tensor.grad else { continue }
            node.pullback(g.data)
            if !tensor.requiresGrad { tensor.grad = nil }
        }
    }

    /// Tensors with a recorded node reachable from `self`, inputs before their users.
    private func topologicalOrder() -> [Tensor] {
        var order = [Tensor]()
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded {
                order.append(tensor)
                continue
            }
            guard let node = tensor.node, visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in node.inputs where input.node != nil { stack.append((input, false)) }
        }
        return order
    }
}
