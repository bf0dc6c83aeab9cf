import Foundation
import Tensor
import Tokenizer
import TestSupport
import XCTest

/// `train eval | generate | tokenize` end to end, through the built executable.
final class InferenceCLITests: XCTestCase {
    func testEvalJSONMatchesTransformers() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let golden = try Fixtures.goldenFile("tiny_mistral.safetensors")
        let result = try runTrain(["eval", "--model", folder.path, "--data", Fixtures.url("tiny-mistral-eval.jsonl").path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.count, 3)
        let expected = try golden.tensor("eval_logps").scalars, tokens = try golden.tensor("eval_tokens").scalars
        for (i, line) in lines.enumerated() {
            let object = try XCTUnwrap(line)
            XCTAssertEqual(object["index"] as? Int, i)
            XCTAssertEqual(try XCTUnwrap(object["logp"] as? Double), Double(expected[i]), accuracy: 1e-3)
            XCTAssertEqual(object["tokens"] as? Int, Int(tokens[i]))
        }
        let pairs = try runTrain(["eval", "--model", folder.path, "--data", Fixtures.url("tiny-mistral-pairs.jsonl").path, "--json"])
        XCTAssertEqual(pairs.status, 0, pairs.stderr)
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(pairs.stdout.split(separator: "\n")[0].utf8)) as? [String: Any])
        XCTAssertEqual(Set(first.keys), ["index", "chosen_logp", "chosen_tokens", "rejected_logp", "rejected_tokens"])
        XCTAssertEqual(try XCTUnwrap(first["rejected_logp"] as? Double), Double(try golden.tensor("pair_rejected_logps").scalars[0]), accuracy: 1e-3)

        let summary = try runTrain(["eval", "--model", folder.path, "--data", Fixtures.url("tiny-mistral-eval.jsonl").path])
        XCTAssertTrue(summary.stdout.contains("mean NLL per token"), summary.stdout)
    }

    func testTokenizeAndGenerate() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let tokenized = try runTrain(["tokenize", "--model", folder.path, "--text", "Hello  world", "--json"])
        XCTAssertEqual(tokenized.stdout.trimmingCharacters(in: .whitespacesAndNewlines), #"{"ids": [1, 22557, 28705, 1526]}"#)

        let golden = try Fixtures.goldenFile("tiny_mistral.safetensors")
        let tokenizer = try Tokenizer.load(modelDirectory: folder)
        let expected = tokenizer.decode(try golden.tensor("generate_greedy_ids").scalars.map { Int32($0) })
        let generated = try runTrain([
            "generate", "--model", folder.path, "--system", try XCTUnwrap(golden.metadata["generate_system"]),
            "--prompt", try XCTUnwrap(golden.metadata["generate_prompt"]), "--max-new-tokens", "20", "--temperature", "0",
        ])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertEqual(generated.stdout, expected + "\n")

        let sampled = ["generate", "--model", folder.path, "--prompt", "Hi", "--max-new-tokens", "8", "--temperature", "0.8", "--top-p", "0.9", "--seed", "5"]
        XCTAssertEqual(try runTrain(sampled).stdout, try runTrain(sampled).stdout, "sampling with a seed is reproducible")
    }

    /// Without --template, SmolLM2's GGUF (a ChatML chat template) answers in ChatML.
    func testAGGUFWithAChatMLTemplateAnswersInChatML() throws {
        let model = try Fixtures.smolLM2GGUF().path
        let arguments = ["generate", "--model", model, "--system", "You answer in one word.", "--prompt", "Capital of France?", "--max-new-tokens", "6"]
        let chosen = try runTrain(arguments)
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertEqual(chosen.stdout, try runTrain(arguments + ["--template", "chatml"]).stdout)
        XCTAssertNotEqual(chosen.stdout, try runTrain(arguments + ["--template", "janus"]).stdout)
        XCTAssertTrue(chosen.stdout.contains("Paris"), chosen.stdout)
        let unknown = try runTrain(arguments + ["--template", "alpaca"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("janus") && unknown.stderr.contains("chatml"), unknown.stderr)
    }

    /// A checkpoint trained with `data.template: chatml` is evaluated in ChatML unless told otherwise.
    func testACheckpointIsEvaluatedInItsRecipesTemplate() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let recipe = try writeSFTRecipe(in: directory, model: model)
        let trained = try runTrain(["sft", recipe.path, "--set", "data.template=chatml", "--set", "train.max_steps=1"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let arguments = [
            "eval", "--model", model.path, "--checkpoint", directory.appendingPathComponent("out/final.h5").path,
            "--data", Fixtures.url("tiny-mistral-eval.jsonl").path, "--json",
        ]
        let chosen = try runTrain(arguments)
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertEqual(chosen.stdout, try runTrain(arguments + ["--template", "chatml"]).stdout)
        XCTAssertNotEqual(chosen.stdout, try runTrain(arguments + ["--template", "janus"]).stdout)
        let plain = try runTrain(Array(arguments[0...2]) + Array(arguments[5...]))
        XCTAssertEqual(plain.stdout, try runTrain(Array(arguments[0...2]) + Array(arguments[5...]) + ["--template", "janus"]).stdout, "no checkpoint, no chat template: janus")
    }

    func testBrokenModelFilesGiveOneReadableError() throws {
        let data = Fixtures.url("tiny-mistral-eval.jsonl").path
        let missing = try runTrain(["eval", "--model", "/nonexistent/model", "--data", data])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "error: model /nonexistent/model does not exist\n")

        let truncated = try Fixtures.tinyMistralFolder(self)
        let shard = truncated.appendingPathComponent("model-00002-of-00002.safetensors")
        try Data(try Data(contentsOf: shard).prefix(100_000)).write(to: shard)
        let result = try runTrain(["eval", "--model", truncated.path, "--data", data])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains("is truncated"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)

        let lying = try Fixtures.tinyMistralFolder(self)
        let index = lying.appendingPathComponent("model.safetensors.index.json")
        let text = try String(contentsOf: index, encoding: .utf8).replacingOccurrences(of: "model-00002-of-00002", with: "model-00003-of-00002")
        try text.write(to: index, atomically: true, encoding: .utf8)
        let missingShard = try runTrain(["eval", "--model", lying.path, "--data", data])
        XCTAssertEqual(missingShard.status, 1)
        XCTAssertTrue(missingShard.stderr.contains("model-00003-of-00002.safetensors"), missingShard.stderr)

        let badConfig = try Fixtures.tinyMistralFolder(self)
        try Data("{\"hidden_size\": \"big\"}".utf8).write(to: badConfig.appendingPathComponent("config.json"))
        let config = try runTrain(["eval", "--model", badConfig.path, "--data", data])
        XCTAssertEqual(config.status, 1)
        XCTAssertTrue(config.stderr.contains("config.json"), config.stderr)
    }

    func testSafetensorsHeaderThatLiesAboutOffsets() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let url = folder.appendingPathComponent("bad.safetensors")
        let header = #"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        data.append(Data(count: 16))
        try data.write(to: url)
        XCTAssertThrowsError(try SafetensorsFile(url: url)) { error in
            XCTAssertTrue("\(error)".contains("do not fit shape [4]"), "\(error)")
        }
    }
}
