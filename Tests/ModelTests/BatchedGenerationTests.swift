import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import XCTest

/// Batched decoding (`Mistral.generate(prompts:options:)`): prompts of different lengths answered
/// together give, token for token, the answers each gives alone, greedy or sampled.
final class BatchedGenerationTests: XCTestCase {
    private func tinyModel() throws -> (Mistral, Tokenizer) {
        let folder = try Fixtures.tinyMistralFolder(self)
        return (try Mistral.load(directory: folder), try Tokenizer.load(modelDirectory: folder))
    }

    private let texts = [
        "[INST] Name the final item of this list: pear, river, apple, boat. [/INST]",
        "[INST] Hi [/INST]",
        "[INST] You explain like a patient teacher.\nWhy is the sky blue? Answer in two sentences, please. [/INST]",
    ]

    func testGreedyBatchEqualsOneAtATimeOnTheTinyModel() throws {
        let (model, tokenizer) = try tinyModel()
        let prompts = texts.map { tokenizer.encode($0, addBOS: true) }
        XCTAssertEqual(Set(prompts.map(\.count)).count, 3, "prompts of different lengths")
        // Different limits, so rows leave the batch at different steps.
        let options = [14, 6, 20].map { SamplingOptions(maxNewTokens: $0) }
        let alone = zip(prompts, options).map { model.generate(prompt: $0, options: $1) }
        XCTAssertEqual(alone.map(\.count), [14, 6, 20])
        XCTAssertEqual(model.generate(prompts: prompts, options: options), alone)
        XCTAssertEqual(model.generate(prompts: [prompts[2], prompts[0]], options: [options[2], options[0]]), [alone[2], alone[0]])
    }

    func testARowStoppedByItsCallbackLeavesTheOthersUnchanged() throws {
        let (model, tokenizer) = try tinyModel()
        let prompts = texts.map { tokenizer.encode($0, addBOS: true) }
        let options = Array(repeating: SamplingOptions(maxNewTokens: 10), count: 3)
        let alone = zip(prompts, options).map { model.generate(prompt: $0, options: $1) }
        var seen = [[Int32]](repeating: [], count: 3)
        let batched = model.generate(prompts: prompts, options: options) { row, id in
            seen[row].append(id)
            return row != 1 || seen[1].count < 3
        }
        XCTAssertEqual(batched, [alone[0], Array(alone[1].prefix(3)), alone[2]])
        XCTAssertEqual(seen, batched, "the callback sees every token of its row")
    }

    /// Each row draws from its own seed, so its answer is the same alone, in one batch, or in
    /// another batch beside other rows.
    func testSampledRowsDoNotDependOnTheBatch() throws {
        let (model, tokenizer) = try tinyModel()
        let prompts = texts.map { tokenizer.encode($0, addBOS: true) }
        let options = (0..<3).map { SamplingOptions(maxNewTokens: 12, temperature: 1, topP: 0.9, repetitionPenalty: 1.03, seed: 40 + UInt64($0)) }
        let alone = zip(prompts, options).map { model.generate(prompt: $0, options: $1) }
        XCTAssertEqual(model.generate(prompts: prompts, options: options), alone)
        XCTAssertEqual(model.generate(prompts: [prompts[1], prompts[1]], options: [options[1], options[2]])[0], alone[1])
        var reseeded = options[1]
        reseeded.seed = 99
        XCTAssertNotEqual(model.generate(prompt: prompts[1], options: reseeded), alone[1], "the seed decides the sample")
    }

    /// The real SmolLM2-135M-Instruct in its ChatML format: greedy answers to three prompts of
    /// different lengths, batched and one at a time.
    func testGreedyBatchEqualsOneAtATimeOnSmolLM2() throws {
        let source = try ModelSource(path: try Fixtures.smolLM2GGUF().path)
        let (model, tokenizer) = (try source.load(), try source.tokenizer())
        let prompts = [
            "<|im_start|>user\nName the final item of this list: pear, river, apple, boat.<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|>system\nYou answer in one word.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        ].map { tokenizer.encode($0, addBOS: false) }
        XCTAssertEqual(Set(prompts.map(\.count)).count, 3)
        let options = Array(repeating: SamplingOptions(maxNewTokens: 16), count: 3)
        let alone = zip(prompts, options).map { model.generate(prompt: $0, options: $1) }
        XCTAssertEqual(model.generate(prompts: prompts, options: options), alone)
        XCTAssertTrue(tokenizer.decode(alone[1]).contains("Paris"), tokenizer.decode(alone[1]))
    }
}
