import Foundation

public struct SafetensorsError: Error, CustomStringConvertible {
    public let description: String

    init(_ url: URL, _ problem: String) {
        description = "\(url.path): \(problem)"
    }
}

/// One `.safetensors` file, memory-mapped. Layout: an 8-byte little-endian header length, a
/// JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`,
/// then the data; offsets count from the end of the header.
public final class SafetensorsFile {
    public struct Entry: Sendable {
        public let dtype: String
        public let shape: [Int]
        let begin: Int
        let end: Int
    }

    public let url: URL
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    public init(url: URL) throws {
        self.url = url
        file = try MappedFile(url: url) { SafetensorsError(url, $0) }
        guard file.size >= 8 else { throw SafetensorsError(url, "is truncated (no header length)") }
        let rawLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard let headerLength = Int(exactly: rawLength), headerLength > 0, headerLength <= file.size - 8 else {
            throw SafetensorsError(url, "header length \(rawLength) exceeds the file size \(file.size)")
        }
        dataStart = 8 + headerLength
        let headerBytes = Data(bytes: file.base + 8, count: headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw SafetensorsError(url, "has a header that is not a JSON object")
        }
        var entries = [String: Entry]()
        var metadata = [String: String]()
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else { throw SafetensorsError(url, "has a malformed header entry for tensor '\(name)'") }
            let entry = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
            guard let width = Self.byteWidth(dtype) else {
                throw SafetensorsError(url, "tensor '\(name)' has unsupported dtype \(dtype) (supported: F32, BF16, F16)")
            }
            let bytes = shape.reduce(Int?(width)) { total, size in
                total.flatMap { size >= 0 ? $0.multipliedReportingOverflow(by: size) : nil }.flatMap { $0.overflow ? nil : $0.partialValue }
            }
            guard let bytes, entry.begin >= 0, entry.end >= entry.begin, entry.end - entry.begin == bytes else {
                throw SafetensorsError(url, "tensor '\(name)' has offsets \(offsets) that do not fit shape \(shape) of \(dtype)")
            }
            guard entry.end <= file.size - dataStart else {
                throw SafetensorsError(url, "is truncated: tensor '\(name)' ends at byte \(dataStart + entry.end), the file has \(file.size)")
            }
            entries[name] = entry
        }
        self.entries = entries
        self.metadata = metadata
    }

    public var names: [String] { entries.keys.sorted() }

    private static func byteWidth(_ dtype: String) -> Int? {
        switch dtype {
        case "F32": return 4
        case "BF16", "F16": return 2
        default: return nil
        }
    }

    /// The tensor `name` in storage `dtype`. When the file already holds that dtype, the tensor
    /// borrows the mapped pages; otherwise it is converted.
    public func tensor(_ name: String, as dtype: DType = .float32) throws -> Tensor {
        guard let entry = entries[name] else { throw SafetensorsError(url, "has no tensor '\(name)'") }
        let source = file.base + dataStart + entry.begin
        let count = entry.shape.reduce(1, *)
        switch (entry.dtype, dtype) {
        case ("F32", .float32) where Int(bitPattern: source) % 4 == 0,
             ("BF16", .bfloat16) where Int(bitPattern: source) % 2 == 0:
            return Tensor(shape: entry.shape, storage: Storage(borrowing: source, count: count, dtype: dtype, owner: file))
        default:
            let out = Tensor(zeros: entry.shape)
            let dst = out.data
            switch entry.dtype {
            case "F32": for i in 0..<count { dst[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            case "BF16": for i in 0..<count { dst[i] = floatFromBFloat16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            default: for i in 0..<count { dst[i] = floatFromFloat16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
            return dtype == .float32 ? out : out.narrowedToBFloat16()
        }
    }

    /// Writes `tensors` (float32 as F32, bfloat16 as BF16) with `metadata`, atomically: the
    /// file appears under `url` only once complete.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        var header = [String: Any]()
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, tensor) in tensors {
            let bytes = tensor.count * tensor.dtype.byteSize
            header[name] = ["dtype": tensor.dtype == .float32 ? "F32" : "BF16", "shape": tensor.shape,
                            "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var output = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { output.append(contentsOf: $0) }
        output.append(json)
        for (_, tensor) in tensors {
            output.append(Data(bytes: tensor.storage.raw, count: tensor.count * tensor.dtype.byteSize))
        }
        try output.write(to: url, options: .atomic)
    }
}

extension SafetensorsFile {
    /// Writes an HF model folder's weights: `model.safetensors`, or shards of at most
    /// `maxShardBytes` named `model-0000i-of-0000n.safetensors` with
    /// `model.safetensors.index.json`.
    public static func writeModel(_ tensors: [(String, Tensor)], to directory: URL, maxShardBytes: Int = 2 << 30) throws {
        var shards = [[(String, Tensor)]]()
        var size = 0
        for entry in tensors {
            let bytes = entry.1.count * entry.1.dtype.byteSize
            if shards.isEmpty || (size + bytes > maxShardBytes && !shards[shards.count - 1].isEmpty) {
                shards.append([])
                size = 0
            }
            shards[shards.count - 1].append(entry)
            size += bytes
        }
        let metadata = ["format": "pt"]
        if shards.count == 1 {
            try write(shards[0], metadata: metadata, to: directory.appendingPathComponent("model.safetensors"))
            return
        }
        var weightMap = [String: String]()
        for (index, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", index + 1, shards.count)
            try write(shard, metadata: metadata, to: directory.appendingPathComponent(name))
            for (tensorName, _) in shard { weightMap[tensorName] = name }
        }
        let total = tensors.reduce(0) { $0 + $1.1.count * $1.1.dtype.byteSize }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: directory.appendingPathComponent("model.safetensors.index.json"), options: .atomic)
    }
}

/// Tensors of an HF model folder: `model.safetensors`, or shards listed by
/// `model.safetensors.index.json`.
public final class SafetensorsCollection {
    public let directory: URL
    private let files: [String: SafetensorsFile]  // tensor name -> file holding it

    public init(directory: URL) throws {
        self.directory = directory
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: index.path) {
            guard let json = try? JSONSerialization.jsonObject(with: Data(contentsOf: index)) as? [String: Any],
                  let weightMap = json["weight_map"] as? [String: String]
            else { throw SafetensorsError(index, "is not a safetensors index (no weight_map)") }
            var opened = [String: SafetensorsFile]()
            var files = [String: SafetensorsFile]()
            for (name, shard) in weightMap {
                if opened[shard] == nil { opened[shard] = try SafetensorsFile(url: directory.appendingPathComponent(shard)) }
                guard let file = opened[shard], file.entries[name] != nil else {
                    throw SafetensorsError(directory.appendingPathComponent(shard), "has no tensor '\(name)' although the index lists it there")
                }
                files[name] = file
            }
            self.files = files
        } else {
            let single = directory.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: single.path) else {
                throw SafetensorsError(directory, "has neither model.safetensors nor model.safetensors.index.json")
            }
            let file = try SafetensorsFile(url: single)
            files = Dictionary(uniqueKeysWithValues: file.names.map { ($0, file) })
        }
    }

    public var names: [String] { files.keys.sorted() }

    /// The tensor `name`.
    public func tensor(_ name: String, as dtype: DType = .float32) throws -> Tensor {
        guard let file = files[name] else {
            throw SafetensorsError(directory, "tensor '\(name)' is missing from the model's safetensors files")
        }
        return try file.tensor(name, as: dtype)
    }
}
