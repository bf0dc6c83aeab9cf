import Foundation

public struct GGUFError: Error, CustomStringConvertible {
    public let description: String

    public init(_ url: URL, _ problem: String) {
        description = "\(url.path): \(problem)"
    }
}

/// A metadata value of a GGUF file; arrays keep their element type so that an empty one can
/// be written back.
public indirect enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    /// Any integer case, when it fits an Int.
    public var integer: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Any number (integers too).
    public var number: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return integer.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }
}

/// The type codes of GGUF metadata values.
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// One tensor's entry in a GGUF file. `dimensions` are in GGML order (the fastest-varying
/// first), so the row-major `shape` is their reverse.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let dimensions: [Int]
    /// The GGML type code; `type` is nil for a type Facet does not read.
    public let typeCode: UInt32
    public let type: GGUFTensorType?
    /// From the start of the data section.
    public let offset: Int
    public let count: Int

    public var shape: [Int] { dimensions.reversed() }
}

/// A GGUF file (llama.cpp's format, versions 2 and 3), memory-mapped: little-endian header
/// (magic `GGUF`, version, tensor and metadata counts), metadata key-value pairs, tensor infos,
/// then the tensor data from the first multiple of `general.alignment` (default 32). Every
/// count, length and offset is checked against the file before use.
public final class GGUFFile {
    public let url: URL
    public let version: Int
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Where the data section starts in the file.
    public let dataOffset: Int
    private let values: [String: GGUFValue]
    private let tensorIndex: [String: Int]
    private let file: MappedFile

    public init(url: URL) throws {
        self.url = url
        file = try MappedFile(url: url) { GGUFError(url, $0) }
        var reader = GGUFByteReader(base: file.base, size: file.size, url: url)
        guard file.size >= 4, try reader.bytes(4).elementsEqual("GGUF".utf8) else {
            throw GGUFError(url, "is not a GGUF file (no GGUF magic)")
        }
        let version = Int(try reader.load(UInt32.self, "the version"))
        guard version == 2 || version == 3 else {
            throw GGUFError(url, "has GGUF version \(version); Facet reads versions 2 and 3")
        }
        self.version = version
        let tensorCount = try reader.count(minimumBytesEach: 24, "the tensor count")
        let kvCount = try reader.count(minimumBytesEach: 13, "the metadata count")
        var metadata = [(key: String, value: GGUFValue)]()
        var values = [String: GGUFValue]()
        for _ in 0..<kvCount {
            let key = try reader.string("a metadata key")
            let code = try reader.load(UInt32.self, "the type of metadata key '\(key)'")
            let value = try reader.value(code: code, key: key, depth: 0)
            guard values[key] == nil else { throw GGUFError(url, "has metadata key '\(key)' twice") }
            values[key] = value
            metadata.append((key, value))
        }
        var alignment = 32
        if let value = values["general.alignment"] {
            guard let a = value.integer, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw GGUFError(url, "general.alignment must be a power of two, found \(value)")
            }
            alignment = a
        }
        var tensors = [GGUFTensorInfo]()
        var tensorIndex = [String: Int]()
        for _ in 0..<tensorCount {
            let name = try reader.string("a tensor name")
            let rank = Int(try reader.load(UInt32.self, "the rank of tensor '\(name)'"))
            guard rank >= 1, rank <= 4 else { throw GGUFError(url, "tensor '\(name)' has \(rank) dimensions (1 to 4 allowed)") }
            var dimensions = [Int]()
            var count = 1
            for _ in 0..<rank {
                let raw = try reader.load(UInt64.self, "the dimensions of tensor '\(name)'")
                guard let size = Int(exactly: raw), size > 0, case let (product, overflow) = count.multipliedReportingOverflow(by: size),
                      !overflow, product <= file.size * 4
                else { throw GGUFError(url, "tensor '\(name)' has dimension \(raw), which cannot fit in the file") }
                dimensions.append(size)
                count = product
            }
            let typeCode = try reader.load(UInt32.self, "the type of tensor '\(name)'")
            let offset = try reader.load(UInt64.self, "the offset of tensor '\(name)'")
            guard let offset = Int(exactly: offset), offset <= file.size else {
                throw GGUFError(url, "tensor '\(name)' has offset \(offset) past the end of the file")
            }
            guard tensorIndex[name] == nil else { throw GGUFError(url, "has tensor '\(name)' twice") }
            tensorIndex[name] = tensors.count
            tensors.append(GGUFTensorInfo(
                name: name, dimensions: dimensions, typeCode: typeCode, type: GGUFTensorType(rawValue: typeCode), offset: offset,
                count: count))
        }
        dataOffset = (reader.position + alignment - 1) / alignment * alignment
        for tensor in tensors {
            guard let type = tensor.type else { continue }
            guard tensor.dimensions[0] % type.blockSize == 0 else {
                throw GGUFError(url, "tensor '\(tensor.name)' of type \(type) has rows of \(tensor.dimensions[0]) values, not a multiple of its block of \(type.blockSize)")
            }
            let bytes = tensor.count / type.blockSize * type.blockBytes
            guard dataOffset <= file.size, tensor.offset <= file.size - dataOffset, bytes <= file.size - dataOffset - tensor.offset else {
                throw GGUFError(url, "is truncated: tensor '\(tensor.name)' ends at byte \(dataOffset + tensor.offset + bytes), the file has \(file.size)")
            }
        }
        self.alignment = alignment
        self.metadata = metadata
        self.values = values
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    public subscript(key: String) -> GGUFValue? { values[key] }

    public func info(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor `name` in row-major `shape` order, in storage `dtype`: F32 (and BF16 into
    /// bfloat16) borrow the mapped pages when aligned; other types are dequantized.
    public func tensor(_ name: String, as dtype: DType = .float32) throws -> Tensor {
        guard let info = info(name) else { throw GGUFError(url, "has no tensor '\(name)'") }
        guard let type = info.type else {
            throw GGUFError(url, "tensor '\(name)' has type \(GGUFTensorType.name(code: info.typeCode)), which Facet does not read (supported: \(GGUFTensorType.supportedNames))")
        }
        let source = file.base + dataOffset + info.offset
        switch (type, dtype) {
        case (.f32, .float32) where Int(bitPattern: source) % 4 == 0,
             (.bf16, .bfloat16) where Int(bitPattern: source) % 2 == 0:
            return Tensor(shape: info.shape, storage: Storage(borrowing: source, count: info.count, dtype: dtype, owner: file))
        default:
            let out = Tensor(uninitialized: info.shape)
            type.dequantize(UnsafeRawPointer(source), count: info.count, into: out.data)
            return dtype == .float32 ? out : out.narrowedToBFloat16()
        }
    }
}

/// Bounds-checked little-endian reads over the mapped header.
struct GGUFByteReader {
    let base: UnsafeMutableRawPointer
    let size: Int
    let url: URL
    var position = 0

    mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= size - position else { throw GGUFError(url, "is truncated in its header") }
        defer { position += count }
        return UnsafeRawBufferPointer(start: base + position, count: count)
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        guard MemoryLayout<T>.size <= size - position else { throw GGUFError(url, "is truncated in \(what)") }
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: (base + position).loadUnaligned(as: T.self))
    }

    /// A count of items each taking at least `minimumBytesEach` bytes, checked against the rest
    /// of the file.
    mutating func count(minimumBytesEach: Int, _ what: String) throws -> Int {
        let raw = try load(UInt64.self, what)
        guard let count = Int(exactly: raw), count <= (size - position) / minimumBytesEach else {
            throw GGUFError(url, "\(what) \(raw) cannot fit in the file")
        }
        return count
    }

    mutating func string(_ what: String) throws -> String {
        let length = try count(minimumBytesEach: 1, "the length of \(what)")
        return String(decoding: try bytes(length), as: UTF8.self)
    }

    mutating func value(code: UInt32, key: String, depth: Int) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: code) else {
            throw GGUFError(url, "metadata key '\(key)' has unknown value type \(code)")
        }
        let what = "the value of metadata key '\(key)'"
        switch type {
        case .uint8: return .uint8(try load(UInt8.self, what))
        case .int8: return .int8(try load(Int8.self, what))
        case .uint16: return .uint16(try load(UInt16.self, what))
        case .int16: return .int16(try load(Int16.self, what))
        case .uint32: return .uint32(try load(UInt32.self, what))
        case .int32: return .int32(try load(Int32.self, what))
        case .uint64: return .uint64(try load(UInt64.self, what))
        case .int64: return .int64(try load(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, what)))
        case .bool:
            let byte = try load(UInt8.self, what)
            guard byte <= 1 else { throw GGUFError(url, "metadata key '\(key)' has boolean byte \(byte)") }
            return .bool(byte == 1)
        case .string: return .string(try string(what))
        case .array:
            guard depth < 4 else { throw GGUFError(url, "metadata key '\(key)' nests arrays more than 4 deep") }
            let elementCode = try load(UInt32.self, "the element type of metadata key '\(key)'")
            guard let elementType = GGUFValueType(rawValue: elementCode) else {
                throw GGUFError(url, "metadata key '\(key)' has unknown array element type \(elementCode)")
            }
            let count = try self.count(minimumBytesEach: elementType.minimumBytes, "the length of metadata array '\(key)'")
            var elements = [GGUFValue]()
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(try value(code: elementCode, key: key, depth: depth + 1)) }
            return .array(elementType, elements)
        }
    }
}

extension GGUFValueType {
    /// The fewest bytes a value of this type takes (a string or array: its length field).
    var minimumBytes: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}
