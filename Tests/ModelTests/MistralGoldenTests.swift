import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import XCTest

/// The tiny Mistral of make_golden.py (2 layers, GQA, bf16 shards) against transformers.
final class MistralGoldenTests: XCTestCase {
    private func loadModel() throws -> (Mistral, Tokenizer, SafetensorsFile) {
        let folder = try Fixtures.tinyMistralFolder(self)
        return (try Mistral.load(directory: folder), try Tokenizer.load(modelDirectory: folder),
                try Fixtures.goldenFile("tiny_mistral.safetensors"))
    }

    func testConfigReadsRopeParametersAndDerivedFields() throws {
        let config = try MistralConfig(contentsOf: Fixtures.url("tiny-mistral/config.json"))
        XCTAssertEqual(config.ropeTheta, 1_000_000)
        XCTAssertEqual(config.headDim, 8)
        XCTAssertEqual(config.numKeyValueHeads, 2)
        XCTAssertNil(config.slidingWindow)
        XCTAssertEqual(config.savedDType, "bfloat16")
    }

    func testHiddenStatesAndLogitsMatchTransformers() throws {
        let (model, _, golden) = try loadModel()
        let ids = try golden.tensor("input_ids").scalars.map { Int32($0) }
        let hidden = model.hiddenStates(TokenBatch(ids: ids, batch: 2, tokens: 11))
        assertClose(hidden, try golden.tensor("hidden_last"), atol: 1e-4, "hidden_last")
        let logits = model.logits(hidden)  // [2, 11, 32000]
        let first = logits.slice(axis: 0, 0..<1)
        let rows = Tensor.concatenated([0, 5, 10].map { first.slice(axis: 1, $0..<($0 + 1)).reshaped([1, 32000]) }, axis: 0)
        assertClose(rows, try golden.tensor("logits_rows"), atol: 1e-4, "logits_rows")
        var summary = [Float]()
        for row in 0..<22 {
            let values = Array(UnsafeBufferPointer(start: logits.data + row * 32000, count: 32000))
            let maxValue = values.max()!
            summary.append(maxValue + Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - maxValue) }))
            summary.append(row % 11 == 10 ? 0 : values[Int(ids[row + 1])])
        }
        assertClose(Tensor(summary, shape: [2, 11, 2]), try golden.tensor("logits_summary"), atol: 1e-4, "logits_summary")
    }

    func testKVCacheGivesTheSameLogitsAsAFullForward() throws {
        let (model, _, golden) = try loadModel()
        let ids = Array(try golden.tensor("input_ids").scalars.prefix(11).map { Int32($0) })
        let full = model.logits(model.hiddenStates(TokenBatch(ids: ids, batch: 1, tokens: 11)))
        let cache = KVCache(config: model.config, capacity: 11)
        _ = model.hiddenStates(TokenBatch(ids: Array(ids.prefix(7)), batch: 1, tokens: 7), cache: cache)
        var last: Tensor?
        for t in 7..<11 {
            last = model.logits(model.hiddenStates(TokenBatch(ids: [ids[t]], batch: 1, tokens: 1, positions: [Int32(t)]), cache: cache))
        }
        assertClose(try XCTUnwrap(last).reshaped([32000]), full.slice(axis: 1, 10..<11).reshaped([32000]), atol: 1e-4, "cached logits")
    }
}
