import Foundation
import Model
import TestSupport
import Training
import XCTest

/// `mpirun -np 2 train sft | dpo | orpo`: two ranks with accumulation 1 compute what one process
/// with accumulation 2 computes, LoRA dropout on; checkpoints move between rank counts; a dead
/// rank ends the job. Skipped where Open MPI is not installed (CI installs it: `make deps`).
final class DataParallelCLITests: XCTestCase {
    override func setUpWithError() throws {
        if mpirunExecutable == nil { throw XCTSkip("mpirun is not on the PATH: install openmpi-bin (`make deps`) to run the data-parallel tests") }
    }

    /// The logged steps of a metrics.jsonl (evaluation lines apart), each step once.
    private func steps(_ output: URL) throws -> [[String: Any]] {
        let lines = try readJSONLines(output.appendingPathComponent("metrics.jsonl")).filter { $0["loss"] != nil }
        XCTAssertEqual(lines.map { $0["step"] as? Int }, (1...lines.count).map { $0 }, "each step once, in order")
        return lines
    }

    /// Same steps, with every number (loss, grad_norm, lr, stage metrics) equal up to float32
    /// summation order; tokens_per_s is a time.
    private func assertSameSteps(_ a: [[String: Any]], _ b: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(Set(x.keys), Set(y.keys), file: file, line: line)
            for (key, value) in x where key != "tokens_per_s" {
                guard let u = value as? Double, let v = y[key] as? Double else { continue }
                XCTAssertEqual(u, v, accuracy: 2e-5 * max(abs(v), 1), "step \(x["step"] ?? "?") \(key)", file: file, line: line)
            }
        }
    }

    private func assertSameAdapters(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try Checkpoint.read(a).adapters, y = try Checkpoint.read(b).adapters
        XCTAssertEqual(x.map(\.module), y.map(\.module), file: file, line: line)
        for (p, q) in zip(x, y) {
            assertClose(p.a, q.a, atol: 1e-5, "\(p.module).lora_A", file: file, line: line)
            assertClose(p.b, q.b, atol: 1e-5, "\(p.module).lora_B", file: file, line: line)
        }
    }

    func testSFTOnTwoRanksEqualsOneProcessWithTwiceTheAccumulation() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))  // LoRA dropout 0.1
        let one = try runTrain(["sft", recipe.path, "--set", "output.dir=\(directory.path)/one"])
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try runTrain(ranks: 2, ["sft", recipe.path, "--set", "train.gradient_accumulation_steps=1", "--set", "output.dir=\(directory.path)/two"])
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        XCTAssertEqual(two.stdout.components(separatedBy: "facet sft:").count, 2, "rank 0 alone prints: \(two.stdout)")
        XCTAssertTrue(two.stdout.contains("2 ranks x 1 thread per rank"), two.stdout)
        XCTAssertTrue(two.stdout.contains("micro-batch 2 x 1 accumulation x 2 ranks"), two.stdout)
        XCTAssertTrue(one.stdout.contains("1 rank x "), one.stdout)
        assertSameSteps(try steps(directory.appendingPathComponent("two")), try steps(directory.appendingPathComponent("one")))
        try assertSameAdapters(directory.appendingPathComponent("two/final.h5"), directory.appendingPathComponent("one/final.h5"))

        // Resumed with one process from the checkpoint two ranks wrote at step 3 (the global batch
        // kept: accumulation 2), the run continues as the two ranks did.
        let resumed = try runTrain([
            "sft", recipe.path, "--resume", directory.appendingPathComponent("two/step-000003.h5").path,
            "--set", "output.dir=\(directory.path)/resumed",
        ])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let continued = try readJSONLines(directory.appendingPathComponent("resumed/metrics.jsonl"))
        XCTAssertEqual(continued.map { $0["step"] as? Int }, [4, 5, 6])
        assertSameSteps(continued, Array(try steps(directory.appendingPathComponent("two")).suffix(3)))
        try assertSameAdapters(directory.appendingPathComponent("resumed/final.h5"), directory.appendingPathComponent("two/final.h5"))
    }

    private func preferenceRecipe(_ stage: String, in directory: URL, model: URL) throws -> URL {
        let url = directory.appendingPathComponent("\(stage).yaml")
        try """
        stage: \(stage)
        model: {path: \(model.path)}
        lora: {r: 4, alpha: 8, dropout: 0.1, target_modules: all-linear}
        data:
          train: \(Fixtures.url("preference-sample.jsonl").path)
          eval: \(Fixtures.url("preference-heldout.jsonl").path)
          max_seq_len: 256
        train: {epochs: 1, micro_batch_size: 2, gradient_accumulation_steps: 2, learning_rate: 5.0e-3, warmup_steps: 1, eval_every_steps: 2}
        output: {dir: \(directory.appendingPathComponent("unused").path)}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testDPOAndORPOOnTwoRanksEqualOneProcessWithTwiceTheAccumulation() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        for stage in ["dpo", "orpo"] {
            let recipe = try preferenceRecipe(stage, in: directory, model: model)
            let one = try runTrain([stage, recipe.path, "--set", "output.dir=\(directory.path)/\(stage)-one"])
            XCTAssertEqual(one.status, 0, one.stderr)
            let two = try runTrain(ranks: 2, [
                stage, recipe.path, "--set", "train.gradient_accumulation_steps=1", "--set", "output.dir=\(directory.path)/\(stage)-two",
            ])
            XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
            let a = try steps(directory.appendingPathComponent("\(stage)-two")), b = try steps(directory.appendingPathComponent("\(stage)-one"))
            XCTAssertGreaterThan(b.count, 2, stage)
            XCTAssertNotNil(a.first?["rewards/accuracies"], stage)
            if stage == "orpo" { XCTAssertNotNil(a.first?["nll_loss"]) }
            assertSameSteps(a, b)
            // Evaluation (on rank 0) and its metrics, once per evaluation.
            let evaluations = { (run: String) in
                try readJSONLines(directory.appendingPathComponent("\(stage)-\(run)/metrics.jsonl")).filter { $0["eval_loss"] != nil }
            }
            XCTAssertEqual(try evaluations("two").count, try evaluations("one").count, stage)
            assertSameSteps(try evaluations("two"), try evaluations("one"))
            try assertSameAdapters(
                directory.appendingPathComponent("\(stage)-two/final.h5"), directory.appendingPathComponent("\(stage)-one/final.h5"))
        }
    }

    func testAKilledRankEndsTheJobWithAnErrorAndKeepsTheLastCheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let output = directory.appendingPathComponent("killed")
        let job = try TrainProcess([
            "sft", recipe.path, "--set", "train.epochs=1000", "--set", "train.gradient_accumulation_steps=1",
            "--set", "output.save_every_steps=2", "--set", "output.dir=\(output.path)",
        ], ranks: 2)
        XCTAssertTrue(job.waitForOutput("saved \(output.path)/step-000004.h5"), job.stdout)
        let ranks = job.children
        XCTAssertEqual(ranks.count, 2, "mpirun's children are the ranks")
        kill(try XCTUnwrap(ranks.last), SIGKILL)
        let ended = job.waitForExit(timeout: 30)
        if !ended { job.send(SIGKILL) }
        let result = job.finish()
        XCTAssertTrue(ended, "the job still ran 30 s after a rank died: \(result.stdout)")
        XCTAssertNotEqual(result.status, 0)
        let last = try XCTUnwrap(Checkpoint.stepCheckpoints(in: output).last)
        XCTAssertGreaterThanOrEqual(last.step, 4)
        XCTAssertEqual(try Checkpoint.read(last.url).globalStep, last.step, "the last checkpoint is whole")
    }
}
