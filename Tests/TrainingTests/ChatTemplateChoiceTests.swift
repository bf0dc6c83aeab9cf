import Foundation
import Model
import TestSupport
import Tokenizer
import Training
import XCTest

/// `ChatTemplate.template(for:checkpoint:)`: without a checkpoint, a model whose own chat
/// template uses <|im_start|> answers in ChatML, any other in the JANUS template.
final class ChatTemplateChoiceTests: XCTestCase {
    /// SmolLM2's GGUF carries a ChatML `tokenizer.chat_template`; the prompt ids in the chosen
    /// template are those of the model's own chat template (make_byte_level_golden.py).
    func testSmolLM2GGUFAnswersInChatML() throws {
        let source = try ModelSource(path: try Fixtures.smolLM2GGUF().path)
        let template = try ChatTemplate.template(for: source, checkpoint: nil)
        XCTAssertEqual(template, .chatml)
        struct Golden: Decodable {
            struct Case: Decodable {
                var system: String, prompt: String, prompt_ids: [Int32]
            }
            var chat_cases: [Case]
        }
        let golden = try JSONDecoder().decode(
            Golden.self, from: Data(contentsOf: Fixtures.url("smollm2-tokenizer/expected.json")))
        let tokenizer = try source.tokenizer()
        // The third case has "  1", whose spaces the GGUF's "smollm" pre-tokenizer (llama.cpp's)
        // and the golden's tokenizer.json split differently: both cases of the golden are compared
        // with the tokenizer.json in TemplateGoldenTests.
        XCTAssertEqual(golden.chat_cases.count, 3)
        for item in golden.chat_cases.prefix(2) {
            XCTAssertEqual(ChatTemplate.promptIds(system: item.system, prompt: item.prompt, tokenizer: tokenizer, template: template), item.prompt_ids)
        }
    }

    func testFolderTemplates() throws {
        XCTAssertEqual(try ChatTemplate.template(for: .folder(try Fixtures.tinyMistralFolder(self)), checkpoint: nil), .janus, "no chat template")
        let folder = try Fixtures.temporaryDirectory(self)
        let config = folder.appendingPathComponent("tokenizer_config.json")
        func choice(_ object: [String: Any]) throws -> ChatTemplate.Kind {
            try JSONSerialization.data(withJSONObject: object).write(to: config)
            return try ChatTemplate.template(for: .folder(folder), checkpoint: nil)
        }
        let chatML = "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}"
        let mistral = "{{ bos_token }}{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endfor %}"
        XCTAssertEqual(try choice(["chat_template": chatML]), .chatml)
        XCTAssertEqual(try choice(["chat_template": mistral]), .janus)
        XCTAssertEqual(try choice(["chat_template": [["name": "tool_use", "template": mistral], ["name": "default", "template": chatML]]]), .chatml)
        XCTAssertEqual(try choice(["chat_template": [["name": "tool_use", "template": mistral]]]), .janus, "no default: the first")
        XCTAssertEqual(try choice(["eos_token": "</s>"]), .janus)
        XCTAssertThrowsError(try choice(["chat_template": 3])) { error in
            XCTAssertEqual("\(error)", "\(config.path): 'chat_template' must be a string or a list of {name, template}")
        }
        try Data(chatML.utf8).write(to: folder.appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(try ChatTemplate.template(for: .folder(folder), checkpoint: nil), .chatml, "chat_template.jinja comes first")
    }
}
