import Foundation
import Model
import Tensor
import TestSupport
import Training
import XCTest

/// Full fine-tuning DPO against TRL (`make_full_dpo` in golden_stages.py): the reference is the
/// policy before training, scored once; loss and gradients of every weight at the start, and
/// the loss after one SGD update of the policy.
final class FullDPOGoldenTests: XCTestCase {
    func testFullFineTuningDPOMatchesTRLWithPrecomputedReference() throws {
        let golden = try Fixtures.goldenFile("full_dpo.safetensors")
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try Recipe(yaml: """
            stage: dpo
            model: {path: \(try Fixtures.tinyMistralFolder(self).path)}
            data: {train: \(Fixtures.url("tiny-mistral-pairs.jsonl").path), max_seq_len: 256}
            train: {epochs: 1, micro_batch_size: 2, gradient_accumulation_steps: 1}
            dpo: {beta: 0.1, precompute_reference: true}
            output: {dir: \(directory.path)}
            """, source: "full-dpo.yaml")
        let run = try TrainingRun(recipe: recipe)
        let start = run.trainer.objective.accumulate(epoch: 0, microBatches: 0..<1)
        XCTAssertEqual(start.loss, Double(try golden.tensor("loss0").item), accuracy: 1e-6)
        let used = try golden.tensor("used_ids").scalars.map(Int.init)
        for parameter in run.trainer.parameters {
            let gradient = try XCTUnwrap(parameter.tensor.grad, parameter.name)
            if golden.names.contains("grad.\(parameter.name)") {
                let expected = try golden.tensor("grad.\(parameter.name)")
                assertClose(gradient, expected, atol: 1e-4 * (expected.scalars.map(abs).max() ?? 1), parameter.name)
            } else {
                let hidden = parameter.tensor.shape[1]
                let rows = Tensor(used.flatMap { row in (0..<hidden).map { gradient.scalars[row * hidden + $0] } }, shape: [used.count, hidden])
                let expected = try golden.tensor("grad_rows.\(parameter.name)")
                assertClose(rows, expected, atol: 1e-4 * (expected.scalars.map(abs).max() ?? 1), "\(parameter.name) rows")
                let norm = gradient.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
                XCTAssertEqual(norm, try golden.tensor("grad_norm.\(parameter.name)").item, accuracy: 1e-3 * norm, parameter.name)  // a sum of 1M small float32 terms
            }
        }
        // One SGD step of the policy; the precomputed reference stays the starting model.
        for parameter in run.trainer.parameters {
            let gradient = parameter.tensor.grad!
            for i in 0..<parameter.tensor.count { parameter.tensor.data[i] -= 0.5 * gradient.data[i] }
            parameter.tensor.grad = nil
        }
        let after = run.trainer.objective.accumulate(epoch: 0, microBatches: 0..<1)
        XCTAssertEqual(after.loss, Double(try golden.tensor("loss1").item), accuracy: 1e-4)
        let metrics = try golden.tensor("metrics1").scalars
        for (index, key) in ["rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"].enumerated() {
            XCTAssertEqual(try XCTUnwrap(after.metrics[key]), Double(metrics[index]), accuracy: 2e-3 * max(1, abs(Double(metrics[index]))), key)
        }
    }
}
