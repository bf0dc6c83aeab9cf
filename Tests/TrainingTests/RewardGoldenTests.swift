import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// The reward model against transformers' MistralForSequenceClassification and TRL's
/// RewardTrainer.compute_loss (make_reward in golden_stages.py): rewards, loss with a margin and
/// centering, LoRA and head gradients, and the merged export scored as transformers scores it.
final class RewardGoldenTests: XCTestCase {
    private let golden = Result { try Fixtures.goldenFile("reward.safetensors") }

    /// The tiny model with the golden's adapters (trainable) and reward head, and its three pairs.
    private func tinyRewardModel() throws -> (Mistral, PreferenceDataset, URL) {
        let golden = try golden.get()
        let folder = try Fixtures.tinyMistralFolder(self)
        let model = try Mistral.load(directory: folder)
        try LoRAGoldenCase.attachInitialAdapters(model, from: golden, prefix: "init.")
        let head = try golden.tensor("init.score.weight")
        head.requiresGrad = true
        model.rewardHead = RewardHead(weight: head)
        let pairs = try PreferenceDataset.load(
            Fixtures.url("tiny-mistral-pairs-3.jsonl"), tokenizer: try Tokenizer.load(modelDirectory: folder), systemMessagesPerInstruction: 3,
            maxSeqLen: 256, truncation: .error, skipInvalid: false, seed: 0)
        return (model, pairs, folder)
    }

    /// Rewards of the pairs' rows [c0, c1, c2, r0, r1, r2], padded as one batch.
    private func rewards(_ model: Mistral, _ pairs: PreferenceDataset) -> [Float] {
        let rows = pairs.pairs.map(\.chosen) + pairs.pairs.map(\.rejected)
        let batch = MicroBatch(rows: rows.map { [$0] }, packed: false)
        return withoutGradients { model.rewards(batch.tokens, lastTokens: rows.map { $0.ids.count - 1 }).scalars }
    }

    func testRewardsLossAndGradientsMatchTRL() throws {
        let golden = try golden.get()
        let (model, pairs, _) = try tinyRewardModel()
        let rows = pairs.pairs.map(\.chosen) + pairs.pairs.map(\.rejected)
        XCTAssertEqual(rows.map { Float($0.ids.count - 1) }, try golden.tensor("last_token").scalars)
        let expected = try golden.tensor("rewards_chosen").scalars + golden.tensor("rewards_rejected").scalars
        assertClose(Tensor(rewards(model, pairs), shape: [6]), Tensor(expected, shape: [6]), atol: 1e-5, "rewards")

        let objective = RewardObjective(
            model: model, train: pairs, eval: nil,
            plan: BatchPlan(lengths: pairs.pairs.map(\.length), microBatchSize: 3, packing: false, maxSeqLen: 256, seed: 0),
            margin: 0.5, centerCoefficient: 0.01)
        let outcome = objective.accumulate(epoch: 0, microBatches: 0..<1)
        let loss = Double(try golden.tensor("loss").item)
        XCTAssertEqual(outcome.loss, loss, accuracy: 1e-5 * loss)
        XCTAssertEqual(try XCTUnwrap(outcome.metrics["accuracy"]), Double(try golden.tensor("accuracy").item), accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(outcome.metrics["margin"]), Double(try golden.tensor("margin").item), accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(outcome.metrics["rewards/chosen"]), Double(expected[0..<3].reduce(0, +) / 3), accuracy: 1e-5)
        XCTAssertEqual(try XCTUnwrap(outcome.metrics["rewards/rejected"]), Double(expected[3..<6].reduce(0, +) / 3), accuracy: 1e-5)
        var gradients = [("score.weight", try XCTUnwrap(model.rewardHead).weight)]
        for linear in model.linears {
            let adapter = try XCTUnwrap(linear.adapter)
            gradients += [(LoRAGoldenCase.peftName(linear.name, "lora_A"), adapter.a), (LoRAGoldenCase.peftName(linear.name, "lora_B"), adapter.b)]
        }
        for (name, tensor) in gradients {
            let reference = try golden.tensor("grad.\(name)")
            let scale = reference.scalars.map(abs).max() ?? 1
            assertClose(try XCTUnwrap(tensor.grad, name), reference, atol: 1e-4 * scale, "gradient of \(name)")
        }
    }

    func testRewardLossGradientByFiniteDifferences() {
        let chosen = Tensor([0.3, -1.2, 2.0], shape: [3]), rejected = Tensor([0.1, 0.4, -0.7], shape: [3])
        checkGradients([chosen, rejected], eps: 1e-3) { rewardLoss(chosen: chosen, rejected: rejected, margin: 0.5, centerCoefficient: 0.1) }
    }

    /// The merged export is a MistralForSequenceClassification folder: read back by name, it
    /// gives the rewards transformers gave the unmerged PEFT model.
    func testMergedExportScoresAsTransformers() throws {
        let golden = try golden.get()
        let (model, pairs, folder) = try tinyRewardModel()
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("merged")
        try MergedExport.write(model, sourceDirectory: folder, to: out)

        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any])
        XCTAssertEqual(config["architectures"] as? [String], ["MistralForSequenceClassification"])
        XCTAssertEqual((config["id2label"] as? [String: String])?.count, 1, "num_labels 1")
        XCTAssertEqual(config["pad_token_id"] as? Int, 0)
        let files = try SafetensorsCollection(directory: out)
        XCTAssertEqual(try files.tensor("score.weight", as: .float32).shape, [1, 32])
        XCTAssertThrowsError(try files.tensor("lm_head.weight", as: .float32), "a sequence classifier has no LM head")

        let exported = try Mistral(config: try MistralConfig(contentsOf: out.appendingPathComponent("config.json"))) { name, shape, dtype in
            name == "lm_head.weight" ? Tensor(zeros: shape) : try files.tensor(name, as: dtype)
        }
        exported.rewardHead = RewardHead(weight: try files.tensor("score.weight", as: .float32))
        XCTAssertTrue(exported.linears.allSatisfy { $0.adapter == nil && $0.frozenAdapter == nil })
        let expected = try golden.tensor("rewards_chosen").scalars + golden.tensor("rewards_rejected").scalars
        assertClose(Tensor(rewards(exported, pairs), shape: [6]), Tensor(expected, shape: [6]), atol: 1e-4, "rewards of the merged export")
    }
}
