import Foundation
import TestSupport
import XCTest

/// `train dpo | orpo` end to end on the tiny model and the learnable preference sample.
final class PreferenceCLITests: XCTestCase {
    /// An SFT checkpoint of the tiny model to start preference stages from.
    private func sftCheckpoint(_ directory: URL, model: URL) throws -> URL {
        let recipe = directory.appendingPathComponent("sft.yaml")
        try """
        stage: sft
        model: {path: \(model.path)}
        lora: {r: 4, alpha: 8}
        data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
        train: {epochs: 1, micro_batch_size: 4, gradient_accumulation_steps: 1, learning_rate: 1.0e-2, warmup_steps: 0}
        output: {dir: \(directory.appendingPathComponent("sft-out").path)}
        """.write(to: recipe, atomically: true, encoding: .utf8)
        let result = try runTrain(["sft", recipe.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return directory.appendingPathComponent("sft-out/final.h5")
    }

    func testDPOFromSFTStartsAtLn2AndLearnsHeldOutPreferences() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let sft = try sftCheckpoint(directory, model: model)
        let recipe = try writePreferenceRecipe("dpo", in: directory, model: model, extra: "dpo: {beta: 0.1, loss: sigmoid}")
        let result = try runTrain(["dpo", recipe.path, "--from", sft.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("starting from \(sft.path)"), result.stdout)
        let lines = try readJSONLines(directory.appendingPathComponent("dpo-out/metrics.jsonl"))
        let first = try XCTUnwrap(lines.first { $0["loss"] != nil })
        XCTAssertEqual(try XCTUnwrap(first["loss"] as? Double), Foundation.log(2), accuracy: 1e-5)
        for key in ["rewards/chosen", "rewards/rejected", "rewards/margins"] {
            XCTAssertEqual(try XCTUnwrap(first[key] as? Double), 0, accuracy: 1e-6, key)
        }
        let before = try XCTUnwrap(lines.first { $0["step"] as? Int == 0 })
        let after = try XCTUnwrap(lines.last { $0["eval_rewards/accuracies"] != nil })
        XCTAssertEqual(try XCTUnwrap(before["eval_loss"] as? Double), Foundation.log(2), accuracy: 1e-5, "policy = reference at step 0")
        XCTAssertGreaterThan(try XCTUnwrap(after["eval_rewards/accuracies"] as? Double), 0.9, "held-out preference accuracy")

        let inspect = try runTrain(["inspect", directory.appendingPathComponent("dpo-out/final.h5").path])
        XCTAssertTrue(inspect.stdout.contains("stage:        dpo"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("started from: \(sft.path)"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("base adapter: 14 modules, r=4"), inspect.stdout)

        // The exported adapter carries both stages (rank 4 + 8) and reproduces the policy.
        let peft = directory.appendingPathComponent("peft")
        let final = directory.appendingPathComponent("dpo-out/final.h5").path
        XCTAssertEqual(try runTrain(["export", final, "--format", "peft", "--out", peft.path]).status, 0)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: peft.appendingPathComponent("adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(config["r"] as? Int, 12)
        let data = Fixtures.url("preference-heldout.jsonl").path
        let viaCheckpoint = try runTrain(["eval", "--model", model.path, "--checkpoint", final, "--data", data, "--json"])
        let viaAdapter = try runTrain(["eval", "--model", model.path, "--adapter", peft.path, "--data", data, "--json"])
        XCTAssertEqual(viaCheckpoint.status, 0, viaCheckpoint.stderr)
        let a = viaCheckpoint.stdout.split(separator: "\n"), b = viaAdapter.stdout.split(separator: "\n")
        XCTAssertEqual(a.count, 8)
        for (x, y) in zip(a, b) {
            let p = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(x.utf8)) as? [String: Double])
            let q = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(y.utf8)) as? [String: Double])
            XCTAssertEqual(p["chosen_logp"]!, q["chosen_logp"]!, accuracy: 1e-3)
            XCTAssertEqual(p["rejected_logp"]!, q["rejected_logp"]!, accuracy: 1e-3)
        }
    }

    /// Over bf16 frozen weights the SFT adapter stays a float32 adapter: the first DPO step scores
    /// the chosen answer exactly as `train eval --checkpoint SFT.h5` does (merged into bf16
    /// weights, it drifted by 6.3e-4 nats per token). Both multiply in float32 here: bfloat16
    /// compute is a rounding of its own, measured in BFloat16ComputeGoldenTests.
    func testDPOOverBFloat16WeightsStartsFromTheSFTModelExactly() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let sftRecipe = directory.appendingPathComponent("sft.yaml")
        try """
        stage: sft
        model: {path: \(model.path), dtype: bfloat16}
        lora: {r: 4, alpha: 8}
        data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
        train: {epochs: 3, micro_batch_size: 4, gradient_accumulation_steps: 1, learning_rate: 2.0e-2, warmup_steps: 0}
        output: {dir: \(directory.appendingPathComponent("sft-out").path)}
        """.write(to: sftRecipe, atomically: true, encoding: .utf8)
        XCTAssertEqual(try runTrain(["sft", sftRecipe.path]).status, 0)
        let sft = directory.appendingPathComponent("sft-out/final.h5").path
        let pair = directory.appendingPathComponent("pair.jsonl")
        try String(try String(contentsOf: Fixtures.url("preference-heldout.jsonl"), encoding: .utf8).split(separator: "\n")[0] + "\n")
            .write(to: pair, atomically: true, encoding: .utf8)
        let recipe = try writePreferenceRecipe("dpo", in: directory, model: model, extra: "")
        let result = try runTrain([
            "dpo", recipe.path, "--from", sft, "--set", "model.dtype=bfloat16", "--set", "model.compute_dtype=float32",
            "--set", "data.train=\(pair.path)", "--set", "data.eval=null",
            "--set", "train.micro_batch_size=1", "--set", "train.epochs=1",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let first = try XCTUnwrap(try readJSONLines(directory.appendingPathComponent("dpo-out/metrics.jsonl")).first { $0["loss"] != nil })
        let eval = try runTrain(["eval", "--model", model.path, "--checkpoint", sft, "--data", pair.path, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let scored = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Double])
        let tokens = try XCTUnwrap(scored["chosen_tokens"])
        let drift = abs(try XCTUnwrap(first["logps/chosen"] as? Double) - scored["chosen_logp"]!) / tokens
        XCTAssertLessThan(drift, 1e-5, "logps/chosen per token apart from train eval")
    }

    func testDPOResumeIsExact() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let sft = try sftCheckpoint(directory, model: model)
        let recipe = try writePreferenceRecipe("dpo", in: directory, model: model, extra: "dpo: {beta: 0.1, loss: ipo}")
        XCTAssertEqual(try runTrain(["dpo", recipe.path, "--from", sft.path]).status, 0)
        let resumed = try runTrain([
            "dpo", recipe.path, "--resume", directory.appendingPathComponent("dpo-out/step-000012.h5").path,
            "--set", "output.dir=\(directory.appendingPathComponent("resumed").path)",
        ])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let original = try readJSONLines(directory.appendingPathComponent("dpo-out/metrics.jsonl")).filter { ($0["step"] as? Int ?? 0) > 12 }
        let continued = try readJSONLines(directory.appendingPathComponent("resumed/metrics.jsonl"))
        XCTAssertEqual(original.count, continued.count)
        for (a, b) in zip(original, continued) {
            XCTAssertEqual(a["step"] as? Int, b["step"] as? Int)
            XCTAssertEqual(a["loss"] as? Double, b["loss"] as? Double)
            XCTAssertEqual(a["eval_loss"] as? Double, b["eval_loss"] as? Double)
        }
    }

    func testORPOFromTheBaseRaisesTheLogOddsOfChosen() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writePreferenceRecipe("orpo", in: directory, model: try Fixtures.tinyMistralFolder(self), extra: "orpo: {lambda: 0.1}")
        let result = try runTrain(["orpo", recipe.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = try readJSONLines(directory.appendingPathComponent("orpo-out/metrics.jsonl"))
        let step = try XCTUnwrap(lines.first { $0["loss"] != nil })
        for key in ["nll_loss", "log_odds_ratio", "log_odds_chosen", "rewards/chosen", "rewards/accuracies", "logps/chosen"] {
            XCTAssertNotNil(step[key], "metrics.jsonl lacks \(key)")
        }
        let evaluations = lines.filter { $0["eval_log_odds_chosen"] != nil }
        let first = try XCTUnwrap(evaluations.first?["eval_log_odds_chosen"] as? Double)
        let last = try XCTUnwrap(evaluations.last?["eval_log_odds_chosen"] as? Double)
        XCTAssertGreaterThan(last, first + 0.5, "held-out log odds of chosen over rejected rise")
    }

    func testBrokenPreferenceRecordsAreReadableErrors() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let cases = [
            (#"{"system": "s", "prompt": "p", "chosen": "", "rejected": "r"}"#, "field 'chosen': is empty"),
            (#"{"system": "s", "prompt": "p", "chosen": "c"}"#, "field 'rejected': missing"),
            (#"{"system": "s", "prompt": "p", "chosen": [{"role": "user", "content": "p"}], "rejected": "r"}"#, "field 'chosen': has no assistant message"),
            (#"{"system": "s", "prompt": "p", "chosen": "c", "rejected": 3}"#, "field 'rejected': must be a string or a list of messages"),
        ]
        for (line, expected) in cases {
            let data = directory.appendingPathComponent("pairs.jsonl")
            try (#"{"system": "s", "prompt": "q", "chosen": "c", "rejected": "r"}"# + "\n" + line + "\n").write(to: data, atomically: true, encoding: .utf8)
            let recipe = try writePreferenceRecipe("orpo", in: directory, model: model, extra: "")
            let result = try runTrain(["orpo", recipe.path, "--set", "data.train=\(data.path)", "--set", "data.eval=null"])
            XCTAssertEqual(result.status, 1)
            XCTAssertEqual(result.stderr, "error: \(data.path):2: \(expected)\n".replacingOccurrences(of: "list of messages\n", with: "list of messages, found a number\n"))
        }
    }
}
