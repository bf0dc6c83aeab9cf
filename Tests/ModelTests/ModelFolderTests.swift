import Foundation
import Model
import TestSupport
import XCTest

/// Model folders that do not hold what their config.json describes.
final class ModelFolderTests: XCTestCase {
    func testAShapeThatContradictsConfigNamesTheTensorAndBothShapes() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let configURL = folder.appendingPathComponent("config.json")
        let config = try String(contentsOf: configURL, encoding: .utf8)
        XCTAssertTrue(config.contains(#""intermediate_size": 64"#))
        try config.replacingOccurrences(of: #""intermediate_size": 64"#, with: #""intermediate_size": 96"#)
            .write(to: configURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Mistral.load(directory: folder)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(folder.path): tensor 'model.layers.0.mlp.gate_proj.weight' has shape [64, 32] in the safetensors files, "
                    + "but config.json gives [96, 32]")
        }
    }

    /// config.json describes a decoder this code does not compute: each is an error naming the key.
    func testUnsupportedConfigsAreNamedErrors() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let original = try String(contentsOf: Fixtures.url("tiny-llama/config.json"), encoding: .utf8)
        let cases = [
            (#""model_type": "llama""#, #""model_type": "gpt2""#, "model_type 'gpt2' is not supported (supported: mistral, llama)"),
            (#""rope_type": "default""#, #""rope_type": "llama3""#, "rope type 'llama3' is not supported (only the default rotary embedding)"),
            (#""mlp_bias": false"#, #""mlp_bias": true"#, "'mlp_bias' is true, but Facet's decoder has no biases"),
            (#""tie_word_embeddings": true"#, #""tie_word_embeddings": "yes""#, "'tie_word_embeddings' must be true or false, found yes"),
        ]
        for (from, to, message) in cases {
            XCTAssertTrue(original.contains(from), from)
            let url = folder.appendingPathComponent("config.json")
            try original.replacingOccurrences(of: from, with: to).write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try MistralConfig(contentsOf: url)) { error in
                XCTAssertEqual("\(error)", "\(url.path): \(message)")
            }
        }
    }
}
