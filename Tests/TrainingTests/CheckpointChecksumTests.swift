import Foundation
import TestSupport
import Training
import XCTest

/// A checkpoint's CRC-32 header is checked before libhdf5 reads a byte of the file: truncated,
/// extended or damaged files, and files without the header, are named errors.
final class CheckpointChecksumTests: XCTestCase {
    /// A one-step LoRA checkpoint of the tiny model.
    private func checkpoint() throws -> URL {
        let folder = try Fixtures.tinyMistralFolder(self)
        let output = try Fixtures.temporaryDirectory(self).appendingPathComponent("out")
        let recipe = try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            lora: {r: 2, alpha: 4}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 64}
            train: {max_steps: 1, micro_batch_size: 2, learning_rate: 1.0e-3}
            output: {dir: \(output.path)}
            """, source: "test recipe")
        let run = try TrainingRun(recipe: recipe)
        try run.trainer.run { _ in }
        return output.appendingPathComponent("final.h5")
    }

    private func copy(_ url: URL, _ change: (inout [UInt8]) -> Void) throws -> URL {
        var bytes = [UInt8](try Data(contentsOf: url))
        change(&bytes)
        let changed = try Fixtures.temporaryDirectory(self).appendingPathComponent("changed.h5")
        try Data(bytes).write(to: changed)
        return changed
    }

    private func assertRefused(_ url: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint.read(url), file: file, line: line) { error in
            XCTAssertEqual("\(error)", "\(url.path): \(message)", file: file, line: line)
        }
    }

    func testTheHeaderIsZlibsCRC32OfWhatFollowsIt() throws {
        let url = try checkpoint()
        XCTAssertEqual(try Checkpoint.read(url).globalStep, 1)
        let bytes = [UInt8](try Data(contentsOf: url))
        let header = String(decoding: bytes.prefix(512).prefix { $0 != 0 }, as: UTF8.self)
        XCTAssertEqual(header, "facet-checkpoint\ncrc32 \(String(format: "%08x", Self.bitwiseCRC32(bytes.dropFirst(512))))\nbytes \(bytes.count - 512)\n")
        XCTAssertEqual(Array(bytes[512..<520]), [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A], "the HDF5 superblock follows the user block")
        // zlib.crc32(b"123456789") is the CRC-32 check value.
        XCTAssertEqual(Self.bitwiseCRC32(Array("123456789".utf8)[...]), 0xCBF4_3926)
    }

    func testDamagedTruncatedAndHeaderlessFilesAreNamedErrors() throws {
        let url = try checkpoint()
        let size = try Data(contentsOf: url).count
        let written = String(format: "%08x", Self.bitwiseCRC32([UInt8](try Data(contentsOf: url)).dropFirst(512)))
        for offset in [600, size / 2, size - 1] {
            let flipped = try copy(url) { $0[offset] ^= 0x10 }
            let crc = String(format: "%08x", Self.bitwiseCRC32([UInt8](try Data(contentsOf: flipped)).dropFirst(512)))
            assertRefused(flipped, "is damaged: its CRC-32 is \(crc), \(written) when it was written")
        }
        assertRefused(try copy(url) { $0.removeLast(100) }, "is truncated or extended: \(size - 612) bytes after its header, \(size - 512) written")
        assertRefused(try copy(url) { $0.append(0) }, "is truncated or extended: \(size - 511) bytes after its header, \(size - 512) written")
        assertRefused(try copy(url) { $0[0] = UInt8(ascii: "F") }, "is not a Facet checkpoint (no HDF5 signature and no Facet checksum header)")
        let headerless = try copy(url) { $0 = Array($0.dropFirst(512)) }
        assertRefused(headerless,
            "has no checksum header: a checkpoint of an earlier Facet (version 1 or 2) is converted by "
                + "`python3 scripts/upgrade_checkpoint.py \(headerless.path) NEW.h5`; other HDF5 files are not Facet checkpoints")
        assertRefused(try copy(url) { $0 = Array($0.prefix(100)) }, "is not a Facet checkpoint (no HDF5 signature and no Facet checksum header)")
    }

    /// The CRC-32 one bit at a time, as its definition reads.
    private static func bitwiseCRC32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
