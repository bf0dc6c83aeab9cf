import Tensor
import XCTest

/// Finite-difference check of an op's pullback: loss = sum(f() * R) for a fixed random R,
/// accumulated in Double; central differences on every element of every input (or on
/// `samples` evenly spaced elements of large inputs).
public func checkGradients(
    _ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, samples: Int = 48,
    file: StaticString = #filePath, line: UInt = #line, _ f: () -> Tensor
) {
    for input in inputs {
        input.requiresGrad = true
        input.grad = nil
    }
    let out = f()
    var generator = RandomGenerator(seed: 1234)
    let r = Tensor.normal(out.shape, generator: &generator)
    out.backward(seed: r)
    func loss() -> Double {
        let y = withoutGradients { f() }
        var total = 0.0
        for i in 0..<y.count { total += Double(y.data[i]) * Double(r.data[i]) }
        return total
    }
    for (k, input) in inputs.enumerated() {
        guard let analytic = input.grad else {
            XCTFail("input \(k) of shape \(input.shape) received no gradient", file: file, line: line)
            continue
        }
        let step = max(1, input.count / samples)
        for i in stride(from: 0, to: input.count, by: step) {
            let saved = input.data[i]
            input.data[i] = saved + eps
            let plus = loss()
            input.data[i] = saved - eps
            let minus = loss()
            input.data[i] = saved
            let numeric = (plus - minus) / (2 * Double(eps))
            let value = Double(analytic.data[i])
            if abs(numeric - value) > atol + rtol * abs(numeric) {
                XCTFail(
                    "gradient of input \(k) \(input.shape) at element \(i): analytic \(value), numeric \(numeric)",
                    file: file, line: line)
                return
            }
        }
    }
}

/// Runs `f` and backward with a fixed seed; returns the output and each input's gradient.
public func forwardBackward(_ inputs: [Tensor], _ f: () -> Tensor) -> (Tensor, [Tensor]) {
    for input in inputs {
        input.requiresGrad = true
        input.grad = nil
    }
    let out = f()
    var generator = RandomGenerator(seed: 99)
    out.backward(seed: Tensor.normal(out.shape, generator: &generator))
    return (out, inputs.map { $0.grad ?? Tensor(zeros: $0.shape) })
}

public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    return Tensor.normal(shape, std: scale, generator: &generator)
}
