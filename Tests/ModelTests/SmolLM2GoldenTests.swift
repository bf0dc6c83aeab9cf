import Foundation
import Model
import Tensor
import Tokenizer
import TestSupport
import XCTest

/// The real SmolLM2-135M-Instruct (Q4_1 matrices, Q8_0 tied embedding) read from its GGUF,
/// against transformers loading the same file with gguf_file= (make_gguf_golden.py, group
/// smollm2): the first positions of a few prompts.
final class SmolLM2GoldenTests: XCTestCase {
    func testLogitsMatchTransformers() throws {
        let model = try Mistral.load(gguf: try Fixtures.smolLM2GGUF())
        let c = model.config
        XCTAssertEqual([c.numHiddenLayers, c.hiddenSize, c.numAttentionHeads, c.numKeyValueHeads, c.vocabSize], [30, 576, 9, 3, 49152])
        XCTAssertEqual(c.ropeTheta, 100_000)
        XCTAssertTrue(c.tieWordEmbeddings)
        let golden = try Fixtures.goldenFile("smollm2.safetensors")
        let expected = try golden.tensor("logits")  // [prompts, positions, slice]
        let (prompts, positions, slice) = (expected.shape[0], expected.shape[1], expected.shape[2])
        let ids = try golden.tensor("ids").scalars.map { Int32($0) }
        let logits = model.logits(model.hiddenStates(TokenBatch(ids: ids, batch: prompts, tokens: positions)))
        let vocab = c.vocabSize
        var sliced = [Float](), logSumExp = [Float]()
        for row in 0..<(prompts * positions) {
            let values = UnsafeBufferPointer(start: logits.data + row * vocab, count: vocab)
            sliced += values.prefix(slice)
            let maxValue = values.max()!
            logSumExp.append(maxValue + Float(Foundation.log(values.reduce(0.0) { $0 + Foundation.exp(Double($1 - maxValue)) })))
        }
        assertClose(Tensor(sliced, shape: expected.shape), expected, atol: 1e-4, "SmolLM2 logits")
        assertClose(Tensor(logSumExp, shape: [prompts, positions]), try golden.tensor("logsumexp"), atol: 1e-4, "SmolLM2 logsumexp")
    }

    /// The tokenizer built from the GGUF's own metadata (tokenizer.ggml.pre "smollm": digits one
    /// by one, then the GPT-2 pattern, as llama.cpp splits) against the golden ids of
    /// make_byte_level_golden.py for that pre-tokenizer, on its hard corpus.
    func testTokenizerFromTheGGUFMatchesTheGolden() throws {
        let tokenizer = try ModelSource(path: try Fixtures.smolLM2GGUF().path).tokenizer()
        XCTAssertNil(tokenizer.bosId)
        XCTAssertEqual(tokenizer.eosId, 2)
        XCTAssertEqual(tokenizer.piece(for: 2), "<|im_end|>")
        let folder = Fixtures.url("smollm2-tokenizer")
        let corpus = try TokenizerCorpus(contentsOf: folder.appendingPathComponent("corpus.json"))
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("expected.json"))) as? [String: Any]
        let encodings = try XCTUnwrap(golden?["encodings"] as? [[String: Any]])
        XCTAssertEqual(encodings.count, corpus.all.count)
        for (text, encoding) in zip(corpus.all, encodings) {
            let expected = try XCTUnwrap(encoding["ids_smollm"] as? [Int]).map { Int32($0) }
            XCTAssertEqual(tokenizer.encode(text, addBOS: true), expected, text.debugDescription)
        }
    }
}
