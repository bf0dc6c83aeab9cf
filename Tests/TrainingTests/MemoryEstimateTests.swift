import Foundation
import Model
import TestSupport
import Training
import XCTest

/// The memory estimate of `--dry-run`, and the check that stops a run that cannot fit before
/// any weight is loaded.
final class MemoryEstimateTests: XCTestCase {
    private func recipe(_ model: URL, output: URL, extra: String = "") throws -> Recipe {
        try Recipe(yaml: """
            stage: sft
            model: {path: \(model.path)}
            lora: {r: 4, alpha: 8}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
            train: {epochs: 1\(extra)}
            output: {dir: \(output.path)}
            """, source: "test recipe")
    }

    func testEstimateFromTheConfigMatchesTheLoadedModel() throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let run = try TrainingRun(recipe: try recipe(model, output: try Fixtures.temporaryDirectory(self)))
        XCTAssertEqual(run.model.config.parameterCount, run.model.namedWeights.reduce(0) { $0 + $1.tensor.count })
        let estimate = MemoryEstimate(run.model.config, recipe: run.recipe)
        XCTAssertEqual(run.plan.estimatedMemoryBytes, estimate.bytes)
        // LoRA r 4 on all seven projections of both layers: 4096 trainable parameters, as the model says.
        XCTAssertEqual(run.plan.trainableParameters, 4096)
        let weights = run.model.config.parameterCount * 4, trainable = 16 * 4096
        XCTAssertGreaterThan(estimate.bytes, weights + trainable)
    }

    func testActivationRecomputationLowersTheEstimate() throws {
        let output = try Fixtures.temporaryDirectory(self)
        let model = URL(fileURLWithPath: "/unused")
        let kept = MemoryEstimate(.mistral7Bv02, recipe: try recipe(model, output: output, extra: ", activation_checkpointing: false"))
        let recomputed = MemoryEstimate(.mistral7Bv02, recipe: try recipe(model, output: output, extra: ", activation_checkpointing: true"))
        XCTAssertLessThan(recomputed.bytes, kept.bytes)
    }

    func testARunThatCannotFitStopsBeforeLoading() throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let output = try Fixtures.temporaryDirectory(self)
        // A config far larger than the weights on disk: loading would fail on the first
        // tensor's shape, so the memory error shows that nothing was loaded.
        let configURL = model.appendingPathComponent("config.json")
        let config = try String(contentsOf: configURL, encoding: .utf8)
        try config.replacingOccurrences(of: #""num_hidden_layers": 2"#, with: #""num_hidden_layers": 2000000"#)
            .write(to: configURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingRun(recipe: try recipe(model, output: output))) { error in
            XCTAssertTrue("\(error)".hasPrefix("not enough memory: this run needs about "), "\(error)")
            XCTAssertTrue("\(error)".contains("/proc/meminfo reports"), "\(error)")
        }

        let meminfo = output.appendingPathComponent("meminfo")
        try "MemTotal:       1000000 kB\nMemAvailable:      1024 kB\n".write(to: meminfo, atomically: true, encoding: .utf8)
        let tiny = MemoryEstimate(try MistralConfig(contentsOf: Fixtures.url("tiny-mistral/config.json")), recipe: try recipe(model, output: output))
        XCTAssertThrowsError(try tiny.check(meminfo: meminfo), "more than 1 MiB")
        try "MemTotal:       1000000 kB\n".write(to: meminfo, atomically: true, encoding: .utf8)
        XCTAssertNoThrow(try tiny.check(meminfo: meminfo), "no MemAvailable line: no check")
    }
}
