import Foundation
import Tensor

extension Mistral {
    /// A model with random weights: matrices uniform with std 0.02 (the variance of
    /// transformers' normal `initializer_range` init), four values per random word so that a
    /// 7B-shaped model is quick to make; norms 1.
    public static func randomlyInitialized(config: MistralConfig, dtype: DType = .float32, seed: UInt64) throws -> Mistral {
        var generator = RandomGenerator(seed: seed)
        return try Mistral(config: config, dtype: dtype) { name, shape, dtype in
            if shape.count == 1 { return Tensor(filling: 1, shape: shape) }
            return randomMatrix(shape, std: 0.02, dtype: dtype, generator: &generator)
        }
    }
}

/// Uniform values in [-std sqrt 3, std sqrt 3) (variance std^2), in storage `dtype`.
func randomMatrix(_ shape: [Int], std: Float, dtype: DType, generator: inout RandomGenerator) -> Tensor {
    let t = Tensor(zeros: shape, dtype: dtype)
    let bound = std * Float(3).squareRoot()
    let scale = 2 * bound / 65536
    func value(_ bits: UInt64) -> Float { Float(bits & 0xFFFF) * scale - bound }
    var i = 0
    switch dtype {
    case .float32:
        let p = t.data
        while i < t.count {
            let word = generator.next()
            for k in 0..<min(4, t.count - i) { p[i + k] = value(word >> (16 * UInt64(k))) }
            i += 4
        }
    case .bfloat16:
        let p = t.storage.bfloat16s
        while i < t.count {
            let word = generator.next()
            for k in 0..<min(4, t.count - i) { p[i + k] = bfloat16FromFloat(value(word >> (16 * UInt64(k)))) }
            i += 4
        }
    }
    return t
}
