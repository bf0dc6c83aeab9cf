import Foundation

/// The checksum a checkpoint carries in the HDF5 user block (the first 512 bytes, which libhdf5
/// skips): "facet-checkpoint\n", "crc32 <8 hex digits>\n", "bytes <count>\n", zero padded; the
/// CRC-32 (zlib's, so `zlib.crc32` checks it too) and the length cover everything after the
/// block. `Checkpoint.read` verifies it before libhdf5 parses any byte, so a truncated or damaged
/// checkpoint is an error, never a crash inside libhdf5 (`Fuzz/libhdf5-open`).
public enum CheckpointChecksum {
    public static let userBlockSize = 512
    private static let magic = "facet-checkpoint\n"
    /// Every HDF5 file without a user block starts with these bytes.
    private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    private static let chunkSize = 1 << 22

    /// Writes the header into the (512-byte) user block of the finished file at `url`.
    public static func seal(_ url: URL) throws {
        do {
            let handle = try FileHandle(forUpdating: url)
            defer { try? handle.close() }
            let (crc, count) = try checksum(handle)
            var header = Array("\(magic)crc32 \(String(format: "%08x", crc))\nbytes \(count)\n".utf8)
            header += [UInt8](repeating: 0, count: userBlockSize - header.count)
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: header)
        } catch {
            throw CheckpointError(url, "cannot write its checksum: \(error.localizedDescription)")
        }
    }

    /// Checks the header against the file.
    static func verify(_ url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CheckpointError(url, "does not exist") }
        let handle: FileHandle, head: Data
        do {
            handle = try FileHandle(forReadingFrom: url)
            head = try handle.read(upToCount: userBlockSize) ?? Data()
        } catch {
            throw CheckpointError(url, "cannot be read: \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        if head.starts(with: hdf5Signature) {
            throw CheckpointError(
                url, "has no checksum header: a checkpoint of an earlier Facet (version 1 or 2) is converted by "
                    + "`python3 scripts/upgrade_checkpoint.py \(url.path) NEW.h5`; other HDF5 files are not Facet checkpoints")
        }
        let lines = String(decoding: head.prefix { $0 != 0 }, as: UTF8.self).split(separator: "\n").map(String.init)
        guard head.count == userBlockSize, head.starts(with: Array(magic.utf8)), lines.count == 3,
              lines[1].hasPrefix("crc32 "), let expectedCRC = UInt32(lines[1].dropFirst(6), radix: 16),
              lines[2].hasPrefix("bytes "), let expectedCount = Int(lines[2].dropFirst(6))
        else {
            throw CheckpointError(url, "is not a Facet checkpoint (no HDF5 signature and no Facet checksum header)")
        }
        let crc: UInt32, count: Int
        do {
            (crc, count) = try checksum(handle)
        } catch {
            throw CheckpointError(url, "cannot be read: \(error.localizedDescription)")
        }
        guard count == expectedCount else {
            throw CheckpointError(url, "is truncated or extended: \(count) bytes after its header, \(expectedCount) written")
        }
        guard crc == expectedCRC else {
            throw CheckpointError(
                url, "is damaged: its CRC-32 is \(String(format: "%08x", crc)), \(String(format: "%08x", expectedCRC)) when it was written")
        }
    }

    /// CRC-32 and length of everything after the user block.
    private static func checksum(_ handle: FileHandle) throws -> (crc: UInt32, count: Int) {
        try handle.seek(toOffset: UInt64(userBlockSize))
        var crc = CRC32()
        var count = 0
        while let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty {
            crc.update(chunk)
            count += chunk.count
        }
        return (crc.value, count)
    }
}

/// zlib's CRC-32 (reflected polynomial 0xEDB88320), eight bytes per step (slicing-by-8).
struct CRC32 {
    private var state: UInt32 = 0xFFFF_FFFF

    var value: UInt32 { ~state }

    mutating func update(_ data: Data) {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let tables = Self.tables
            var c = state
            var i = 0
            let n = raw.count
            tables.withUnsafeBufferPointer { t in
                while i + 8 <= n {
                    let low = c ^ (UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
                    let high = UInt32(raw[i + 4]) | UInt32(raw[i + 5]) << 8 | UInt32(raw[i + 6]) << 16 | UInt32(raw[i + 7]) << 24
                    c = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                        ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                        ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                        ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                    i += 8
                }
                while i < n {
                    c = t[Int((c ^ UInt32(raw[i])) & 0xFF)] ^ (c >> 8)
                    i += 1
                }
            }
            state = c
        }
    }

    /// tables[k * 256 + b]: the CRC of byte b followed by k zero bytes.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var c = UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            tables[b] = c
        }
        for k in 1..<8 {
            for b in 0..<256 {
                let previous = tables[(k - 1) * 256 + b]
                tables[k * 256 + b] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return tables
    }()
}
