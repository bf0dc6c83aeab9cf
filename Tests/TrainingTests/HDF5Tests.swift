import Foundation
import Tensor
import TestSupport
import Training
import XCTest

final class HDF5Tests: XCTestCase {
    private func temporaryFile(_ name: String = "test.h5") throws -> URL {
        try Fixtures.temporaryDirectory(self).appendingPathComponent(name)
    }

    func testTensorsRoundTripWithTheirShapes() throws {
        let url = try temporaryFile()
        let tensors: [(String, Tensor)] = [
            ("/adapter/model.layers.0.self_attn.q_proj/lora_A", randomTensor([4, 16], seed: 1)),
            ("/adapter/model.layers.0.self_attn.q_proj/lora_B", randomTensor([16, 4], seed: 2)),
            ("/one", randomTensor([1], seed: 3)),
            ("/vector", randomTensor([7], seed: 4)),
            ("/cube/values", randomTensor([2, 3, 4], seed: 5)),
            ("/scalar", Tensor.scalar(-1.5)),
            ("/empty", Tensor(zeros: [0, 3])),
            ("/large", randomTensor([512, 1024], seed: 6)),
        ]
        let file = try HDF5File.create(url)
        for (path, tensor) in tensors { try file.write(tensor, to: path) }
        try file.flush()
        file.close()

        let reopened = try HDF5File.open(url)
        defer { reopened.close() }
        for (path, tensor) in tensors {
            XCTAssertEqual(try reopened.shape(of: path), tensor.shape, path)
            let read = try reopened.readTensor(path)
            XCTAssertEqual(read.dtype, .float32, path)
            assertClose(read, tensor, atol: 0, path)
        }
    }

    func testBFloat16TensorsAreStoredWidened() throws {
        let url = try temporaryFile()
        let narrow = randomTensor([3, 5], seed: 7).narrowedToBFloat16()
        let file = try HDF5File.create(url)
        try file.write(narrow, to: "/weights/w")
        assertClose(try file.readTensor("/weights/w"), narrow.widened(), atol: 0, "w")
        file.close()
    }

    func testEveryAttributeKindRoundTripsOnGroupsAndDatasets() throws {
        let url = try temporaryFile()
        let attributes: [(String, HDF5Attribute)] = [
            ("format", .string("facet-checkpoint")),
            ("recipe", .string("model: mistral\nlora:\n  r: 16  # ünïcödé ✓\n")),
            ("empty_text", .string("")),
            ("global_step", .int(120)),
            ("negative", .int(Int.min)),
            ("lr", .double(2e-5)),
            ("inf", .double(-.infinity)),
            ("sizes", .ints([3, -1, Int.max])),
            ("no_sizes", .ints([])),
            ("state", .uint64s([UInt64.max, 0, 0x9E37_79B9_7F4A_7C15])),
        ]
        let paths = ["/", "/optimizer", "/adapter/model.layers.0.mlp.up_proj/lora_A"]
        let file = try HDF5File.create(url)
        try file.createGroup("/optimizer")
        try file.write(randomTensor([2, 2], seed: 8), to: paths[2])
        for path in paths {
            for (name, value) in attributes { try file.setAttribute(name, value, at: path) }
        }
        file.close()

        let reopened = try HDF5File.open(url)
        defer { reopened.close() }
        for path in paths {
            XCTAssertEqual(try reopened.attributeNames(at: path), attributes.map(\.0).sorted(), path)
            for (name, value) in attributes {
                XCTAssertEqual(try reopened.attribute(name, at: path), value, "\(name) at \(path)")
            }
        }
        XCTAssertEqual(try reopened.string("format"), "facet-checkpoint")
        XCTAssertEqual(try reopened.int("global_step"), 120)
        XCTAssertEqual(try reopened.double("lr", at: "/optimizer"), 2e-5)
        XCTAssertEqual(try reopened.double("global_step"), 120, "an int attribute reads as a double")
    }

    func testSettingAnAttributeAgainReplacesIt() throws {
        let file = try HDF5File.create(try temporaryFile())
        defer { file.close() }
        try file.setAttribute("step", .int(1))
        try file.setAttribute("step", .string("two"))
        XCTAssertEqual(try file.attribute("step"), .string("two"))
        XCTAssertEqual(try file.attributeNames(at: "/"), ["step"])
    }

    func testLargeAttributesFit() throws {
        let file = try HDF5File.create(try temporaryFile())
        defer { file.close() }
        let state = (0..<20_000).map { UInt64($0) * 0x1_0000_0001 }
        try file.setAttribute("state", .uint64s(state))
        try file.setAttribute("recipe", .string(String(repeating: "key: value\n", count: 20_000)))
        XCTAssertEqual(try file.attribute("state"), .uint64s(state))
    }

    func testGroupsAreCreatedWithTheirParentsAndListedSorted() throws {
        let file = try HDF5File.create(try temporaryFile())
        defer { file.close() }
        try file.createGroup("/a/b/c")
        try file.createGroup("/a/b/c")
        try file.write(Tensor.scalar(1), to: "/a/model.layers.10.mlp")
        try file.write(Tensor.scalar(2), to: "a/model.layers.2.mlp")
        try file.createGroup("/a/Z")

        XCTAssertTrue(file.exists("/"))
        XCTAssertTrue(file.exists("/a/b/c"))
        XCTAssertTrue(file.exists("/a/model.layers.10.mlp"))
        XCTAssertFalse(file.exists("/a/model"))
        XCTAssertFalse(file.exists("/missing/deeper/still"))
        XCTAssertFalse(file.exists("/a/model.layers.2.mlp/below_a_dataset"))
        XCTAssertEqual(try file.members(of: "/"), ["a"])
        XCTAssertEqual(try file.members(of: "/a"), ["Z", "b", "model.layers.10.mlp", "model.layers.2.mlp"])
        XCTAssertEqual(try file.members(of: "/a/b/c"), [])
    }

    func testMisuseGivesErrorsNamingTheFileAndPath() throws {
        let url = try temporaryFile()
        let file = try HDF5File.create(url)
        try file.write(Tensor.ones([2]), to: "/group/data")
        try file.setAttribute("name", .string("x"), at: "/group")

        assertError(try file.readTensor("/group/missing"), mentions: url.path, "/group/missing", "does not exist")
        assertError(try file.readTensor("/group"), mentions: url.path, "/group", "is a group")
        assertError(try file.members(of: "/group/data"), mentions: url.path, "/group/data", "is a dataset")
        assertError(try file.shape(of: "/nowhere"), mentions: url.path, "/nowhere")
        assertError(try file.write(Tensor.ones([1]), to: "/group/data"), mentions: url.path, "/group/data", "already exists")
        assertError(try file.write(Tensor.ones([1]), to: "/group/data/below"), mentions: url.path, "/group/data is a dataset")
        assertError(try file.createGroup("/group/data/below"), mentions: url.path, "/group/data is a dataset")
        assertError(try file.createGroup("/group/data"), mentions: url.path, "/group/data", "is a dataset")
        assertError(try file.setAttribute("a", .int(1), at: "/nowhere"), mentions: url.path, "/nowhere")
        assertError(try file.attribute("absent", at: "/group"), mentions: url.path, "/group", "'absent'")
        assertError(try file.int("name", at: "/group"), mentions: url.path, "'name'", "/group", "is a string, expected an int")
        assertError(try file.string("missing"), mentions: url.path, "'missing'")
        assertError(try file.setAttribute("name", .string("a\0b"), at: "/group"), mentions: url.path, "NUL")
        XCTAssertEqual(try file.string("name", at: "/group"), "x", "a rejected value leaves the old one")

        file.close()
        file.close()
        XCTAssertFalse(file.exists("/group"))
        assertError(try file.readTensor("/group/data"), mentions: url.path, "closed")

        let readOnly = try HDF5File.open(url)
        defer { readOnly.close() }
        assertError(try readOnly.write(Tensor.ones([1]), to: "/new"), mentions: url.path, "/new")
        assertError(try readOnly.setAttribute("a", .int(1)), mentions: url.path, "'a'")
    }

    func testUnreadableFilesGiveErrorsNamingTheFile() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let missing = directory.appendingPathComponent("missing.h5")
        assertError(try HDF5File.open(missing), mentions: missing.path, "does not exist")
        let nowhere = directory.appendingPathComponent("no/such/folder/out.h5")
        assertError(try HDF5File.create(nowhere), mentions: nowhere.path, "cannot be created")

        let text = directory.appendingPathComponent("notes.h5")
        try "not an HDF5 file, just text\n".write(to: text, atomically: true, encoding: .utf8)
        assertError(try HDF5File.open(text), mentions: text.path, "not a readable HDF5 file")

        let truncated = directory.appendingPathComponent("truncated.h5")
        let file = try HDF5File.create(truncated)
        try file.write(randomTensor([64, 64], seed: 9), to: "/weights/w")
        try file.setAttribute("format", .string("facet-checkpoint"))
        file.close()
        let bytes = try Data(contentsOf: truncated)
        try bytes.prefix(bytes.count / 2).write(to: truncated)
        assertError(try HDF5File.open(truncated), mentions: truncated.path, "truncated")
    }

    func testClosedFileCanBeRenamedAndRemovedAtOnce() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let temporary = directory.appendingPathComponent(".step-000001.h5.tmp")
        let final = directory.appendingPathComponent("step-000001.h5")
        let file = try HDF5File.create(temporary)
        try file.write(randomTensor([8, 8], seed: 10), to: "/adapter/m/lora_A")
        try file.flush()
        file.close()
        try FileManager.default.moveItem(at: temporary, to: final)
        let reopened = try HDF5File.open(final)
        XCTAssertEqual(try reopened.shape(of: "/adapter/m/lora_A"), [8, 8])
        reopened.close()
        try FileManager.default.removeItem(at: final)
        let replacement = try HDF5File.create(final)
        replacement.close()
    }

    /// libhdf5 would print its error stack to stderr, and its silencing is per thread.
    func testFailuresPrintNothingOnAnyThread() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let text = directory.appendingPathComponent("notes.h5")
        try "text".write(to: text, atomically: true, encoding: .utf8)
        let captured = directory.appendingPathComponent("stderr.txt")

        fflush(stderr)
        let savedStandardError = dup(2)
        let capture = open(captured.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        dup2(capture, 2)
        close(capture)
        let done = DispatchSemaphore(value: 0)
        let failures = FailureCount()
        Thread {
            if (try? HDF5File.open(text)) == nil { failures.count += 1 }
            if (try? HDF5File.create(directory.appendingPathComponent("none/x.h5"))) == nil { failures.count += 1 }
            if let file = try? HDF5File.create(directory.appendingPathComponent("ok.h5")) {
                if (try? file.write(Tensor.ones([1]), to: "/a")) != nil, (try? file.write(Tensor.ones([1]), to: "/a/b")) == nil {
                    failures.count += 1
                }
                file.close()
            }
            done.signal()
        }.start()
        done.wait()
        fflush(stderr)
        dup2(savedStandardError, 2)
        close(savedStandardError)

        XCTAssertEqual(failures.count, 3)
        XCTAssertEqual(try String(contentsOf: captured, encoding: .utf8), "")
    }

    /// Written by the thread, read after the semaphore says it is done.
    private final class FailureCount: @unchecked Sendable {
        var count = 0
    }

    /// Tests/Fixtures/h5py_written.h5 comes from Tests/Fixtures/make_h5py_fixture.py.
    func testReadsWhatH5pyWrites() throws {
        let url = Fixtures.url("h5py_written.h5")
        let file = try HDF5File.open(url)
        defer { file.close() }

        // Refused, not read: libhdf5 1.10 crashes on corrupt variable-length strings (FuzzFindingsTests).
        assertError(try file.string("vlen_utf8"), mentions: url.path, "'vlen_utf8'", "variable-length string")
        assertError(try file.string("vlen_ascii"), mentions: url.path, "'vlen_ascii'", "variable-length string")
        XCTAssertEqual(try file.string("fixed_ascii"), "fixed")
        XCTAssertEqual(try file.string("fixed_utf8"), "fixé")
        XCTAssertEqual(try file.int("int32"), -7)
        XCTAssertEqual(try file.int("int64"), 1_234_567_890_123)
        XCTAssertEqual(try file.int("uint8"), 200)
        XCTAssertEqual(try file.double("float64"), 0.25)
        XCTAssertEqual(try file.double("float32"), 0.5)
        XCTAssertEqual(try file.attribute("int32s"), .ints([1, -2, 3]))
        XCTAssertEqual(try file.attribute("uint64s"), .uint64s([UInt64.max, 0, 42]))
        assertError(try file.attribute("strings"), mentions: url.path, "'strings'", "string of shape [2]")
        assertError(try file.attribute("float64s"), mentions: url.path, "'float64s'", "float64 of shape [2]")

        let module = "/adapter/model.layers.0.self_attn.q_proj"
        XCTAssertEqual(try file.members(of: "/adapter"), ["model.layers.0.self_attn.q_proj"])
        XCTAssertEqual(try file.int("r", at: module), 4)
        XCTAssertEqual(try file.double("alpha", at: module), 16)
        assertClose(
            try file.readTensor("\(module)/lora_A"), Tensor([0, 0.25, 0.5, 0.75, 1, 1.25], shape: [2, 3]), atol: 0, "lora_A")
        assertClose(try file.readTensor("/scalar"), Tensor.scalar(2.5), atol: 0, "scalar")
        assertError(try file.readTensor("/float64"), mentions: url.path, "/float64", "float64, expected float32")
        assertError(try file.readTensor("/counts"), mentions: url.path, "/counts", "int32, expected float32")
    }

    private func assertError<T>(
        _ expression: @autoclosure () throws -> T, mentions parts: String..., file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            guard let error = error as? HDF5Error else {
                return XCTFail("expected an HDF5Error, got \(error)", file: file, line: line)
            }
            for part in parts {
                XCTAssertTrue(
                    error.description.contains(part), "'\(error.description)' does not mention '\(part)'",
                    file: file, line: line)
            }
        }
    }
}
