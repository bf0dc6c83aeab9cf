import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// LoRA and full fine-tuning against transformers + peft + torch.optim.AdamW
/// (`make_lora_training` in make_golden.py).
final class LoRATrainingGoldenTests: XCTestCase {
    private let golden = Result { try Fixtures.goldenFile("lora_sft.safetensors") }

    private func peftName(_ module: String, _ matrix: String) -> String { LoRAGoldenCase.peftName(module, matrix) }

    private func goldenBatch(_ tokenizer: Tokenizer) throws -> MicroBatch { try LoRAGoldenCase.batch(tokenizer) }

    func testBatchingMatchesTheGoldenBatch() throws {
        let golden = try golden.get()
        let folder = try Fixtures.tinyMistralFolder(self)
        let batch = try goldenBatch(try Tokenizer.load(modelDirectory: folder))
        XCTAssertEqual(batch.tokens.ids.map(Float.init), try golden.tensor("input_ids").scalars)
        // Golden labels are unshifted (-100 off the response); ours are the next token's id.
        let labels = try golden.tensor("labels").scalars
        let width = batch.tokens.tokens
        let shifted = (0..<labels.count).map { i in i % width == width - 1 ? -1 : (labels[i + 1] < 0 ? -1 : labels[i + 1]) }
        XCTAssertEqual(batch.targets.map(Float.init), shifted)
        XCTAssertEqual(Float(batch.scoredTokens), try golden.tensor("response_tokens").item)
    }

    func testLoRAGradientsAtStepZeroMatchPEFT() throws {
        let golden = try golden.get()
        let folder = try Fixtures.tinyMistralFolder(self)
        let model = try Mistral.load(directory: folder)
        let batch = try goldenBatch(try Tokenizer.load(modelDirectory: folder))
        for useRSLoRA in [false, true] {
            try LoRAGoldenCase.attachInitialAdapters(model, from: golden, useRSLoRA: useRSLoRA)
            let loss = model.logProbs(batch.tokens, targets: batch.targets).sum() * (-1 / Float(batch.scoredTokens))
            let expected = try golden.tensor(useRSLoRA ? "grad0_loss_rslora" : "grad0_loss").item
            XCTAssertEqual(loss.item, expected, accuracy: 1e-4 * abs(expected))
            guard !useRSLoRA else { continue }
            loss.backward()
            for linear in model.linears {
                let adapter = try XCTUnwrap(linear.adapter)
                for (matrix, tensor) in [("lora_A", adapter.a), ("lora_B", adapter.b)] {
                    let reference = try golden.tensor("grad0_grad." + peftName(linear.name, matrix))
                    let scale = reference.scalars.map(abs).max() ?? 1
                    assertClose(try XCTUnwrap(tensor.grad), reference, atol: 1e-4 * scale, "\(linear.name).\(matrix) gradient")
                }
            }
        }
    }

    /// The whole training loop (recipe, data, trainer, AdamW, cosine warmup, clipping) for
    /// five steps with the adapters' A taken from the golden run.
    func testFiveAdamWStepsWithCosineScheduleMatchTorch() throws {
        let golden = try golden.get()
        let folder = try Fixtures.tinyMistralFolder(self)
        let output = try Fixtures.temporaryDirectory(self).appendingPathComponent("run")
        let recipe = try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            lora: {r: 4, alpha: 8, dropout: 0.0, target_modules: all-linear}
            data: {train: \(Fixtures.url("tiny-mistral-eval.jsonl").path), max_seq_len: 128}
            train: {epochs: 5, micro_batch_size: 3, gradient_accumulation_steps: 1, learning_rate: 1.0e-3,
                    lr_scheduler: cosine, warmup_steps: 2, weight_decay: 0.01, max_grad_norm: 1.0}
            output: {dir: \(output.path), save_every_steps: null}
            """, source: "golden recipe")
        let run = try TrainingRun(recipe: recipe)
        for linear in run.model.linears {
            let adapter = try XCTUnwrap(linear.adapter)
            let a = try golden.tensor("adamw_init." + peftName(linear.name, "lora_A"))
            adapter.a.data.update(from: a.data, count: a.count)
        }
        _ = try run.trainer.run { _ in }
        let lines = try readJSONLines(output.appendingPathComponent("metrics.jsonl"))
        let losses = try lines.map { try XCTUnwrap($0["loss"] as? Double) }
        let lrs = try lines.map { try XCTUnwrap($0["lr"] as? Double) }
        let norms = try lines.map { try XCTUnwrap($0["grad_norm"] as? Double) }
        for (name, actual, expected) in [("loss", losses, try golden.tensor("adamw_losses").scalars),
                                         ("lr", lrs, try golden.tensor("adamw_lrs").scalars),
                                         ("grad_norm", norms, try golden.tensor("adamw_grad_norms").scalars)] {
            XCTAssertEqual(actual.count, 5, name)
            for (a, e) in zip(actual, expected) { XCTAssertEqual(a, Double(e), accuracy: 1e-4 * max(abs(Double(e)), 1e-3), name) }
        }
        for linear in run.model.linears {
            let adapter = try XCTUnwrap(linear.adapter)
            assertClose(adapter.a, try golden.tensor("adamw_final." + peftName(linear.name, "lora_A")), atol: 1e-5, "\(linear.name) A after 5 steps")
            assertClose(adapter.b, try golden.tensor("adamw_final." + peftName(linear.name, "lora_B")), atol: 1e-5, "\(linear.name) B after 5 steps")
        }
    }

    func testFullFineTuningStepsMatchTorch() throws {
        let golden = try golden.get()
        let folder = try Fixtures.tinyMistralFolder(self)
        let output = try Fixtures.temporaryDirectory(self).appendingPathComponent("run")
        let recipe = try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            data: {train: \(Fixtures.url("tiny-mistral-eval.jsonl").path), max_seq_len: 128}
            train: {epochs: 3, micro_batch_size: 3, gradient_accumulation_steps: 1, learning_rate: 1.0e-3,
                    lr_scheduler: constant, warmup_steps: 0, weight_decay: 0.0, max_grad_norm: 1.0}
            output: {dir: \(output.path), save_every_steps: null}
            """, source: "golden recipe")
        _ = try TrainingRun(recipe: recipe).trainer.run { _ in }
        let lines = try readJSONLines(output.appendingPathComponent("metrics.jsonl"))
        let expectedLosses = try golden.tensor("full_losses").scalars, expectedNorms = try golden.tensor("full_grad_norms").scalars
        XCTAssertEqual(lines.count, 3)
        for (line, (loss, norm)) in zip(lines, zip(expectedLosses, expectedNorms)) {
            XCTAssertEqual(try XCTUnwrap(line["loss"] as? Double), Double(loss), accuracy: 1e-4 * Double(loss))
            XCTAssertEqual(try XCTUnwrap(line["grad_norm"] as? Double), Double(norm), accuracy: 1e-4 * Double(norm))
        }
    }
}
