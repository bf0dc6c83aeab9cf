import Foundation
import Model
import Tensor
import TestSupport
import XCTest

/// `Mistral.penalizeRepetition` against transformers' `RepetitionPenaltyLogitsProcessor`.
final class RepetitionPenaltyTests: XCTestCase {
    func testPenaltyMatchesTransformers() throws {
        let golden = try Fixtures.goldenFile("repetition_penalty.safetensors")
        let logits = try golden.tensor("logits").scalars
        let seen = Set(try golden.tensor("ids").scalars.map { Int32($0) })
        for (name, penalty) in [("penalized_1_03", Float(1.03)), ("penalized_1_5", 1.5)] {
            var penalized = logits
            Mistral.penalizeRepetition(&penalized, seen: seen, penalty: penalty)
            let expected = try golden.tensor(name).scalars
            for i in logits.indices { XCTAssertEqual(penalized[i], expected[i], accuracy: 1e-6, "\(name)[\(i)]") }
            XCTAssertTrue(logits.indices.contains { penalized[$0] != logits[$0] }, name)
        }
        var unchanged = logits
        Mistral.penalizeRepetition(&unchanged, seen: seen, penalty: 1)
        XCTAssertEqual(unchanged, logits)
    }

    func testPaperSampling() {
        let paper = SamplingOptions.paper(seed: 3)
        XCTAssertEqual([paper.temperature, paper.topP, paper.repetitionPenalty], [1, 0.9, 1.03])
        XCTAssertEqual(paper.maxNewTokens, 1024)
        XCTAssertEqual(paper.seed, 3)
        XCTAssertEqual(SamplingOptions().temperature, 0, "greedy by default")
    }
}
