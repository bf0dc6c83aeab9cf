import Foundation

extension GGUFFile {
    /// Writes a GGUF version 3 file with `metadata` (in order) and `tensors` stored as F32, F16
    /// or BF16, each at a multiple of `general.alignment` (32 unless the metadata sets it),
    /// atomically: the file appears under `url` only once complete.
    public static func write(
        metadata: [(key: String, value: GGUFValue)], tensors: [(name: String, tensor: Tensor, type: GGUFTensorType)], to url: URL
    ) throws {
        let alignment = metadata.first { $0.key == "general.alignment" }?.value.integer ?? 32
        var out = Data()
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func append(_ string: String) {
            append(UInt64(string.utf8.count))
            out.append(contentsOf: string.utf8)
        }
        func append(_ value: GGUFValue) {
            switch value {
            case .uint8(let v): append(v)
            case .int8(let v): append(v)
            case .uint16(let v): append(v)
            case .int16(let v): append(v)
            case .uint32(let v): append(v)
            case .int32(let v): append(v)
            case .uint64(let v): append(v)
            case .int64(let v): append(v)
            case .float32(let v): append(v.bitPattern)
            case .float64(let v): append(v.bitPattern)
            case .bool(let v): append(UInt8(v ? 1 : 0))
            case .string(let v): append(v)
            case .array(let type, let elements):
                append(type.rawValue)
                append(UInt64(elements.count))
                for element in elements { append(element) }
            }
        }
        func padding(_ count: Int) -> Int { (alignment - count % alignment) % alignment }
        out.append(contentsOf: "GGUF".utf8)
        append(UInt32(3))
        append(UInt64(tensors.count))
        append(UInt64(metadata.count))
        for (key, value) in metadata {
            append(key)
            append(value.type.rawValue)
            append(value)
        }
        var offset = 0
        for (name, tensor, type) in tensors {
            require([.f32, .f16, .bf16].contains(type), "GGUF writer: tensor '\(name)' as \(type) (only F32, F16, BF16 are written)")
            append(name)
            append(UInt32(tensor.rank))
            for size in tensor.shape.reversed() { append(UInt64(size)) }
            append(type.rawValue)
            append(UInt64(offset))
            offset += tensor.count * type.blockBytes
            offset += padding(offset)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padding(out.count)))
        for (_, tensor, type) in tensors {
            let values = tensor.widened()
            let start = out.count
            out.count += values.count * type.blockBytes
            out.withUnsafeMutableBytes { buffer in
                let dst = buffer.baseAddress! + start
                for i in 0..<values.count {
                    let value = values.data[i]
                    switch type {
                    case .f16: dst.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    case .bf16: dst.storeBytes(of: bfloat16FromFloat(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    default: dst.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                    }
                }
            }
            out.append(contentsOf: [UInt8](repeating: 0, count: padding(out.count)))
        }
        try out.write(to: url, options: .atomic)
    }
}
