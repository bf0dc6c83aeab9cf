import Foundation
import Model
import TestSupport
import XCTest

/// `train sft | export | inspect` end to end, as a user runs them.
final class SFTCLITests: XCTestCase {
    func testResumeContinuesBitForBit() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let full = try runTrain(["sft", recipe.path])
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertTrue(full.stdout.contains("12 records, 4 instructions (records grouped by prompt; 0 prompt strings had more than 3 records), 3 system messages per instruction"), full.stdout)
        let uninterrupted = try readJSONLines(directory.appendingPathComponent("out/metrics.jsonl"))
        XCTAssertEqual(uninterrupted.count, 6)

        let resumed = try runTrain([
            "sft", recipe.path, "--resume", directory.appendingPathComponent("out/step-000003.h5").path,
            "--set", "output.dir=\(directory.appendingPathComponent("resumed").path)",
        ])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let continued = try readJSONLines(directory.appendingPathComponent("resumed/metrics.jsonl"))
        XCTAssertEqual(continued.map { $0["step"] as? Int }, [4, 5, 6])
        for (a, b) in zip(continued, uninterrupted.suffix(3)) {
            XCTAssertEqual(a["loss"] as? Double, b["loss"] as? Double, "losses after the resume are identical")
            XCTAssertEqual(a["grad_norm"] as? Double, b["grad_norm"] as? Double)
            XCTAssertEqual(a["lr"] as? Double, b["lr"] as? Double)
        }

        // Resuming in the same folder (as after a crash) rewrites the later steps, once each.
        try FileManager.default.removeItem(at: directory.appendingPathComponent("out/final.h5"))
        let again = try runTrain(["sft", recipe.path, "--resume", directory.appendingPathComponent("out/step-000003.h5").path])
        XCTAssertEqual(again.status, 0, again.stderr)
        let rewritten = try readJSONLines(directory.appendingPathComponent("out/metrics.jsonl"))
        XCTAssertEqual(rewritten.map { $0["step"] as? Int }, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(rewritten.map { $0["loss"] as? Double }, uninterrupted.map { $0["loss"] as? Double })

        // A resume under another schedule or data order is refused, not silently different.
        let mismatched = try runTrain([
            "sft", recipe.path, "--resume", directory.appendingPathComponent("out/step-000003.h5").path,
            "--set", "train.micro_batch_size=3", "--set", "output.dir=\(directory.appendingPathComponent("other").path)",
        ])
        XCTAssertEqual(mismatched.status, 1)
        XCTAssertTrue(mismatched.stderr.contains("another schedule or data order"), mismatched.stderr)
    }

    func testCheckpointLayoutExportAndInspect() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let recipe = try writeSFTRecipe(in: directory, model: model)
        XCTAssertEqual(try runTrain(["sft", recipe.path]).status, 0)
        let final = directory.appendingPathComponent("out/final.h5")

        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/usr/bin/h5dump")
        dump.arguments = ["-H", final.path]
        let pipe = Pipe()
        dump.standardOutput = pipe
        try dump.run()
        let header = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        dump.waitUntilExit()
        XCTAssertEqual(dump.terminationStatus, 0)
        for expected in [
            #"GROUP "adapter""#, #"GROUP "model.layers.1.mlp.down_proj""#, #"DATASET "lora_A""#, #"GROUP "optimizer""#,
            #"GROUP "exp_avg""#, #"GROUP "exp_avg_sq""#, #"GROUP "scheduler""#, #"GROUP "rng""#, #"GROUP "data""#,
            #"ATTRIBUTE "recipe""#, #"ATTRIBUTE "global_step""#, #"ATTRIBUTE "stage""#, #"ATTRIBUTE "base_model""#,
        ] {
            XCTAssertTrue(header.contains(expected), "h5dump -H lacks \(expected)")
        }

        let inspect = try runTrain(["inspect", final.path])
        XCTAssertTrue(inspect.stdout.contains("stage:        sft, step 6"), inspect.stdout)
        XCTAssertTrue(inspect.stdout.contains("14 modules, r=4, alpha=8"), inspect.stdout)

        let peft = directory.appendingPathComponent("peft")
        XCTAssertEqual(try runTrain(["export", final.path, "--format", "peft", "--out", peft.path]).status, 0)
        let data = Fixtures.url("tiny-mistral-eval.jsonl").path
        let viaCheckpoint = try runTrain(["eval", "--model", model.path, "--checkpoint", final.path, "--data", data, "--json"])
        let viaAdapter = try runTrain(["eval", "--model", model.path, "--adapter", peft.path, "--data", data, "--json"])
        let base = try runTrain(["eval", "--model", model.path, "--data", data, "--json"])
        XCTAssertEqual(viaCheckpoint.status, 0, viaCheckpoint.stderr)
        XCTAssertEqual(viaCheckpoint.stdout, viaAdapter.stdout, "PEFT export round trip")
        XCTAssertNotEqual(viaCheckpoint.stdout, base.stdout, "the trained adapter changes the log-probs")

        let again = try runTrain(["export", final.path, "--format", "peft", "--out", peft.path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)

        let merged = directory.appendingPathComponent("merged")
        XCTAssertEqual(try runTrain(["export", final.path, "--format", "merged", "--out", merged.path]).status, 0)
        let config = try MistralConfig(contentsOf: merged.appendingPathComponent("config.json"))
        XCTAssertEqual(config.hiddenSize, 32)
        XCTAssertEqual(try runTrain(["eval", "--model", merged.path, "--data", data]).status, 0)
    }

    func testDryRunPrintsThePlanAndWritesNothing() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self), extra: "")
        let result = try runTrain(["sft", recipe.path, "--dry-run", "--set", "data.system_messages_per_instruction=1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("12 records, 4 instructions (records grouped by prompt; 0 prompt strings had more than 3 records), 1 system messages per instruction -> 4 examples"), result.stdout)
        XCTAssertTrue(result.stdout.contains("optimizer steps"), result.stdout)
        XCTAssertTrue(result.stdout.contains("estimated memory"), result.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path))
    }

    func testBadInputGivesOneReadableErrorAndKeepsCheckpoints() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        let recipe = try writeSFTRecipe(in: directory, model: model)
        XCTAssertEqual(try runTrain(["sft", recipe.path]).status, 0)
        let final = directory.appendingPathComponent("out/final.h5")
        let before = try Data(contentsOf: final)

        let records = try String(contentsOf: Fixtures.url("sft-sample.jsonl"), encoding: .utf8).split(separator: "\n")
        func dataFile(_ name: String, _ lines: [String]) throws -> String {
            let url = directory.appendingPathComponent(name)
            try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let malformed = try dataFile("malformed.jsonl", [String(records[0]), "{\"prompt\": \"x\", ", String(records[1])])
        var missing = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(records[2].utf8)) as? [String: Any])
        missing.removeValue(forKey: "output")
        let missingField = try dataFile("missing.jsonl", [String(records[0]), String(decoding: try JSONSerialization.data(withJSONObject: missing), as: UTF8.self)])
        let wrongType = try dataFile("wrong.jsonl", [#"{"system": "s", "prompt": "p", "output": 42}"#])

        let cases: [([String], String)] = [
            (["--set", "data.train=\(malformed)"], "malformed.jsonl:2: malformed JSON"),
            (["--set", "data.train=\(missingField)"], "missing.jsonl:2: field 'output': missing"),
            (["--set", "data.train=\(wrongType)"], "wrong.jsonl:1: field 'output': must be a string, found a number"),
            (["--set", "train.learning_rat=0.1"], "train.learning_rat"),
            (["--set", "model.path=/nonexistent/model"], "/nonexistent/model does not exist"),
            (["--set", "train.micro_batch_size=0"], "train.micro_batch_size"),
            ([], "exists: output.dir already holds a run"),
        ]
        for (arguments, expected) in cases {
            let result = try runTrain(["sft", recipe.path] + arguments)
            XCTAssertEqual(result.status, 1, "\(arguments)")
            XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)")
        }
        XCTAssertEqual(try Data(contentsOf: final), before, "no checkpoint was written over")

        let unknownKey = directory.appendingPathComponent("unknown.yaml")
        try (try String(contentsOf: recipe, encoding: .utf8) + "\nfancy: true\n").write(to: unknownKey, atomically: true, encoding: .utf8)
        let result = try runTrain(["sft", unknownKey.path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("fancy"), result.stderr)
    }

    /// The real collection's shape: two instructions sharing a prompt string (6 records), and the
    /// `messages` and `prompt` / `completion` shapes beside the collection's own.
    func testDryRunGroupsByPromptAndReadsEveryRecordShape() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        func record(_ prompt: String, _ k: Int) -> String { #"{"system": "s\#(k)", "prompt": "\#(prompt)", "output": "o\#(k)"}"# }
        let lines = (0..<6).map { record("Shared?", $0) } + (0..<3).map { record("Alone?", $0) } + [
            #"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Chat?"}, {"role": "assistant", "content": "Yes."}]}"#,
            #"{"prompt": "Completion?", "completion": "Yes."}"#,
        ]
        let data = directory.appendingPathComponent("collection.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: data, atomically: true, encoding: .utf8)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let result = try runTrain(["sft", recipe.path, "--dry-run", "--set", "data.train=\(data.path)", "--set", "data.system_messages_per_instruction=1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("11 records, 4 instructions (records grouped by prompt; 1 prompt strings had more than 3 records), 1 system messages per instruction -> 4 examples"), result.stdout)

        let multiTurn = #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}"#
        try (lines[0] + "\n" + multiTurn + "\n").write(to: data, atomically: true, encoding: .utf8)
        let refused = try runTrain(["sft", recipe.path, "--dry-run", "--set", "data.train=\(data.path)"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.hasPrefix("error: \(data.path):2: field 'messages': message 3 ('user') makes it more than one turn"), refused.stderr)
    }

    func testResumeLatestTakesTheNewestStepCheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        XCTAssertEqual(try runTrain(["sft", recipe.path]).status, 0)
        let out = directory.appendingPathComponent("out")
        try FileManager.default.removeItem(at: out.appendingPathComponent("final.h5"))
        let resumed = try runTrain(["sft", recipe.path, "--resume", "latest"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("step 4/6"), resumed.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("final.h5").path))
        let empty = try runTrain(["sft", recipe.path, "--resume", "latest", "--set", "output.dir=\(directory.appendingPathComponent("none").path)"])
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.stderr.contains("holds no step checkpoint"), empty.stderr)
    }
}
