import Evaluation
import Foundation
import TestSupport
import XCTest

/// `train demo` and `train ablate` end to end at a size that runs in seconds (the real
/// numbers come from `make demo` / `make ablation` and are reported in the README).
final class DemoCLITests: XCTestCase {
    func testDemoWritesTheReportAndAblateAddsItsTable() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let sft = Fixtures.repository.appendingPathComponent("Recipes/scratch-sft.yaml")
        let dpo = Fixtures.repository.appendingPathComponent("Recipes/scratch-dpo.yaml")
        let rm = Fixtures.repository.appendingPathComponent("Recipes/scratch-rm.yaml")
        let out = directory.appendingPathComponent("demo")
        let demo = try runTrain([
            "demo", "--from-scratch", "--out", out.path, "--instructions", "12", "--bench-instructions", "2", "--sft-recipe", sft.path,
            "--dpo-recipe", dpo.path, "--rm-recipe", rm.path, "--tokenizer", Fixtures.tokenizerModel.deletingLastPathComponent().path,
            "--set", "train.epochs=1",
        ])
        XCTAssertEqual(demo.status, 0, demo.stderr)
        for expected in [
            "1/7 data: 36 SFT records", "benchmark (untrained)", "benchmark (after SFT)", "benchmark (after DPO)", "5/7 RM",
            "benchmark (after DPO, best of 4)", "7/7 report:",
        ] {
            XCTAssertTrue(demo.stdout.contains(expected), "demo output lacks \(expected):\n\(demo.stdout)")
        }
        let report = try ReportDocument.load(out.appendingPathComponent("report.json"))
        XCTAssertEqual(report.benchmark?.rows.map(\.model), ["untrained", "after SFT", "after DPO", "after DPO, best of 4"])
        XCTAssertEqual(report.generations.map(\.title), [
            "System message 1, untrained", "System message 1, after SFT", "System message 1, after DPO",
            "System message 2, untrained", "System message 2, after SFT", "System message 2, after DPO",
        ])
        XCTAssertEqual(Set(report.generations.prefix(3).map(\.system)).count, 1)
        XCTAssertNotEqual(report.generations[0].system, report.generations[3].system)
        XCTAssertEqual(report.families?.columns, ["untrained", "after SFT", "after DPO", "after DPO, best of 4"])
        XCTAssertFalse(report.families?.rows.isEmpty ?? true)
        XCTAssertTrue(report.families?.rows.allSatisfy { $0.model.hasSuffix("(knowledge)") || $0.model.hasSuffix("(algorithmic)") } ?? false)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("after DPO") && html.contains("RM: reward margins and accuracies")
            && html.contains("Correctness by task family"))

        for (option, name) in [("--instructions", "instructions"), ("--bench-instructions", "bench-instructions")] {
            let zero = try runTrain(["demo", "--out", directory.appendingPathComponent("zero-\(name)").path, option, "0"])
            XCTAssertEqual(zero.status, 1)
            XCTAssertEqual(zero.stderr, "error: \(option) must be at least 1, found 0\n")
        }

        let again = try runTrain(["demo", "--out", out.path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("is not empty"), again.stderr)

        let ablate = try runTrain([
            "ablate", sft.path, "--system-messages", "1,3", "--set", "model.path=\(out.path)/model",
            "--set", "data.train=\(out.path)/data/train.jsonl", "--set", "data.eval=\(out.path)/data/eval.jsonl",
            "--set", "output.dir=\(out.path)/ablation", "--set", "train.epochs=1", "--report", out.path,
        ])
        XCTAssertEqual(ablate.status, 0, ablate.stderr)
        XCTAssertTrue(ablate.stdout.contains("K = 1: 12 records of 12 instructions"), ablate.stdout)
        XCTAssertTrue(ablate.stdout.contains("K = 3: 36 records of 12 instructions"), ablate.stdout)
        let withAblation = try ReportDocument.load(out.appendingPathComponent("report.json"))
        XCTAssertEqual(withAblation.ablation?.rows.map(\.k), [1, 3])
        XCTAssertEqual(withAblation.ablation?.rows.map(\.records), [12, 36])

        let bad = try runTrain(["ablate", sft.path, "--system-messages", "0,2"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("--system-messages"), bad.stderr)
    }

    /// The default demo, shrunk to one step per stage: SmolLM2 from its GGUF file, LoRA, in its
    /// ChatML template, run from the repository as `make demo` runs it.
    func testDemoFineTunesThePretrainedGGUFModel() throws {
        _ = try Fixtures.smolLM2GGUF()
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("demo")
        let demo = try runTrain([
            "demo", "--out", out.path, "--instructions", "2", "--bench-instructions", "1",
            "--set", "train.max_steps=1", "--set", "train.micro_batch_size=2", "--set", "train.eval_every_steps=null",
        ], in: Fixtures.repository)
        XCTAssertEqual(demo.status, 0, demo.stderr)
        XCTAssertTrue(demo.stdout.contains("2/7 assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (llama)"), demo.stdout)
        let report = try ReportDocument.load(out.appendingPathComponent("report.json"))
        XCTAssertEqual(report.benchmark?.rows.map(\.model), ["untrained", "after SFT", "after DPO", "after DPO, best of 4"])
        XCTAssertTrue(report.notes.contains { $0.contains("answered greedily in the `chatml` template") }, "\(report.notes)")
        let sft = try String(contentsOf: out.appendingPathComponent("sft/metrics.jsonl"), encoding: .utf8)
        XCTAssertFalse(sft.isEmpty)
    }
}
