import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// The tiny Mistral of make_golden.py with the JANUS template: log-probs of records and greedy
/// answers against transformers.
final class TemplateGoldenTests: XCTestCase {
    private func loadModel() throws -> (Mistral, Tokenizer, SafetensorsFile) {
        let folder = try Fixtures.tinyMistralFolder(self)
        return (try Mistral.load(directory: folder), try Tokenizer.load(modelDirectory: folder),
                try Fixtures.goldenFile("tiny_mistral.safetensors"))
    }

    func testEvalLogProbsMatchTransformers() throws {
        let (model, tokenizer, golden) = try loadModel()
        let records = try RecordReader.sft(Fixtures.url("tiny-mistral-eval.jsonl")).records
        let scorer = ResponseScorer(model: model, tokenizer: tokenizer)
        let scores = records.map { scorer.score($0) }
        assertClose(Tensor(scores.map { Float($0.logp) }, shape: [3]), try golden.tensor("eval_logps"), atol: 1e-3, rtol: 1e-5, "eval_logps")
        XCTAssertEqual(scores.map { Float($0.tokens) }, try golden.tensor("eval_tokens").scalars)
        let record = records[0]
        let ids = ChatTemplate.promptIds(system: record.system, prompt: record.prompt, tokenizer: tokenizer)
            + ChatTemplate.responseIds(record.output, tokenizer: tokenizer)
        XCTAssertEqual(ids.map(Float.init), try golden.tensor("eval0_ids").scalars, "template tokenization")

        let pairs = try RecordReader.preferences(Fixtures.url("tiny-mistral-pairs.jsonl")).records
        let pairScores = pairs.map { scorer.score($0) }
        assertClose(Tensor(pairScores.map { Float($0.chosen.logp) }, shape: [2]), try golden.tensor("pair_chosen_logps"), atol: 1e-3, rtol: 1e-5, "chosen")
        assertClose(Tensor(pairScores.map { Float($0.rejected.logp) }, shape: [2]), try golden.tensor("pair_rejected_logps"), atol: 1e-3, rtol: 1e-5, "rejected")
        XCTAssertEqual(pairScores.map { Float($0.chosen.tokens) }, try golden.tensor("pair_chosen_tokens").scalars)
        XCTAssertEqual(pairScores.map { Float($0.rejected.tokens) }, try golden.tensor("pair_rejected_tokens").scalars)
    }

    func testGreedyGenerationMatchesTransformers() throws {
        let (model, tokenizer, golden) = try loadModel()
        let system = try XCTUnwrap(golden.metadata["generate_system"] ?? golden.metadata["system"])
        let prompt = try XCTUnwrap(golden.metadata["generate_prompt"] ?? golden.metadata["prompt"])
        let promptIds = ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer)
        XCTAssertEqual(promptIds.map(Float.init), try golden.tensor("generate_prompt_ids").scalars)
        let produced = model.generate(prompt: promptIds, options: SamplingOptions(maxNewTokens: 20))
        XCTAssertEqual(produced.map(Float.init), try golden.tensor("generate_greedy_ids").scalars)
    }

    /// `data.template: chatml` against transformers' apply_chat_template with axolotl's ChatML
    /// template, tokenized by the Mistral tokenizer, which has no <|im_start|> token
    /// (`make_chatml` in golden_stages.py).
    func testChatMLMatchesApplyChatTemplate() throws {
        let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.golden.appendingPathComponent("chatml.json"))) as? [String: Any])
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 3)
        let tokenizer = try Tokenizer.load(modelDirectory: try Fixtures.tinyMistralFolder(self))
        for item in cases {
            let system = item["system"] as? String, prompt = try XCTUnwrap(item["prompt"] as? String)
            let response = try XCTUnwrap(item["response"] as? String)
            XCTAssertEqual(ChatTemplate.promptText(system: system, prompt: prompt, template: .chatml), item["prompt_text"] as? String)
            XCTAssertEqual(ChatTemplate.responseText(response, template: .chatml), item["response_text"] as? String)
            let example = ChatTemplate.example(system: system, prompt: prompt, response: response, tokenizer: tokenizer, template: .chatml)
            XCTAssertEqual(Array(example.ids.prefix(example.promptLength)), (item["prompt_ids"] as? [Int])?.map(Int32.init))
            XCTAssertEqual(Array(example.ids.dropFirst(example.promptLength)), (item["response_ids"] as? [Int])?.map(Int32.init))
        }
    }

    /// `data.template: chatml` with SmolLM2's byte-level tokenizer, whose <|im_start|> and
    /// <|im_end|> are tokens and which adds no BOS, against the model's own chat template
    /// (make_byte_level_golden.py): the same ids, but for the newline the template writes after
    /// the last <|im_end|> (which is EOS here, so Facet's response ends there, once).
    func testChatMLWithByteLevelTokenizerMatchesTheModelsChatTemplate() throws {
        struct Golden: Decodable {
            struct Case: Decodable {
                var system: String
                var prompt: String
                var response: String
                var promptIds: [Int32]
                var conversationIds: [Int32]

                enum CodingKeys: String, CodingKey {
                    case system, prompt, response
                    case promptIds = "prompt_ids", conversationIds = "conversation_ids"
                }
            }

            var chatCases: [Case]

            enum CodingKeys: String, CodingKey {
                case chatCases = "chat_cases"
            }
        }
        let folder = Fixtures.url("smollm2-tokenizer")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        XCTAssertEqual(golden.chatCases.count, 3)
        let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("tokenizer.json"))
        for item in golden.chatCases {
            let example = ChatTemplate.example(
                system: item.system, prompt: item.prompt, response: item.response, tokenizer: tokenizer, template: .chatml)
            XCTAssertEqual(Array(example.ids.prefix(example.promptLength)), item.promptIds)
            XCTAssertEqual(example.ids.last, tokenizer.eosId)
            XCTAssertEqual(example.ids, Array(item.conversationIds.dropLast()))
        }
    }
}
