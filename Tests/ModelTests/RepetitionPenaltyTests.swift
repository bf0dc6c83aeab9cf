import Foundation
@testable import Model
import Tensor
import TestSupport
import XCTest

/// `Mistral.penalizeRepetition` against transformers' `RepetitionPenaltyLogitsProcessor`, and
/// the nucleus (top-p) set against sorting the whole vocabulary.
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

    func testNucleusIsWhatSortingTheWholeVocabularyGives() {
        var generator = RandomGenerator(seed: 5)
        func distribution(_ logits: [Float]) -> [Float] {
            let exps = logits.map { Foundation.exp($0 - (logits.max() ?? 0)) }
            let total = exps.reduce(0, +)
            return exps.map { $0 / total }
        }
        let peaked = distribution((0..<5000).map { _ in generator.nextNormal() * 6 })
        let flat = distribution((0..<5000).map { _ in generator.nextNormal() * 0.01 })
        let ties = distribution((0..<3000).map { Float($0 % 7) })
        var onePeak = [Float](repeating: 0, count: 1000)
        onePeak[17] = 1
        for (name, probabilities) in [("peaked", peaked), ("flat", flat), ("ties", ties), ("one peak", onePeak)] {
            for topP: Float in [0.1, 0.5, 0.9, 0.99, 1] {
                let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
                var expected = [Int](), mass: Float = 0
                for index in order {
                    expected.append(index)
                    mass += probabilities[index]
                    if mass >= topP { break }
                }
                let nucleus = Mistral.nucleus(probabilities, topP: topP)
                XCTAssertEqual(nucleus.kept, expected, "\(name), top-p \(topP)")
                XCTAssertEqual(nucleus.mass, mass, "\(name), top-p \(topP)")
            }
        }
        XCTAssertGreaterThan(Mistral.nucleus(flat, topP: 0.9).kept.count, 4000, "a flat distribution keeps most tokens")
        XCTAssertEqual(Mistral.nucleus(onePeak, topP: 0.9).kept, [17])
    }
}
