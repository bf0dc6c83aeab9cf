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
}
