import Foundation

/// The GGML tensor types Facet reads, by their GGML codes. Quantized types store blocks of 32
/// values along a row: an f16 scale `d` (Q4_1 also an f16 minimum `m`) and the quants;
/// Q4_* keep value j in the low nibble of byte j and value j + 16 in its high nibble.
public enum GGUFTensorType: UInt32, Sendable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .bf16: return "BF16"
        }
    }

    /// Values per block (1 for the plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        }
    }

    static var supportedNames: String { "F32, F16, BF16, Q8_0, Q4_0, Q4_1" }

    /// GGML's name for any type code, for errors about the ones Facet does not read.
    static func name(code: UInt32) -> String {
        if let known = GGUFTensorType(rawValue: code) { return known.description }
        let others: [UInt32: String] = [
            6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
            16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
            24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
        ]
        return others[code].map { "\($0) (\(code))" } ?? "\(code)"
    }

    /// Decodes `count` values (a whole number of blocks) from `source` into `out`, in float32
    /// arithmetic as ggml and the gguf package do (`d * q`, `d * q + m`).
    // out: (count), source: (count / blockSize blocks of blockBytes)
    public func dequantize(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = count / blockSize
        func half(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
            floatFromFloat16(UInt16(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        }
        switch self {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count { out[i] = half(source, 2 * i) }
        case .bf16:
            for i in 0..<count { out[i] = floatFromBFloat16(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .q8_0:
            for b in 0..<blocks {
                let block = source + b * 34
                let d = half(block, 0)
                let quants = (block + 2).assumingMemoryBound(to: Int8.self)
                let y = out + b * 32
                for j in 0..<32 { y[j] = Float(quants[j]) * d }
            }
        case .q4_0:
            for b in 0..<blocks {
                let block = source + b * 18
                let d = half(block, 0)
                let quants = (block + 2).assumingMemoryBound(to: UInt8.self)
                let y = out + b * 32
                for j in 0..<16 {
                    y[j] = Float(Int(quants[j] & 0x0F) - 8) * d
                    y[j + 16] = Float(Int(quants[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let block = source + b * 20
                let (d, m) = (half(block, 0), half(block, 2))
                let quants = (block + 4).assumingMemoryBound(to: UInt8.self)
                let y = out + b * 32
                for j in 0..<16 {
                    y[j] = Float(quants[j] & 0x0F) * d + m
                    y[j + 16] = Float(quants[j] >> 4) * d + m
                }
            }
        }
    }
}
