import Foundation
import Model
import Tensor
import TestSupport
import XCTest

/// The tiny Llama of make_gguf_golden.py (group tiny_llama): read from its GGUF (quantized,
/// rotary rows permuted as llama.cpp writes them) and from the HF folder transformers made of
/// it, against transformers' logits on the GGUF; and the GGUF export.
final class GGUFModelTests: XCTestCase {
    func testConfigFromGGUFMetadata() throws {
        let config = try MistralConfig(gguf: GGUFFile(url: Fixtures.tinyLlamaGGUF))
        XCTAssertEqual(config, MistralConfig(
            vocabSize: 256, hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
            headDim: 16, ropeTheta: 100_000, rmsNormEps: 1e-5, maxPositionEmbeddings: 512, modelType: "llama", tieWordEmbeddings: true))
    }

    func testGGUFLogitsMatchTransformers() throws {
        let golden = try Fixtures.goldenFile("tiny_llama.safetensors")
        let model = try Mistral.load(gguf: Fixtures.tinyLlamaGGUF)
        XCTAssertTrue(model.lmHead === model.embedTokens)
        assertClose(try Fixtures.tinyLlamaLogits(model, golden), try golden.tensor("logits"), atol: 1e-4, "tiny llama GGUF logits")
        let bf16 = try Mistral.load(gguf: Fixtures.tinyLlamaGGUF, dtype: .bfloat16)
        assertClose(try Fixtures.tinyLlamaLogits(bf16, golden), try golden.tensor("logits"), atol: 0.1, "tiny llama GGUF logits, bf16 weights")
    }

    func testLlamaConfigJSONFolderMatchesTransformers() throws {
        let golden = try Fixtures.goldenFile("tiny_llama.safetensors")
        let source = try ModelSource(path: Fixtures.url("tiny-llama").path)
        XCTAssertEqual(try source.config().modelType, "llama")
        XCTAssertTrue(try source.config().tieWordEmbeddings)
        let model = try source.load()
        XCTAssertTrue(model.lmHead === model.embedTokens)
        XCTAssertFalse(model.namedWeights.contains { $0.name == "lm_head.weight" })
        assertClose(try Fixtures.tinyLlamaLogits(model, golden), try golden.tensor("logits"), atol: 1e-4, "tiny llama HF folder logits")
    }

    func testExportWritesF16MatricesThatReadBackToTheGoldenF16Logits() throws {
        let golden = try Fixtures.goldenFile("tiny_llama.safetensors")
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("export.gguf")
        let source = try GGUFFile(url: Fixtures.tinyLlamaGGUF)
        try GGUFExport.write(try Mistral.load(gguf: Fixtures.tinyLlamaGGUF), type: .f16, carrying: source, to: out)
        let exported = try GGUFFile(url: out)
        XCTAssertEqual(exported["general.architecture"], .string("llama"))
        XCTAssertEqual(exported["general.file_type"], .uint32(1))
        XCTAssertEqual(exported["tokenizer.chat_template"], source["tokenizer.chat_template"])
        XCTAssertEqual(exported["general.name"], .string("tiny-llama"))
        XCTAssertEqual(Set(exported.tensors.map(\.name)), Set(source.tensors.map(\.name)))
        for info in exported.tensors { XCTAssertEqual(info.type, info.dimensions.count == 1 ? .f32 : .f16, info.name) }
        XCTAssertEqual(try MistralConfig(gguf: exported), try MistralConfig(gguf: source))
        assertClose(try Fixtures.tinyLlamaLogits(try Mistral.load(gguf: out), golden), try golden.tensor("logits_f16"), atol: 1e-4, "exported F16 logits")
    }

    func testExportMergesAdaptersIntoTheWeights() throws {
        let model = try Mistral.load(gguf: Fixtures.tinyLlamaGGUF)
        model.attachLoRA(LoRAConfig(rank: 2, alpha: 4, targetModules: ["q_proj", "k_proj", "down_proj"]), seed: 3, dropoutState: DropoutState(seed: 4))
        var generator = RandomGenerator(seed: 5)
        for linear in model.linears { if let b = linear.adapter?.b { for i in 0..<b.count { b.data[i] = generator.nextUniform() - 0.5 } } }
        let out = try Fixtures.temporaryDirectory(self).appendingPathComponent("merged.gguf")
        try GGUFExport.write(model, type: .bf16, carrying: nil, to: out)
        let back = try Mistral.load(gguf: out)
        for (original, read) in zip(model.linears, back.linears) {
            let expected = original.mergedWeight.narrowedToBFloat16().widened()
            assertClose(read.weight, expected, atol: 0, original.name)
        }
    }

    /// A tied table gets the sum of its two uses' gradients: the same as an untied model whose
    /// embedding and LM head are separate copies of it.
    func testTiedEmbeddingGradientIsTheSumOfBothUses() throws {
        let tied = try Mistral.load(gguf: Fixtures.tinyLlamaGGUF)
        var untiedConfig = tied.config
        untiedConfig.tieWordEmbeddings = false
        let weights = Dictionary(uniqueKeysWithValues: tied.namedWeights.map { ($0.name, $0.tensor) })
        let untied = try Mistral(config: untiedConfig) { name, _, _ in
            let weight = try XCTUnwrap(weights[name == "lm_head.weight" ? "model.embed_tokens.weight" : name])
            return Tensor(weight.scalars, shape: weight.shape)
        }
        let ids: [Int32] = [1, 17, 200, 3, 99, 42]
        let targets: [Int32] = [17, 200, 3, 99, 42, -1]
        for model in [tied, untied] {
            for parameter in model.namedWeights { parameter.tensor.requiresGrad = true }
            model.logProbs(TokenBatch(ids: ids, batch: 1, tokens: 6), targets: targets).sum().backward()
        }
        let expected = try XCTUnwrap(untied.embedTokens.grad) + XCTUnwrap(untied.lmHead.grad)
        assertClose(try XCTUnwrap(tied.embedTokens.grad), expected, atol: 1e-5, "tied embedding gradient")
        XCTAssertEqual(tied.namedWeights.count + 1, untied.namedWeights.count)
    }

    func testUnsupportedArchitectureAndMissingKeysAreNamed() throws {
        let source = try GGUFFile(url: Fixtures.tinyLlamaGGUF)
        let folder = try Fixtures.temporaryDirectory(self)
        func rewritten(_ edit: ([(key: String, value: GGUFValue)]) -> [(key: String, value: GGUFValue)]) throws -> URL {
            let url = folder.appendingPathComponent("\(UUID().uuidString).gguf")
            let tensors = try source.tensors.map { info in
                (name: info.name, tensor: try source.tensor(info.name), type: info.dimensions.count == 1 ? GGUFTensorType.f32 : .f16)
            }
            try GGUFFile.write(metadata: edit(source.metadata), tensors: tensors, to: url)
            return url
        }
        func assertError(_ url: URL, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Mistral.load(gguf: url), file: file, line: line) { error in
                XCTAssertEqual("\(error)", "\(url.path): \(message)", file: file, line: line)
            }
        }
        let gpt2 = try rewritten { $0.map { $0.key == "general.architecture" ? ($0.key, .string("gpt2")) : $0 } }
        assertError(gpt2, #"general.architecture string("gpt2") is not supported (supported: llama)"#)
        let noBlocks = try rewritten { $0.filter { $0.key != "llama.block_count" } }
        assertError(noBlocks, "missing metadata key 'llama.block_count'")
        // A fuzz finding: a block count far beyond the file's tensors once exhausted memory.
        let manyBlocks = try rewritten { $0.map { $0.key == "llama.block_count" ? ($0.key, .uint64(1 << 60)) : $0 } }
        assertError(manyBlocks, "tensor 'blk.2.attn_norm.weight' (model.layers.2.input_layernorm.weight) is missing")
        let wrongWidth = try rewritten { $0.map { $0.key == "llama.feed_forward_length" ? ($0.key, .uint32(96)) : $0 } }
        assertError(wrongWidth, "tensor 'blk.0.ffn_gate.weight' has shape [128, 64], but the metadata gives [96, 64]")
        XCTAssertThrowsError(try ModelSource(path: Fixtures.url("tiny-llama/config.json").path)) { error in
            XCTAssertTrue("\(error)".contains("is a file but not a .gguf file"), "\(error)")
        }
        XCTAssertThrowsError(try ModelSource(path: Fixtures.tinyLlamaGGUF.path).tokenizer()) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(Fixtures.tinyLlamaGGUF.path): missing metadata key 'tokenizer.ggml.model'"), "\(error)")
        }
    }
}
