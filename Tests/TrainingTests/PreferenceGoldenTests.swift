import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// DPO and ORPO against TRL's loss code (make_preference in make_golden.py): the losses on
/// fixed log-probs, and losses and LoRA gradients on the tiny model.
final class PreferenceGoldenTests: XCTestCase {
    private let golden = Result { try Fixtures.goldenFile("preference.safetensors") }

    func testDPOLossesOfEveryTypeMatchTRL() throws {
        let golden = try golden.get()
        let inputs = try ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps"].map { try golden.tensor($0) }
        for (type, smoothing, name) in [(DPOLossType.sigmoid, Float(0), "sigmoid"), (.sigmoid, 0.1, "sigmoid_ls0.1"), (.ipo, 0, "ipo"), (.hinge, 0, "hinge")] {
            let result = dpoLoss(
                policyChosen: inputs[0], policyRejected: inputs[1], referenceChosen: inputs[2], referenceRejected: inputs[3],
                beta: 0.1, type: type, labelSmoothing: smoothing)
            assertClose(result.losses, try golden.tensor("dpo_\(name)_losses"), atol: 1e-5, rtol: 1e-6, "dpo \(name) losses")
            assertClose(Tensor(result.chosenRewards, shape: [6]), try golden.tensor("dpo_\(name)_chosen_rewards"), atol: 1e-6, "dpo \(name) chosen rewards")
            assertClose(Tensor(result.rejectedRewards, shape: [6]), try golden.tensor("dpo_\(name)_rejected_rewards"), atol: 1e-6, "dpo \(name) rejected rewards")
        }
    }

    func testORPOOddsRatioAndMetricsMatchTRL() throws {
        let golden = try golden.get()
        let ratio = orpoOddsRatio(
            chosenAverage: try golden.tensor("orpo_chosen_avg_logps"), rejectedAverage: try golden.tensor("orpo_rejected_avg_logps"), lambda: 0.1)
        assertClose(ratio.terms, try golden.tensor("orpo_losses"), atol: 1e-6, rtol: 1e-5, "orpo per-pair terms")
        assertClose(Tensor(ratio.logOdds, shape: [6]), try golden.tensor("orpo_log_odds"), atol: 1e-5, rtol: 1e-5, "orpo log odds")
        assertClose(Tensor(ratio.chosenRewards, shape: [6]), try golden.tensor("orpo_chosen_rewards"), atol: 1e-6, "orpo chosen rewards")
        assertClose(Tensor(ratio.rejectedRewards, shape: [6]), try golden.tensor("orpo_rejected_rewards"), atol: 1e-6, "orpo rejected rewards")
        XCTAssertEqual(ratio.logSigmoidOdds.reduce(0, +) / 6, try golden.tensor("orpo_log_odds_ratio").item, accuracy: 1e-5)
        XCTAssertEqual(ratio.logOdds.reduce(0, +) / 6, try golden.tensor("orpo_log_odds_chosen").item, accuracy: 1e-5)
    }

    func testLog1mexpGradientByFiniteDifferences() {
        let x = Tensor([-3, -0.8, -0.6, -0.05], shape: [4])
        checkGradients([x], eps: 1e-3) { x.log1mexp() }
    }

    /// The tiny model with trainable adapters (r 4, alpha 8) whose A and B are a golden's `init.` tensors.
    private func tinyModel(adaptersFrom golden: SafetensorsFile) throws -> (Mistral, URL) {
        let folder = try Fixtures.tinyMistralFolder(self)
        let model = try Mistral.load(directory: folder)
        try LoRAGoldenCase.attachInitialAdapters(model, from: golden, prefix: "init.")
        return (model, folder)
    }

    /// Loss and adapter gradients of one step over the two pairs of tiny-mistral-pairs.jsonl.
    private func checkStep(_ loss: PreferenceObjective.Loss, scoreChosenPrompt: Bool, lossName: String, gradientPrefix: String) throws {
        let golden = try golden.get()
        let (model, folder) = try tinyModel(adaptersFrom: golden)
        let pairs = try PreferenceDataset.load(
            Fixtures.url("tiny-mistral-pairs.jsonl"), tokenizer: try Tokenizer.load(modelDirectory: folder), systemMessagesPerInstruction: 3,
            maxSeqLen: 256, truncation: .error, skipInvalid: false, seed: 0, scoreChosenPrompt: scoreChosenPrompt)
        XCTAssertEqual(pairs.pairs.map { Float($0.chosen.promptLength) }, try golden.tensor("pair_prompt_tokens").scalars)
        let objective = PreferenceObjective(
            model: model, train: pairs, eval: nil,
            plan: BatchPlan(lengths: pairs.pairs.map(\.length), microBatchSize: 2, packing: false, maxSeqLen: 256, seed: 0), loss: loss)
        let outcome = objective.accumulate(epoch: 0, microBatches: 0..<1)
        let expected = try golden.tensor(lossName).item
        XCTAssertEqual(outcome.loss, Double(expected), accuracy: 1e-5 * Double(abs(expected)))
        for linear in model.linears {
            let adapter = try XCTUnwrap(linear.adapter)
            for (matrix, tensor) in [("lora_A", adapter.a), ("lora_B", adapter.b)] {
                let reference = try golden.tensor("\(gradientPrefix).base_model.model.\(linear.name).\(matrix).weight")
                let scale = reference.scalars.map(abs).max() ?? 1
                assertClose(try XCTUnwrap(tensor.grad), reference, atol: 1e-4 * scale, "\(lossName) gradient of \(linear.name).\(matrix)")
            }
        }
    }

    func testDPOLossAndGradientsOnTheTinyModelMatchTRL() throws {
        try checkStep(.dpo(beta: 0.1, type: .sigmoid, labelSmoothing: 0), scoreChosenPrompt: false, lossName: "dpo_loss", gradientPrefix: "dpo_grad")
    }

    func testORPOLossAndGradientsOnTheTinyModelMatchTRL() throws {
        // Both pairs in one micro-batch: TRL's NLL is the token mean over both chosen rows.
        try checkStep(.orpo(lambda: 0.1, nll: .token), scoreChosenPrompt: true, lossName: "orpo_loss", gradientPrefix: "orpo_grad")
        try checkStep(.orpo(lambda: 0.1, nll: .token), scoreChosenPrompt: false, lossName: "orpo_loss_response_only", gradientPrefix: "orpo_ro_grad")
    }

    /// `orpo.nll_normalization: sequence` against TRL with one pair per micro-batch (the paper's
    /// micro-batch 1), averaged over 3 pairs of different lengths (`make_orpo_sequence`); here
    /// all 3 pairs share one micro-batch, which the per-sequence mean does not depend on.
    func testORPOWithSequenceNormalizationMatchesTRLAtMicroBatchOne() throws {
        let golden = try Fixtures.goldenFile("orpo_sequence.safetensors")
        let (model, folder) = try tinyModel(adaptersFrom: golden)
        let pairs = try PreferenceDataset.load(
            Fixtures.url("tiny-mistral-pairs-3.jsonl"), tokenizer: try Tokenizer.load(modelDirectory: folder), systemMessagesPerInstruction: 3,
            maxSeqLen: 256, truncation: .error, skipInvalid: false, seed: 0, scoreChosenPrompt: true)
        let objective = PreferenceObjective(
            model: model, train: pairs, eval: nil,
            plan: BatchPlan(lengths: pairs.pairs.map(\.length), microBatchSize: 3, packing: false, maxSeqLen: 256, seed: 0),
            loss: .orpo(lambda: 0.1, nll: .sequence))
        let outcome = objective.accumulate(epoch: 0, microBatches: 0..<1)
        XCTAssertEqual(outcome.loss, Double(try golden.tensor("loss").item), accuracy: 1e-5 * outcome.loss)
        XCTAssertEqual(try XCTUnwrap(outcome.metrics["nll_loss"]), Double(try golden.tensor("nll").item), accuracy: 1e-5 * outcome.loss)
        for linear in model.linears {
            let adapter = try XCTUnwrap(linear.adapter)
            for (matrix, tensor) in [("lora_A", adapter.a), ("lora_B", adapter.b)] {
                let reference = try golden.tensor("grad.base_model.model.\(linear.name).\(matrix).weight")
                let scale = reference.scalars.map(abs).max() ?? 1
                assertClose(try XCTUnwrap(tensor.grad), reference, atol: 1e-4 * scale, "gradient of \(linear.name).\(matrix)")
            }
        }
    }
}
