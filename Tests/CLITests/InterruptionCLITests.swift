import Foundation
import Tensor
import TestSupport
import Training
import XCTest

/// A real `train sft` child process interrupted, killed or out of disk: nothing is lost that was
/// saved, nothing half-written is left under a checkpoint's name.
final class InterruptionCLITests: XCTestCase {
    /// 60 steps of the tiny run (20 epochs x 3), long enough to be interrupted midway.
    private let longRun = ["--set", "train.epochs=20", "--set", "output.save_every_steps=null"]

    private func losses(_ metrics: URL) throws -> [Int: Double] {
        var byStep = [Int: Double]()
        for line in try readJSONLines(metrics) {
            if let step = line["step"] as? Int, let loss = line["loss"] as? Double { byStep[step] = loss }
        }
        return byStep
    }

    func testSIGINTAndSIGTERMSaveAResumableCheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let uninterrupted = try runTrain(["sft", recipe.path] + longRun + ["--set", "output.dir=\(directory.path)/full"])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.stderr)
        let expected = try losses(directory.appendingPathComponent("full/metrics.jsonl"))
        XCTAssertEqual(expected.count, 60)

        for (signalNumber, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let output = directory.appendingPathComponent("run-\(signalNumber)")
            let child = try TrainProcess(["sft", recipe.path] + longRun + ["--set", "output.dir=\(output.path)"])
            XCTAssertTrue(child.waitForOutput("step 5/60"), child.stdout)
            child.send(signalNumber)
            let result = child.finish()
            XCTAssertEqual(result.status, status, result.stdout + result.stderr)
            let checkpoints = Checkpoint.stepCheckpoints(in: output)
            let checkpoint = try XCTUnwrap(checkpoints.last, "no checkpoint after signal \(signalNumber): \(result.stdout)")
            XCTAssertEqual(checkpoints.count, 1)
            XCTAssertLessThan(checkpoint.step, 60, "stopped before the end")
            XCTAssertTrue(result.stdout.contains("saved \(checkpoint.url.path)"), result.stdout)
            XCTAssertTrue(result.stdout.contains("resume with: train sft \(recipe.path) --resume \(checkpoint.url.path)"), result.stdout)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent("final.h5").path))

            let resumed = try runTrain(["sft", recipe.path] + longRun + ["--set", "output.dir=\(output.path)", "--resume", checkpoint.url.path])
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertEqual(try losses(output.appendingPathComponent("metrics.jsonl")), expected, "losses after resuming")
        }
    }

    func testASecondSignalExitsAtOnce() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let child = try TrainProcess(["sft", recipe.path, "--set", "train.epochs=1000"] + ["--set", "output.save_every_steps=null"])
        XCTAssertTrue(child.waitForOutput("step 2/"), child.stdout)
        child.send(SIGTERM)
        child.send(SIGTERM)
        let result = child.finish()
        XCTAssertEqual(result.status, 143, result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.contains("SIGTERM"), result.stderr)
    }

    /// `kill -9` at random moments of runs that save every step: every step-*.h5 that exists
    /// opens, and the next run resumes from the newest one.
    func testKillDuringSavesNeverLeavesABrokenCheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let output = directory.appendingPathComponent("out")
        // 24 steps, 23 step checkpoints and final.h5.
        let settings = ["--set", "train.epochs=8", "--set", "output.save_every_steps=1", "--set", "output.keep_last=100"]
        var generator = SystemRandomNumberGenerator()
        func start() throws -> TrainProcess {
            let newest = Checkpoint.stepCheckpoints(in: output).last
            return try TrainProcess(["sft", recipe.path] + settings + (newest.map { ["--resume", $0.url.path] } ?? []))
        }
        for kill in 1...6 where !FileManager.default.fileExists(atPath: output.appendingPathComponent("final.h5").path) {
            let child = try start()
            // After start-up, within the stretch where a save happens every few tens of ms.
            XCTAssertTrue(child.waitForOutput("step "), child.stdout)
            usleep(UInt32.random(in: 0..<300_000, using: &generator))
            child.send(SIGKILL)
            _ = child.finish()
            for (step, url) in Checkpoint.stepCheckpoints(in: output) {
                XCTAssertNoThrow(try Checkpoint.read(url), "step \(step) after kill \(kill)")
            }
        }
        if !FileManager.default.fileExists(atPath: output.appendingPathComponent("final.h5").path) {
            let last = try start().finish()
            XCTAssertEqual(last.status, 0, last.stderr)
        }
        XCTAssertEqual(Checkpoint.stepCheckpoints(in: output).map(\.step), Array(1...23))
        for (_, url) in Checkpoint.stepCheckpoints(in: output) { XCTAssertNoThrow(try Checkpoint.read(url)) }
    }

    /// A save that fails (here: the file size limit of `ulimit -f`, as a full disk would)
    /// is one error line; the earlier checkpoint is intact and no temporary file is left.
    func testAFailedSaveKeepsEarlierCheckpoints() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        XCTAssertEqual(try runTrain(["sft", recipe.path]).status, 0)
        let output = directory.appendingPathComponent("out")
        try FileManager.default.removeItem(at: output.appendingPathComponent("final.h5"))
        let earlier = output.appendingPathComponent("step-000003.h5")
        let before = try Data(contentsOf: earlier)

        // 48 KiB: less than a checkpoint (~92 KiB), more than metrics.jsonl. SIGXFSZ ignored, so
        // that the write fails with EFBIG instead of killing the process.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "ulimit -f 48; trap '' XFSZ; exec \"$0\" sft \"$1\" --resume \"$2\"", trainExecutable.path, recipe.path, earlier.path]
        let errors = Pipe()
        shell.standardError = errors
        shell.standardOutput = FileHandle.nullDevice
        try shell.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        XCTAssertEqual(shell.terminationStatus, 1, stderr)
        XCTAssertEqual(stderr.split(separator: "\n").count, 1, stderr)
        XCTAssertTrue(stderr.contains("final.h5: was not saved (earlier checkpoints are kept)"), stderr)
        XCTAssertTrue(stderr.contains("File too large"), stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(), ["metrics.jsonl", "step-000003.h5"])
        XCTAssertEqual(try Data(contentsOf: earlier), before)
        XCTAssertNoThrow(try Checkpoint.read(earlier))
    }
}
