import Foundation
import TestSupport
import XCTest

/// `train rm`, `train score`, the merged export of a reward model and best-of-n, end to end on
/// the tiny model and the learnable preference sample.
final class RewardCLITests: XCTestCase {
    private func writeRecipe(in directory: URL, model: URL) throws -> URL {
        let url = directory.appendingPathComponent("rm.yaml")
        try """
        stage: rm
        model: {path: \(model.path)}
        lora: {r: 8, alpha: 16, target_modules: all-linear}
        data:
          train: \(Fixtures.url("preference-sample.jsonl").path)
          eval: \(Fixtures.url("preference-heldout.jsonl").path)
          max_seq_len: 256
        train: {epochs: 4, micro_batch_size: 4, gradient_accumulation_steps: 1, learning_rate: 5.0e-3, warmup_steps: 2, eval_every_steps: 12}
        rm: {margin: 0.1, center_rewards_coefficient: 0.01}
        output: {dir: \(directory.appendingPathComponent("rm-out").path), save_every_steps: 12}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func objects(_ stdout: String) throws -> [[String: Double]] {
        try stdout.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Double]) }
    }

    func testRewardModelLearnsHeldOutPairsScoresAndExports() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let recipe = try writeRecipe(in: directory, model: model)
        let result = try runTrain(["rm", recipe.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try readJSONLines(directory.appendingPathComponent("rm-out/metrics.jsonl"))
        let step = try XCTUnwrap(lines.first { $0["loss"] != nil })
        for key in ["accuracy", "margin", "rewards/chosen", "rewards/rejected"] { XCTAssertNotNil(step[key], "metrics.jsonl lacks \(key)") }
        let evaluations = lines.filter { $0["eval_accuracy"] != nil }
        XCTAssertEqual(evaluations.map { $0["step"] as? Int }, [0, 12, 24])
        let last = try XCTUnwrap(evaluations.last)
        XCTAssertGreaterThan(try XCTUnwrap(last["eval_accuracy"] as? Double), 0.85, "held-out pair accuracy")

        // train score gives the held-out rewards the last evaluation summed up.
        let final = directory.appendingPathComponent("rm-out/final.h5").path
        let heldOut = Fixtures.url("preference-heldout.jsonl").path
        let scored = try runTrain(["score", "--model", model.path, "--checkpoint", final, "--data", heldOut, "--json"])
        XCTAssertEqual(scored.status, 0, scored.stderr)
        let pairs = try objects(scored.stdout)
        XCTAssertEqual(pairs.map { $0["index"] }, (0..<8).map(Double.init))
        let accuracy = Double(pairs.filter { $0["chosen_reward"]! > $0["rejected_reward"]! }.count) / 8
        let margin = pairs.map { $0["chosen_reward"]! - $0["rejected_reward"]! }.reduce(0, +) / 8
        XCTAssertEqual(accuracy, try XCTUnwrap(last["eval_accuracy"] as? Double))
        XCTAssertEqual(margin, try XCTUnwrap(last["eval_margin"] as? Double), accuracy: 1e-4)
        let summary = try runTrain(["score", "--model", model.path, "--checkpoint", final, "--data", heldOut])
        XCTAssertTrue(summary.stdout.hasPrefix("8 pairs: mean reward "), summary.stdout)
        XCTAssertTrue(summary.stdout.contains(String(format: "accuracy %.4f, margin %.4f", accuracy, margin)), summary.stdout)
        let records = try runTrain(["score", "--model", model.path, "--checkpoint", final, "--data", Fixtures.url("tiny-mistral-eval.jsonl").path, "--json"])
        XCTAssertEqual(try objects(records.stdout).map { $0.keys.sorted() }, Array(repeating: ["index", "reward"], count: 3))

        let inspect = try runTrain(["inspect", final])
        XCTAssertTrue(inspect.stdout.contains("stage:        rm"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("reward head:  score.weight [1, 32]"), inspect.stdout)
        let merged = directory.appendingPathComponent("merged")
        let export = try runTrain(["export", final, "--format", "merged", "--out", merged.path])
        XCTAssertEqual(export.status, 0, export.stderr)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: merged.appendingPathComponent("config.json"))) as? [String: Any])
        XCTAssertEqual(config["architectures"] as? [String], ["MistralForSequenceClassification"])

        // A reward model is no start for a policy stage.
        let dpo = directory.appendingPathComponent("dpo.yaml")
        try String(contentsOf: recipe, encoding: .utf8).replacingOccurrences(of: "stage: rm", with: "stage: dpo")
            .replacingOccurrences(of: "rm-out", with: "dpo-out").write(to: dpo, atomically: true, encoding: .utf8)
        let fromReward = try runTrain(["dpo", dpo.path, "--from", final])
        XCTAssertEqual(fromReward.status, 1)
        XCTAssertEqual(fromReward.stderr, "error: \(final): is a reward model checkpoint; a new stage starts from a policy (sft, dpo or orpo)\n")

        // Best-of-n keeps the answer the reward model scores highest.
        let best = try runTrain([
            "generate", "--model", model.path, "--system", "You answer briefly.", "--prompt", "Is 7 a prime number?",
            "--best-of", "3", "--reward", final, "--max-new-tokens", "6", "--seed", "5",
        ])
        XCTAssertEqual(best.status, 0, best.stderr)
        let line = try XCTUnwrap(best.stderr.split(separator: "\n").first { $0.hasPrefix("best of 3: rewards [") })
        let rewards = try XCTUnwrap(line.split(separator: "[").last?.split(separator: "]").first).split(separator: ", ").map { Double($0)! }
        XCTAssertEqual(rewards.count, 3)
        XCTAssertTrue(line.hasSuffix("kept answer \(rewards.firstIndex(of: rewards.max()!)! + 1)"), String(line))
        let greedy = try runTrain([
            "generate", "--model", model.path, "--system", "s", "--prompt", "p", "--best-of", "2", "--reward", final, "--temperature", "0",
        ])
        XCTAssertEqual(greedy.stderr, "error: --best-of needs sampled answers: --temperature must be above 0\n")

        // A reward model trained in ChatML scores ChatML prompts: with this JANUS policy only
        // when --template says which template both take.
        let chatML = directory.appendingPathComponent("rm-chatml")
        let trained = try runTrain(["rm", recipe.path, "--set", "data.template=chatml", "--set", "train.max_steps=1", "--set", "output.dir=\(chatML.path)"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let chatMLReward = chatML.appendingPathComponent("final.h5").path
        let question = ["generate", "--model", model.path, "--system", "s", "--prompt", "p", "--best-of", "2", "--reward", chatMLReward, "--max-new-tokens", "4"]
        let mismatch = try runTrain(question)
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertEqual(mismatch.stderr, "error: the reward model \(chatMLReward) was trained with the chatml template but the policy answers in janus; give --template\n")
        let agreed = try runTrain(question + ["--template", "chatml"])
        XCTAssertEqual(agreed.status, 0, agreed.stderr)
    }

    func testRewardModelResumeIsExact() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        XCTAssertEqual(try runTrain(["rm", recipe.path, "--set", "train.epochs=2", "--set", "train.eval_every_steps=6", "--set", "output.save_every_steps=6"]).status, 0)
        let resumed = try runTrain([
            "rm", recipe.path, "--set", "train.epochs=2", "--set", "train.eval_every_steps=6", "--set", "output.save_every_steps=6",
            "--resume", directory.appendingPathComponent("rm-out/step-000006.h5").path,
            "--set", "output.dir=\(directory.appendingPathComponent("resumed").path)",
        ])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let original = try readJSONLines(directory.appendingPathComponent("rm-out/metrics.jsonl")).filter { ($0["step"] as? Int ?? 0) > 6 }
        let continued = try readJSONLines(directory.appendingPathComponent("resumed/metrics.jsonl"))
        XCTAssertEqual(original.count, continued.count)
        XCTAssertFalse(continued.isEmpty)
        for (a, b) in zip(original, continued) {
            XCTAssertEqual(a["step"] as? Int, b["step"] as? Int)
            XCTAssertEqual(a["loss"] as? Double, b["loss"] as? Double)
            XCTAssertEqual(a["eval_loss"] as? Double, b["eval_loss"] as? Double)
        }
    }
}
