import Foundation
import Model
import Tensor
import TestSupport
import Training
import XCTest

/// GGUF files through `train`: as `--model` where no tokenizer is needed, and as an export.
final class GGUFCLITests: XCTestCase {
    func testConversionsBetweenGGUFAndHFFolders() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let golden = try Fixtures.goldenFile("tiny_llama.safetensors")
        let fromGGUF = directory.appendingPathComponent("from-gguf.gguf")
        let result = try runTrain(["export", "--model", Fixtures.tinyLlamaGGUF.path, "--format", "gguf", "--out", fromGGUF.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "wrote merged F16 GGUF model to \(fromGGUF.path)\n")
        assertClose(try Fixtures.tinyLlamaLogits(try Mistral.load(gguf: fromGGUF), golden), try golden.tensor("logits_f16"), atol: 1e-4, "GGUF -> GGUF")

        let fromFolder = directory.appendingPathComponent("from-folder.gguf")
        XCTAssertEqual(try runTrain(["export", "--model", Fixtures.url("tiny-llama").path, "--format", "gguf", "--out", fromFolder.path]).status, 0)
        assertClose(try Fixtures.tinyLlamaLogits(try Mistral.load(gguf: fromFolder), golden), try golden.tensor("logits_f16"), atol: 1e-4, "HF folder -> GGUF")
        XCTAssertNil(try GGUFFile(url: fromFolder)["tokenizer.chat_template"], "an HF folder has no GGUF metadata to carry")

        let folder = directory.appendingPathComponent("hf")
        XCTAssertEqual(try runTrain(["export", "--model", Fixtures.tinyLlamaGGUF.path, "--format", "merged", "--out", folder.path]).status, 0)
        let config = try MistralConfig(contentsOf: folder.appendingPathComponent("config.json"))
        XCTAssertEqual(config.modelType, "llama")
        XCTAssertTrue(config.tieWordEmbeddings)
        XCTAssertNil(try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors")).entries["lm_head.weight"])
        assertClose(try Fixtures.tinyLlamaLogits(try Mistral.load(directory: folder), golden), try golden.tensor("logits"), atol: 1e-4, "GGUF -> HF folder")

        let again = try runTrain(["export", "--model", Fixtures.tinyLlamaGGUF.path, "--format", "gguf", "--out", fromGGUF.path])
        XCTAssertEqual(again.stderr, "error: \(fromGGUF.path) already exists; export never writes over it\n")
        let nothing = try runTrain(["export", "--format", "gguf", "--out", directory.appendingPathComponent("x.gguf").path])
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.stderr.contains("give a checkpoint"), nothing.stderr)
    }

    func testGGUFModelRunsTheSpeedBenchmarkAndNamesTheMissingTokenizer() throws {
        let bench = try runTrain(["bench", "--model", Fixtures.tinyLlamaGGUF.path, "--seq", "16", "--steps", "1", "--dtype", "float32", "--json"])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["vocab"] as? Int, 256)
        XCTAssertEqual(object["layers"] as? Int, 2)

        let data = Fixtures.url("tiny-mistral-eval.jsonl").path
        let eval = try runTrain(["eval", "--model", Fixtures.tinyLlamaGGUF.path, "--data", data])
        XCTAssertEqual(eval.status, 1)
        XCTAssertEqual(eval.stderr, "error: \(Fixtures.tinyLlamaGGUF.path): missing metadata key 'tokenizer.ggml.model'\n")
        let recipe = try writeSFTRecipe(in: try Fixtures.temporaryDirectory(self), model: Fixtures.tinyLlamaGGUF)
        let sft = try runTrain(["sft", recipe.path, "--dry-run"])
        XCTAssertEqual(sft.status, 1)
        XCTAssertTrue(sft.stderr.hasPrefix("error: \(Fixtures.tinyLlamaGGUF.path): missing metadata key 'tokenizer.ggml.model'"), sft.stderr)
        let notGGUF = try runTrain(["eval", "--model", data, "--data", data])
        XCTAssertEqual(notGGUF.stderr, "error: model \(data) is a file but not a .gguf file; give an HF model folder or a GGUF file\n")
    }

    /// A trained checkpoint's adapters merged into the GGUF: every matrix is the merged float32
    /// weight rounded once to F16, in HF's row order after reading back.
    func testCheckpointExportsAsGGUFWithTheAdaptersMerged() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let model = try Fixtures.tinyMistralFolder(self)
        XCTAssertEqual(try runTrain(["sft", try writeSFTRecipe(in: directory, model: model).path]).status, 0)
        let final = directory.appendingPathComponent("out/final.h5")
        let out = directory.appendingPathComponent("merged.gguf")
        let result = try runTrain(["export", final.path, "--format", "gguf", "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)

        let expected = try Mistral.load(directory: model)
        try Checkpoint.read(final).apply(to: expected)
        let exported = try Mistral.load(gguf: out)
        XCTAssertEqual(exported.config.numHiddenLayers, expected.config.numHiddenLayers)
        XCTAssertEqual(exported.config.headDim, expected.config.headDim)
        XCTAssertFalse(exported.config.tieWordEmbeddings)
        func f16(_ t: Tensor) -> Tensor { Tensor(t.widened().scalars.map { Float(Float16($0)) }, shape: t.shape) }
        XCTAssertTrue(expected.linears.contains { $0.adapter != nil || $0.frozenAdapter != nil })
        for (want, got) in zip(expected.linears, exported.linears) {
            assertClose(got.weight, f16(want.mergedWeight), atol: 0, want.name)
        }
        assertClose(exported.lmHead, f16(expected.lmHead), atol: 0, "lm_head")
        assertClose(exported.norm, expected.norm.widened(), atol: 0, "norm")
    }
}
