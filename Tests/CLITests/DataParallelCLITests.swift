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

    /// Two ranks on this machine share its cores.
    private var twoRanks: String {
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        return "2 ranks x \(threads) \(threads == 1 ? "thread" : "threads") per rank"
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
            // AdamW divides by the root of the second moment, so a rounding difference in a
            // tiny gradient moves a parameter by more than the gradient's own rounding.
            assertClose(p.a, q.a, atol: 2e-5, rtol: 1e-3, "\(p.module).lora_A", file: file, line: line)
            assertClose(p.b, q.b, atol: 2e-5, rtol: 1e-3, "\(p.module).lora_B", file: file, line: line)
        }
    }

    func testSFTOnTwoRanksEqualsOneProcessWithTwiceTheAccumulation() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))  // LoRA dropout 0.1
        let evaluation = ["--set", "data.eval=\(Fixtures.url("tiny-mistral-eval.jsonl").path)", "--set", "train.eval_every_steps=3"]
        let one = try runTrain(["sft", recipe.path, "--set", "output.dir=\(directory.path)/one"] + evaluation)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try runTrain(ranks: 2, [
            "sft", recipe.path, "--set", "train.gradient_accumulation_steps=1", "--set", "output.dir=\(directory.path)/two",
        ] + evaluation)
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        XCTAssertEqual(two.stdout.components(separatedBy: "facet sft:").count, 2, "rank 0 alone prints: \(two.stdout)")
        XCTAssertTrue(two.stdout.contains(twoRanks), two.stdout)
        XCTAssertTrue(two.stdout.contains("micro-batch 2 x 1 accumulation x 2 ranks"), two.stdout)
        XCTAssertTrue(one.stdout.contains("1 rank x "), one.stdout)
        assertSameSteps(try steps(directory.appendingPathComponent("two")), try steps(directory.appendingPathComponent("one")))
        // The evaluation set, scored in shards by the two ranks, gives the one-process numbers.
        let evaluations = { (run: String) in
            try readJSONLines(directory.appendingPathComponent("\(run)/metrics.jsonl")).filter { $0["eval_loss"] != nil }
        }
        XCTAssertEqual(try evaluations("two").map { $0["step"] as? Int }, [0, 3, 6])
        assertSameSteps(try evaluations("two"), try evaluations("one"))
        try assertSameAdapters(directory.appendingPathComponent("two/final.h5"), directory.appendingPathComponent("one/final.h5"))

        // Resumed with one process from the checkpoint two ranks wrote at step 3 (the global batch
        // kept: accumulation 2), the run continues as the two ranks did.
        let resumed = try runTrain([
            "sft", recipe.path, "--resume", directory.appendingPathComponent("two/step-000003.h5").path,
            "--set", "output.dir=\(directory.path)/resumed",
        ] + evaluation)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let continued = try readJSONLines(directory.appendingPathComponent("resumed/metrics.jsonl")).filter { $0["loss"] != nil }
        XCTAssertEqual(continued.map { $0["step"] as? Int }, [4, 5, 6])
        assertSameSteps(continued, Array(try steps(directory.appendingPathComponent("two")).suffix(3)))
        try assertSameAdapters(directory.appendingPathComponent("resumed/final.h5"), directory.appendingPathComponent("two/final.h5"))
    }

    func testDPOORPOAndRewardModelOnTwoRanksEqualOneProcessWithTwiceTheAccumulation() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        for stage in ["dpo", "orpo", "rm"] {
            // DPO's reference log-probs precomputed, in shards under mpirun.
            let recipe = try writePreferenceRecipe(stage, in: directory, model: model, extra: stage == "dpo" ? "dpo: {precompute_reference: true}" : "")
            // One thread in every process: at step 1 the rewards are rounding noise around 0 (the
            // policy is the reference), and rewards/accuracies counts their signs, which only
            // agree when both runs round alike.
            let short = ["train.epochs=1", "train.micro_batch_size=2", "train.gradient_accumulation_steps=2", "train.eval_every_steps=2"]
                .flatMap { ["--set", $0] } + ["--threads", "1"]
            let one = try runTrain([stage, recipe.path, "--set", "output.dir=\(directory.path)/\(stage)-one"] + short)
            XCTAssertEqual(one.status, 0, one.stderr)
            let two = try runTrain(ranks: 2, [stage, recipe.path, "--set", "output.dir=\(directory.path)/\(stage)-two"] + short
                + ["--set", "train.gradient_accumulation_steps=1"])
            XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
            let a = try steps(directory.appendingPathComponent("\(stage)-two")), b = try steps(directory.appendingPathComponent("\(stage)-one"))
            XCTAssertGreaterThan(b.count, 2, stage)
            XCTAssertNotNil(a.first?[stage == "rm" ? "accuracy" : "rewards/accuracies"], stage)
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

    func testDoctorShowsOpenMPIAndTheWorldSize() throws {
        let alone = try runTrain(["doctor"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertTrue(alone.stdout.contains("mpi:              Open MPI v4"), alone.stdout)
        XCTAssertTrue(alone.stdout.contains("not started by a launcher: 1 rank x "), alone.stdout)
        let job = try runTrain(ranks: 2, ["doctor"])
        XCTAssertEqual(job.status, 0, job.stdout + job.stderr)
        XCTAssertTrue(job.stdout.contains("started by a launcher (OMPI_COMM_WORLD_SIZE): \(twoRanks), 2 on this machine"), job.stdout)
        XCTAssertEqual(job.stdout.components(separatedBy: "openblas core:").count, 2, "rank 0 alone prints: \(job.stdout)")
    }

    func testSpeedBenchmarksUnderMpirunTimeTheAllreduce() throws {
        let step = try runTrain(ranks: 2, ["bench", "--preset", "tiny", "--seq", "16", "--steps", "1", "--json"])
        XCTAssertEqual(step.status, 0, step.stdout + step.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(step.stdout.utf8)) as? [String: Any], "one JSON object, from rank 0")
        XCTAssertEqual(object["ranks"] as? Int, 2)
        XCTAssertGreaterThan(object["allreduce_s_median"] as? Double ?? 0, 0)
        let allreduce = try runTrain(ranks: 2, ["bench", "allreduce", "--floats", "1000", "--repeats", "2", "--json"])
        XCTAssertEqual(allreduce.status, 0, allreduce.stdout + allreduce.stderr)
        let timing = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(allreduce.stdout.utf8)) as? [String: Any], allreduce.stdout)
        XCTAssertEqual(timing["floats"] as? Int, 1000)
        XCTAssertEqual((timing["allreduce_s"] as? [Double])?.count, 2)
    }

    func testAnErrorOnTheRanksEndsTheJobWithTheErrorAndItsRank() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let started = Date()
        let result = try runTrain(ranks: 2, ["sft", recipe.path, "--set", "train.learning_rate=-1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "no rank waits for the others")
        XCTAssertTrue(result.stderr.contains("error (rank 0 of 2): "), result.stderr)
        XCTAssertTrue(result.stderr.contains("train.learning_rate"), result.stderr)
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
