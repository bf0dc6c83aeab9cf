import Foundation
import TestSupport
import XCTest

/// `train sft` on a run that blows up: non-finite steps are skipped, logged and, three in a row,
/// stop the run with an error naming the step and a parameter, without writing a checkpoint.
final class NonFiniteCLITests: XCTestCase {
    /// Sets the first element of `tensor` in the tiny model's safetensors shards to NaN.
    private func poison(_ tensor: String, in model: URL) throws {
        for shard in try FileManager.default.contentsOfDirectory(atPath: model.path) where shard.hasSuffix(".safetensors") {
            let url = model.appendingPathComponent(shard)
            var bytes = try Data(contentsOf: url)
            let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[8..<8 + headerLength]) as? [String: Any])
            guard let entry = header[tensor] as? [String: Any] else { continue }
            let offset = 8 + headerLength + (try XCTUnwrap((entry["data_offsets"] as? [Int])?.first))
            let nan: [UInt8] = entry["dtype"] as? String == "BF16" ? [0xC0, 0x7F] : [0x00, 0x00, 0xC0, 0x7F]
            bytes.replaceSubrange(offset..<offset + nan.count, with: nan)
            try bytes.write(to: url)
            return
        }
        XCTFail("\(tensor) is in no shard of \(model.path)")
    }

    func testOneNaNWeightStopsTheRunWithoutACheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        try poison("model.layers.0.mlp.down_proj.weight", in: model)
        let recipe = try writeSFTRecipe(in: directory, model: model)
        let result = try runTrain(["sft", recipe.path, "--set", "output.save_every_steps=1"])
        XCTAssertEqual(result.status, 1, result.stdout)
        let errorLines = result.stderr.split(separator: "\n")
        XCTAssertEqual(errorLines.count, 1, result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("error: step 3: loss nan"), result.stderr)
        XCTAssertTrue(result.stderr.contains("train.max_nonfinite_steps: 3"), result.stderr)
        XCTAssertTrue(result.stderr.contains("the first parameter with a non-finite gradient is model.layers.0.self_attn.q_proj.lora_A"), result.stderr)
        XCTAssertTrue(result.stdout.contains("step 1/6  loss nan"), result.stdout)
        XCTAssertTrue(result.stdout.contains("skipped_nonfinite"), result.stdout)

        let output = directory.appendingPathComponent("out")
        let files = try FileManager.default.contentsOfDirectory(atPath: output.path)
        XCTAssertEqual(files, ["metrics.jsonl"], "no checkpoint (and no temporary file) from a run that never took a finite step")
        let lines = try readJSONLines(output.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(lines.map { $0["step"] as? Int }, [1, 2, 3])
        for line in lines {
            XCTAssertEqual(line["skipped_nonfinite"] as? Bool, true)
            XCTAssertTrue(line["loss"] is NSNull, "NaN is written as null: \(line)")
        }
    }

    /// Learning rate 1e30 overflows the adapters after one step. It must show as non-finite,
    /// not as a flat loss of ln(32000) with a zero gradient (an overflowing RMSNorm used to
    /// zero every row, which makes the logits uniform).
    func testAHugeLearningRateIsReportedAsNonFinite() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let recipe = try writeSFTRecipe(in: directory, model: try Fixtures.tinyMistralFolder(self))
        let result = try runTrain(["sft", recipe.path, "--set", "train.learning_rate=1e30", "--set", "train.warmup_steps=0"])
        XCTAssertEqual(result.status, 1, result.stdout)
        XCTAssertTrue(result.stderr.contains("3 steps in a row with a non-finite loss or gradient"), result.stderr)
        let lines = try readJSONLines(directory.appendingPathComponent("out/metrics.jsonl"))
        XCTAssertEqual(lines.first?["skipped_nonfinite"] as? Bool, nil, "the first step is finite")
        XCTAssertEqual(lines.filter { $0["skipped_nonfinite"] as? Bool == true }.count, 3)
        for line in lines {
            if let loss = line["loss"] as? Double {
                XCTAssertGreaterThan(abs(loss - Foundation.log(32000)), 1e-3, "a flat ln(vocab) loss: \(line)")
            }
            XCTAssertNotEqual(line["grad_norm"] as? Double, 0, "\(line)")
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path).filter { $0.hasSuffix(".h5") },
            [], "the only scheduled save (step 3) falls in the non-finite streak")
    }
}
