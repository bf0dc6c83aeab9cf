import CVectorMath
import Foundation

/// A row-major tensor. The class identity is the node of the autodiff graph: an op's result
/// remembers its inputs and a pullback that accumulates gradients into them.
public final class Tensor {
    public let shape: [Int]
    public let storage: Storage
    /// Leaves that are trained (parameters). Results of ops never set this themselves.
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape, float32.
    public var grad: Tensor?
    /// How GEMMs multiply this tensor when it is a bfloat16 weight: widened to float32 (exact
    /// products), or in bfloat16 on the CPU's bfloat16 instructions (`BFloat16GEMM`) with the
    /// other operand rounded to bfloat16, as PyTorch's CPU autocast does.
    public var computeDType = DType.float32
    var node: Node?

    public init(shape: [Int], storage: Storage) {
        require(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        require(
            shape.reduce(1, *) == storage.count,
            "Tensor: shape \(shape) needs \(shape.reduce(1, *)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = false
    }

    /// Zero-filled float32 (or bfloat16) tensor.
    public convenience init(zeros shape: [Int], dtype: DType = .float32) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *), dtype: dtype))
    }

    /// Float32 storage whose every element the caller writes next.
    convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: Storage(count: shape.reduce(1, *), zeroed: false))
    }

    public convenience init(_ values: [Float], shape: [Int]) {
        require(
            values.count == shape.reduce(1, *),
            "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { storage.floats.update(from: $0.baseAddress!, count: values.count) }
    }

    public convenience init(filling value: Float, shape: [Int]) {
        self.init(zeros: shape)
        storage.floats.update(repeating: value, count: count)
    }

    public static func ones(_ shape: [Int]) -> Tensor { Tensor(filling: 1, shape: shape) }

    public static func scalar(_ value: Float) -> Tensor { Tensor([value], shape: []) }

    /// Normal(mean, std) samples from `generator`.
    public static func normal(
        _ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.storage.floats
        for i in 0..<t.count { p[i] = mean + std * generator.nextNormal() }
        return t
    }

    /// Uniform samples in [low, high) from `generator`.
    public static func uniform(
        _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.storage.floats
        for i in 0..<t.count { p[i] = low + (high - low) * generator.nextUniform() }
        return t
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var dtype: DType { storage.dtype }

    /// Float32 elements; a bfloat16 tensor must be widened first (`widened()`).
    public var data: UnsafeMutablePointer<Float> { storage.floats }

    public var scalars: [Float] {
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: data, count: count))
        case .bfloat16: return (0..<count).map { floatFromBFloat16(storage.bfloat16s[$0]) }
        }
    }

    /// The single value of a one-element tensor.
    public var item: Float {
        require(count == 1, "Tensor.item: tensor of shape \(shape) has \(count) elements")
        return scalars[0]
    }

    /// A float32 copy (widening bfloat16), detached from the graph.
    public func widened() -> Tensor {
        let out = Tensor(zeros: shape)
        switch dtype {
        case .float32: out.data.update(from: data, count: count)
        case .bfloat16: widenBFloat16(out.data, storage.bfloat16s, count)
        }
        return out
    }

    /// A bfloat16 copy for frozen storage.
    public func narrowedToBFloat16() -> Tensor {
        require(dtype == .float32, "Tensor.narrowedToBFloat16: tensor is already \(dtype)")
        let out = Tensor(zeros: shape, dtype: .bfloat16)
        narrowToBFloat16(out.storage.bfloat16s, data, count)
        return out
    }

    /// Same values, no graph history, no gradient.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Size of the dimension `axis` (negative counts from the end).
    public func size(_ axis: Int) -> Int { shape[normalizedAxis(axis)] }

    func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        require(a >= 0 && a < rank, "axis \(axis) is out of range for shape \(shape)")
        return a
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), dtype: \(dtype), [\(preview)\(count > 8 ? ", ..." : "")])"
    }
}

/// Widens `count` bfloat16 values into `dst`.
@inline(__always)
public func widenBFloat16(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<UInt16>, _ count: Int) {
    let d = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
    for i in 0..<count { d[i] = UInt32(src[i]) << 16 }
}

/// Rounds `count` float32 values to bfloat16 (nearest even, NaN kept quiet) into `dst`: the
/// activations of a bfloat16 GEMM. 16 lanes wide in C on AVX-512F, bit for bit as the plain
/// loop, which the compiler vectorizes only to the baseline's 4 lanes (explicit SIMD16 Swift
/// code measured 18 times slower: its lane conversions are scalarized).
public func narrowToBFloat16(_ dst: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, _ count: Int) {
    let words = UnsafeRawPointer(src).assumingMemoryBound(to: UInt32.self)
    parallelChunks(count, minimumChunk: 1 << 18) { range in
        if vectorMathUsesAVX512 { return facet_narrow_to_bfloat16_avx512(dst + range.lowerBound, src + range.lowerBound, range.count) }
        for i in range {
            let word = words[i]
            let rounded = (word &+ 0x7FFF &+ ((word &>> 16) & 1)) &>> 16
            let value = (word & 0x7FFF_FFFF) > 0x7F80_0000 ? (word &>> 16) | 0x40 : rounded
            dst[i] = UInt16(truncatingIfNeeded: value)
        }
    }
}
