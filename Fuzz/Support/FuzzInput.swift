import Foundation
import Tokenizer

/// One fuzz input: a pointer to `count` bytes (nil when empty).
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ test: FuzzTest) -> Int32

/// Hands `test` to libFuzzer with the command line. SwiftPM gives every executable a `main` of
/// its own (it renames it so that tests can link the module), which keeps libFuzzer's `main` out
/// of the link; this is the entry point libFuzzer offers for that case.
public func runFuzzer(_ test: FuzzTest) -> Never {
    atexit { FuzzInput.removeFiles() }
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// The parsers under test read files (memory-mapped or by path, as the trainer does), so each
/// input goes through a file in memory-backed /dev/shm, rewritten for every run.
public enum FuzzInput {
    private static let url: URL = {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return URL(fileURLWithPath: folder).appendingPathComponent("facet-fuzz-\(getpid())")
    }()

    /// Calls `body` with a file holding the input. An error thrown by the parser is the
    /// expected outcome for most inputs; only crashes and hangs are findings.
    public static func withFile(_ bytes: UnsafePointer<UInt8>?, _ count: Int, extension: String, _ body: (URL) throws -> Void) {
        let file = url.appendingPathExtension(`extension`)
        written = file
        guard (try? data(bytes, count).write(to: file)) != nil else { fatalError("cannot write the fuzz input to \(file.path)") }
        try? body(file)
    }

    /// The input as text, as a YAML or JSON parser would see a file's contents.
    public static func text(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> String {
        String(decoding: data(bytes, count), as: UTF8.self)
    }

    /// The input file of this process, removed at exit.
    private static var written: URL?

    static func removeFiles() {
        if let written { try? FileManager.default.removeItem(at: written) }
    }

    private static func data(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
        bytes.map { Data(bytes: $0, count: count) } ?? Data()
    }
}

/// tokenizer.model and tokenizer.json go through the same loader (it tells them apart by
/// content), then a round trip through the loaded vocabulary.
public func fuzzTokenizer(_ bytes: UnsafePointer<UInt8>?, _ count: Int, extension: String) {
    FuzzInput.withFile(bytes, count, extension: `extension`) { url in
        let tokenizer = try Tokenizer(contentsOf: url)
        _ = tokenizer.decode(tokenizer.encode("Hello wörld 123 \u{1F600}\n\t  end", addBOS: true))
    }
}
