import Foundation
import Tensor
import TestSupport
import XCTest

/// The GGUF reader and writer: dequantization against the gguf package
/// (Tests/Fixtures/make_gguf_golden.py, group dequant), metadata, and malformed files.
final class GGUFTests: XCTestCase {
    func testDequantizationEqualsTheGGUFPackage() throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/quant-blocks.gguf"))
        let golden = try Fixtures.goldenFile("gguf_dequant.safetensors")
        XCTAssertEqual(file.version, 3)
        let expectedTypes: [String: GGUFTensorType] = ["q4_0": .q4_0, "q4_1": .q4_1, "q8_0": .q8_0, "f16": .f16, "bf16": .bf16, "f32": .f32]
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(expectedTypes.keys))
        for (name, type) in expectedTypes {
            XCTAssertEqual(file.info(name)?.type, type, name)
            assertClose(try file.tensor(name), try golden.tensor(name), atol: 0, name)
        }
        // Into bfloat16 storage: the float32 values rounded once.
        assertClose(try file.tensor("q4_1", as: .bfloat16).widened(), try golden.tensor("q4_1").narrowedToBFloat16().widened(), atol: 0, "q4_1 as bf16")
    }

    func testWriterRoundTripsEveryValueTypeAndTensorType() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("round-trip.gguf")
        let metadata: [(key: String, value: GGUFValue)] = [
            ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(60000)), ("i16", .int16(-300)), ("u32", .uint32(4_000_000_000)),
            ("i32", .int32(-7)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))), ("f32", .float32(0.25)),
            ("f64", .float64(-1e300)), ("yes", .bool(true)), ("text", .string("héllo ✓")),
            ("strings", .array(.string, [.string("a"), .string("")])), ("empty", .array(.int32, [])),
            ("nested", .array(.array, [.array(.uint8, [.uint8(1)])])), ("general.alignment", .uint32(64)),
        ]
        let values = Tensor((0..<12).map { Float($0) * 0.37 - 2 }, shape: [3, 4])
        try GGUFFile.write(
            metadata: metadata, tensors: [("a", values, .f32), ("b", values, .f16), ("c", values.narrowedToBFloat16(), .bf16)], to: url)
        let file = try GGUFFile(url: url)
        XCTAssertEqual(file.metadata.map(\.key), metadata.map(\.key))
        for (key, value) in metadata { XCTAssertEqual(file[key], value, key) }
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataOffset % 64, 0)
        XCTAssertEqual(file.info("b")?.dimensions, [4, 3])
        XCTAssertTrue(file.tensors.allSatisfy { $0.offset % 64 == 0 })
        assertClose(try file.tensor("a"), values, atol: 0, "F32")
        assertClose(try file.tensor("b"), Tensor(values.scalars.map { Float(Float16($0)) }, shape: [3, 4]), atol: 0, "F16")
        assertClose(try file.tensor("c", as: .bfloat16).widened(), values.narrowedToBFloat16().widened(), atol: 0, "BF16")
    }

    /// Every malformed file is one error naming the file and what is wrong, never a crash.
    func testMalformedFilesAreNamedErrors() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let good = try Data(contentsOf: Fixtures.url("gguf/quant-blocks.gguf"))
        func assertError(_ bytes: Data, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) throws {
            let url = folder.appendingPathComponent("bad.gguf")
            try bytes.write(to: url)
            XCTAssertThrowsError(try { let f = try GGUFFile(url: url); for t in f.tensors { _ = try f.tensor(t.name) } }(), file: file, line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(url.path + ": ") && fragments.contains { text.contains($0) }, text, file: file, line: line)
            }
        }
        func patched(_ offset: Int, _ bytes: [UInt8]) -> Data {
            var copy = good
            copy.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            return copy
        }
        try assertError(Data("GGML".utf8) + good.dropFirst(4), "not a GGUF file")
        try assertError(patched(4, [1, 0, 0, 0]), "GGUF version 1")
        // Version 2 has version 3's layout (3 only added big-endian files, which carry no marker).
        let version2 = folder.appendingPathComponent("v2.gguf")
        try patched(4, [2, 0, 0, 0]).write(to: version2)
        XCTAssertEqual(try GGUFFile(url: version2).version, 2)
        assertClose(try GGUFFile(url: version2).tensor("q8_0"), try Fixtures.goldenFile("gguf_dequant.safetensors").tensor("q8_0"), atol: 0, "v2")
        try assertError(patched(8, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), "tensor count")
        try assertError(patched(16, [0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0]), "metadata count")
        try assertError(good.prefix(good.count - 10), "is truncated: tensor 'f32'")
        for cut in [5, 20, 40, 100, 200, 400] { try assertError(good.prefix(cut), "truncated", "cannot fit in the file", "past the end of the file") }
        // The first tensor's type code (after its name, rank and dimensions) set to Q4_K.
        let info = try GGUFFile(url: Fixtures.url("gguf/quant-blocks.gguf"))
        let name = info.tensors[0].name
        let nameStart = try XCTUnwrap(good.range(of: Data(name.utf8))).lowerBound
        let typeOffset = nameStart + name.utf8.count + 4 + 8 * info.tensors[0].dimensions.count
        try assertError(patched(typeOffset, [12, 0, 0, 0]), "tensor '\(name)' has type Q4_K (12), which Facet does not read")
    }
}
