import Foundation
import TestSupport
import XCTest

/// `train eval --bench` end to end: answers, the rule-based judge, outputs and resume.
final class BenchCLITests: XCTestCase {
    func testRuleJudgedBenchWritesOutputsAndResumes() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        XCTAssertEqual(try runTrain(["synth", "--out", directory.path, "--instructions", "3", "--bench-instructions", "1"]).status, 0)
        let model = try Fixtures.tinyMistralFolder(self)
        let out = directory.appendingPathComponent("eval")
        let arguments = [
            "eval", "--model", model.path, "--bench", directory.appendingPathComponent("bench.jsonl").path, "--judge", "rule",
            "--out", out.path, "--max-new-tokens", "8", "--json",
        ]
        let result = try runTrain(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(Set(first.keys), ["index", "response", "scores", "mean"])
        XCTAssertEqual((first["scores"] as? [Double])?.count, 4)
        XCTAssertEqual(try readJSONLines(out.appendingPathComponent("responses.jsonl")).count, 3)
        XCTAssertEqual(try readJSONLines(out.appendingPathComponent("judgments.jsonl")).count, 12)
        let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("scores.json"))) as? [String: Any])
        XCTAssertEqual(scores["failures"] as? Int, 0)
        XCTAssertEqual(Set((scores["per_dimension"] as? [String: Double])?.keys ?? [:].keys), ["style", "background_knowledge", "informativeness", "harmlessness"])

        let again = try runTrain(arguments)
        XCTAssertEqual(again.stdout, result.stdout, "the rerun reads what is written")
        XCTAssertTrue(again.stderr.contains("resuming: 3 answers and 12 judgments already written"), again.stderr)
        XCTAssertEqual(try readJSONLines(out.appendingPathComponent("judgments.jsonl")).count, 12)

        let summary = try runTrain(Array(arguments.dropLast()))
        XCTAssertTrue(summary.stdout.contains("3 records judged by the rule-based judge"), summary.stdout)

        // Answered one at a time, the same answers as batched (the default, 8 at a time).
        let single = directory.appendingPathComponent("eval-single")
        let oneByOne = try runTrain(arguments.map { $0 == out.path ? single.path : $0 } + ["--batch-size", "1"])
        XCTAssertEqual(oneByOne.status, 0, oneByOne.stderr)
        XCTAssertEqual(oneByOne.stdout, result.stdout)
        XCTAssertEqual(try runTrain(arguments + ["--batch-size", "0"]).stderr.contains("--batch-size must be at least 1"), true)
    }

    func testBadBenchUsesGiveOneReadableError() throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let out = try Fixtures.temporaryDirectory(self).path
        let real = Fixtures.url("bench-real-format.jsonl").path
        let rule = try runTrain(["eval", "--model", model.path, "--bench", real, "--judge", "rule", "--out", out])
        XCTAssertEqual(rule.status, 1)
        XCTAssertEqual(rule.stderr, "error: \(real):1: field 'answer': missing (the rule-based judge reads `train synth` benches only)\n")
        let asData = try runTrain(["eval", "--model", model.path, "--data", real])
        XCTAssertEqual(asData.status, 1)
        XCTAssertTrue(asData.stderr.contains("evaluate it with --bench"), asData.stderr)
        let noJudge = try runTrain(["eval", "--model", model.path, "--bench", real, "--out", out])
        XCTAssertNotEqual(noJudge.status, 0)
        XCTAssertTrue(noJudge.stderr.contains("--judge rule, or --judge-url URL with --judge-model NAME"), noJudge.stderr)
        let missingKey = try runTrain([
            "eval", "--model", model.path, "--bench", real, "--out", out, "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m",
            "--judge-key-env", "FACET_TEST_UNSET_KEY",
        ])
        XCTAssertEqual(missingKey.status, 1)
        XCTAssertTrue(missingKey.stderr.contains("FACET_TEST_UNSET_KEY is not set"), missingKey.stderr)
    }
}
