import Foundation
import Model
import Tensor
import XCTest

/// Paths of the committed fixtures and the fetched Mistral tokenizer, plus a runner for the
/// built `train` executable.
public enum Fixtures {
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let directory = repository.appendingPathComponent("Tests/Fixtures")
    public static let golden = directory.appendingPathComponent("golden")
    public static let tokenizerModel = repository.appendingPathComponent("assets/mistral/tokenizer.model")
    public static let smolLM2 = repository.appendingPathComponent("assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")

    public static func url(_ relative: String) -> URL { directory.appendingPathComponent(relative) }

    /// A fresh temporary folder, removed when the test ends.
    public static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("facet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// The tiny golden Mistral (Tests/Fixtures/tiny-mistral) with the real tokenizer beside
    /// it, in a temporary folder.
    public static func tinyMistralFolder(_ test: XCTestCase) throws -> URL {
        guard FileManager.default.fileExists(atPath: tokenizerModel.path) else {
            throw FixtureError("\(tokenizerModel.path) missing: run `make assets/mistral/tokenizer.model`")
        }
        let folder = try temporaryDirectory(test).appendingPathComponent("tiny-mistral")
        try FileManager.default.copyItem(at: url("tiny-mistral"), to: folder)
        try FileManager.default.copyItem(at: tokenizerModel, to: folder.appendingPathComponent("tokenizer.model"))
        return folder
    }

    /// A 2-layer Llama with tied embeddings in llama.cpp's conventions (make_gguf_golden.py).
    public static let tinyLlamaGGUF = url("gguf/tiny-llama.gguf")

    /// The tiny Llama's logits for the 2 x 8 token ids of a golden file of make_gguf_golden.py.
    public static func tinyLlamaLogits(_ model: Mistral, _ golden: SafetensorsFile) throws -> Tensor {
        let ids = try golden.tensor("ids").scalars.map { Int32($0) }
        return model.logits(model.hiddenStates(TokenBatch(ids: ids, batch: 2, tokens: 8)))
    }

    /// The real SmolLM2-135M-Instruct GGUF that the Makefile fetches.
    public static func smolLM2GGUF() throws -> URL {
        guard FileManager.default.fileExists(atPath: smolLM2.path) else {
            throw FixtureError("\(smolLM2.path) missing: run `make \(smolLM2.path.dropFirst(repository.path.count + 1))`")
        }
        return smolLM2
    }

    public static func goldenFile(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(url: golden.appendingPathComponent(name))
    }
}

/// The JSON objects of a metrics.jsonl (or any JSONL file), in order.
public func readJSONLines(_ url: URL) throws -> [[String: Any]] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

/// A fixture that is not where the tests expect it.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// A tokenizer golden corpus (corpus.json): strings that decode back to themselves, then strings
/// that do not.
public struct TokenizerCorpus: Decodable {
    public var roundTrip: [String]
    public var encodeOnly: [String]

    enum CodingKeys: String, CodingKey {
        case roundTrip = "round_trip", encodeOnly = "encode_only"
    }

    public var all: [String] { roundTrip + encodeOnly }

    public init(contentsOf url: URL) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
    }
}

