import Foundation

/// Shape of a binary op's result under trailing broadcasting: the shorter shape must equal
/// the trailing dimensions of the longer one.
private func broadcastShape(_ a: Tensor, _ b: Tensor, _ op: String) -> [Int] {
    let (long, short) = a.rank >= b.rank ? (a.shape, b.shape) : (b.shape, a.shape)
    require(
        Array(long.suffix(short.count)) == short,
        "\(op): shapes \(a.shape) and \(b.shape) do not broadcast (the shorter must match the trailing dimensions)")
    return long
}

private func binary(_ a: Tensor, _ b: Tensor, _ kind: BinaryKind, _ name: String) -> Tensor {
    let shape = broadcastShape(a, b, name)
    let out = Tensor(uninitialized: shape)
    let (na, nb, n) = (a.count, b.count, out.count)
    binaryForward(kind, out.data, a.data, aCount: na, b.data, bCount: nb)
    return out.recorded(from: [a, b]) { dy in
        if a.needsGrad {
            binaryBackward(kind, operandIsA: true, a.gradBuffer(), count: na, dy, n: n, x: a.data, other: b.data, otherCount: nb)
        }
        if b.needsGrad {
            binaryBackward(kind, operandIsA: false, b.gradBuffer(), count: nb, dy, n: n, x: b.data, other: a.data, otherCount: na)
        }
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .add, "add") }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .subtract, "subtract") }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .multiply, "multiply") }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .divide, "divide") }

extension Tensor {
    /// Elementwise `f` with derivative `df(x, y)` where y = f(x).
    func mapped(_ f: @escaping (Float) -> Float, derivative df: @escaping (Float, Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: shape)
        unaryForward(out.data, data, count, f)
        // Pullbacks capture storages, never their own result tensor (that would be a cycle).
        let y = out.storage
        return out.recorded(from: [self]) { [self] dy in
            unaryBackward(gradBuffer(), dy, data, y.floats, count, df)
        }
    }

    public func exp() -> Tensor { mapped(Foundation.exp, derivative: { _, y in y }) }
    public func log() -> Tensor { mapped(Foundation.log, derivative: { x, _ in 1 / x }) }
    public func squareRoot() -> Tensor { mapped(Foundation.sqrt, derivative: { _, y in 0.5 / y }) }
    public func squared() -> Tensor { mapped({ $0 * $0 }, derivative: { x, _ in 2 * x }) }
    public func relu() -> Tensor { mapped({ max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : x <= 0 ? 0 : .nan }) }

    public func sigmoid() -> Tensor {
        mapped({ 1 / (1 + Foundation.exp(-$0)) }, derivative: { _, y in y * (1 - y) })
    }

    /// log(sigmoid(x)) = -softplus(-x), computed without overflow.
    public func logSigmoid() -> Tensor {
        mapped(
            { x in min(x, 0) - Foundation.log1p(Foundation.exp(-abs(x))) },
            derivative: { x, _ in 1 / (1 + Foundation.exp(x)) })
    }

    /// log(1 - e^x) for x < 0, computed stably: log(-expm1(x)) near 0, log1p(-exp(x)) below -ln 2.
    public func log1mexp() -> Tensor {
        mapped(
            { x in x > -Float(M_LN2) ? Foundation.log(-Foundation.expm1(x)) : Foundation.log1p(-Foundation.exp(x)) },
            derivative: { x, _ in Foundation.exp(x) / Foundation.expm1(x) })
    }

    public func silu() -> Tensor {
        mapped(
            { x in x / (1 + Foundation.exp(-x)) },
            derivative: { x, _ in
                let s = 1 / (1 + Foundation.exp(-x))
                return s * (1 + x * (1 - s))
            })
    }

    public static prefix func - (x: Tensor) -> Tensor { x.mapped({ -$0 }, derivative: { _, _ in -1 }) }
    public static func * (x: Tensor, s: Float) -> Tensor { x.mapped({ $0 * s }, derivative: { _, _ in s }) }
    public static func * (s: Float, x: Tensor) -> Tensor { x * s }
    public static func / (x: Tensor, s: Float) -> Tensor { x * (1 / s) }
    public static func / (s: Float, x: Tensor) -> Tensor { x.mapped({ s / $0 }, derivative: { x, _ in -s / (x * x) }) }
    public static func + (x: Tensor, s: Float) -> Tensor { x.mapped({ $0 + s }, derivative: { _, _ in 1 }) }
    public static func + (s: Float, x: Tensor) -> Tensor { x + s }
    public static func - (x: Tensor, s: Float) -> Tensor { x + (-s) }
    public static func - (s: Float, x: Tensor) -> Tensor { x.mapped({ s - $0 }, derivative: { _, _ in -1 }) }
}
