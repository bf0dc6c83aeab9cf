import Foundation

/// Result of running the `train` executable.
public struct CommandResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs `train` to its end.
public func runTrain(_ arguments: [String], in directory: URL? = nil) throws -> CommandResult {
    try TrainProcess(arguments, in: directory).finish()
}

/// The `train` executable built beside the test bundle.
public var trainExecutable: URL {
    let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("train")
    return FileManager.default.fileExists(atPath: beside.path)
        ? beside : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("train")
}

/// Open MPI's `mpirun` on the PATH, or nil where Open MPI is not installed.
public var mpirunExecutable: URL? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// `train` as `ranks` processes of one MPI job. Open MPI refuses root without its two
/// variables; the job shares this machine's cores, however few, and binds no process to one.
public func runTrain(ranks: Int, _ arguments: [String], in directory: URL? = nil) throws -> CommandResult {
    try TrainProcess(arguments, in: directory, ranks: ranks).finish()
}

/// A running `train` child process, for tests that signal or kill it midway.
public final class TrainProcess {
    private let process = Process()
    private let lock = NSLock()
    private var stdoutData = Data(), stderrData = Data()
    private let stdoutClosed = DispatchSemaphore(value: 0), stderrClosed = DispatchSemaphore(value: 0)

    /// `ranks`: started by `mpirun -np ranks` (the process is then mpirun, its children the ranks).
    public init(_ arguments: [String], in directory: URL? = nil, ranks: Int? = nil) throws {
        if let ranks {
            guard let mpirun = mpirunExecutable else { throw FixtureError("mpirun is not on the PATH: install openmpi-bin (`make deps`)") }
            process.executableURL = mpirun
            process.arguments = ["-np", String(ranks), "--oversubscribe", "--bind-to", "none", trainExecutable.path] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"], uniquingKeysWith: { $1 })
        } else {
            process.executableURL = trainExecutable
            process.arguments = arguments
        }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        collect(out, into: \.stdoutData, closed: stdoutClosed)
        collect(err, into: \.stderrData, closed: stderrClosed)
        try process.run()
    }

    public var processIdentifier: Int32 { process.processIdentifier }

    /// The process's children (the ranks, under mpirun).
    public var children: [Int32] {
        let pid = process.processIdentifier
        let list = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return list.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The standard output so far.
    public var stdout: String { lock.withLock { String(decoding: stdoutData, as: UTF8.self) } }

    /// Waits until the standard output contains `text`; false if the process ended or
    /// `timeout` seconds passed first.
    public func waitForOutput(_ text: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            usleep(2000)
        }
        return false
    }

    /// Waits up to `timeout` seconds for the process to end; false if it is still running.
    public func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }

    public func send(_ signalNumber: Int32) {
        kill(process.processIdentifier, signalNumber)
    }

    /// Waits for the process to end and returns its status and output.
    public func finish() -> CommandResult {
        process.waitUntilExit()
        stdoutClosed.wait()
        stderrClosed.wait()
        return lock.withLock {
            CommandResult(
                status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                stderr: String(decoding: stderrData, as: UTF8.self))
        }
    }

    /// Reads the pipe on a thread of its own until end of file (a blocking read: Foundation's
    /// readabilityHandler on Linux can miss the end of a short-lived child's output).
    private func collect(_ pipe: Pipe, into buffer: ReferenceWritableKeyPath<TrainProcess, Data>, closed: DispatchSemaphore) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty {
                lock.withLock { self[keyPath: buffer].append(chunk) }
            }
            closed.signal()
        }
    }
}
