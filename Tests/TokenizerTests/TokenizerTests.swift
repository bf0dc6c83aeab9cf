import Foundation
import TestSupport
import Tokenizer
import XCTest

/// Goldens from Tests/Fixtures/make_tokenizer_golden.py (the `sentencepiece` and `tokenizers`
/// packages on Mistral's tokenizer.model).
final class TokenizerTests: XCTestCase {
    private static let fixtures = Fixtures.url("tokenizer")
    private static let modelURL = Fixtures.tokenizerModel

    private struct Golden: Decodable {
        struct Encoding: Decodable {
            var ids: [Int32]
            var idsWithBOS: [Int32]
            var decoded: String

            enum CodingKeys: String, CodingKey {
                case ids, decoded, idsWithBOS = "ids_with_bos"
            }
        }

        struct Variant: Decodable {
            var ids: [[Int32]?]
        }

        var bosId: Int32
        var eosId: Int32
        var unkId: Int32
        var vocabularySize: Int
        var encodings: [Encoding]
        var decodeCases: [DecodeCase]
        var huggingFaceVariants: [String: Variant]

        enum CodingKeys: String, CodingKey {
            case encodings
            case bosId = "bos_id", eosId = "eos_id", unkId = "unk_id", vocabularySize = "vocabulary_size"
            case decodeCases = "decode_cases", huggingFaceVariants = "hf_variants"
        }
    }

    private static let corpus = Result { try TokenizerCorpus(contentsOf: fixtures.appendingPathComponent("corpus.json")) }
    private static let golden = Result { try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixtures.appendingPathComponent("expected.json"))) }
    private static let mistral = Result { try Tokenizer(contentsOf: requireModel()) }
    private static let mistralJSON = Result { try Tokenizer(contentsOf: fixtures.appendingPathComponent("tokenizer.json")) }

    private struct MissingAsset: Error, CustomStringConvertible {
        var description: String
    }

    /// The real model lives under the git-ignored assets/ folder; the Makefile fetches it.
    private static func requireModel() throws -> URL {
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw MissingAsset(description: "\(modelURL.path) is missing: run `make assets/mistral/tokenizer.model`")
        }
        return modelURL
    }

    private var strings: [String] {
        get throws {
            try Self.corpus.get().all
        }
    }

    // MARK: - SentencePiece model

    func testEncodingMatchesSentencePiece() throws {
        try assertEncodingsMatchGolden(try Self.mistral.get(), name: "tokenizer.model")
    }

    func testDecodingMatchesSentencePieceAndRoundTrips() throws {
        let tokenizer = try Self.mistral.get()
        let golden = try Self.golden.get()
        let corpus = try Self.corpus.get()
        for (index, text) in try strings.enumerated() {
            let expected = golden.encodings[index]
            assertSameText(tokenizer.decode(expected.ids), expected.decoded, "decode of string \(index)")
            assertSameText(tokenizer.decode(expected.idsWithBOS), expected.decoded, "decode with BOS of string \(index)")
            if index < corpus.roundTrip.count {
                assertSameText(tokenizer.decode(tokenizer.encode(text, addBOS: true)), text, "round trip of string \(index)")
            }
        }
    }

    func testDecodeCasesMatchSentencePiece() throws {
        let tokenizer = try Self.mistral.get()
        for decodeCase in try Self.golden.get().decodeCases {
            assertSameText(tokenizer.decode(decodeCase.ids), decodeCase.text, "decode of \(decodeCase.ids)")
        }
    }

    func testStreamingDecoderAddsUpToDecode() throws {
        let tokenizer = try Self.mistral.get()
        let golden = try Self.golden.get()
        let idLists = golden.decodeCases.map(\.ids) + golden.encodings.map(\.idsWithBOS)
        for ids in idLists {
            var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
            let streamed = ids.map { decoder.append($0) }.joined() + decoder.finish()
            assertSameText(streamed, tokenizer.decode(ids), "streamed decode of \(ids)")
        }
    }

    func testStreamingDecoderHoldsBytesUntilACharacterIsComplete() throws {
        let tokenizer = try Self.mistral.get()
        let bytes = try [0xF0, 0x9F, 0x98, 0x80].map { try XCTUnwrap(tokenizer.id(for: String(format: "<0x%02X>", $0))) }
        var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(bytes.dropLast().map { decoder.append($0) }, ["", "", ""])
        XCTAssertEqual(decoder.append(bytes[3]), "😀")
        XCTAssertEqual(decoder.append(try XCTUnwrap(tokenizer.id(for: "\u{2581}world"))), " world")
        XCTAssertEqual(decoder.finish(), "")
    }

    func testSpecialIdsAndPieces() throws {
        let tokenizer = try Self.mistral.get()
        let golden = try Self.golden.get()
        XCTAssertEqual(tokenizer.bosId, golden.bosId)
        XCTAssertEqual(tokenizer.eosId, golden.eosId)
        XCTAssertEqual(tokenizer.unkId, golden.unkId)
        XCTAssertEqual(tokenizer.vocabularySize, golden.vocabularySize)
        XCTAssertEqual(tokenizer.piece(for: try XCTUnwrap(tokenizer.bosId)), "<s>")
        XCTAssertEqual(tokenizer.piece(for: tokenizer.eosId), "</s>")
        XCTAssertEqual(tokenizer.id(for: "<0x0A>"), 13)
        XCTAssertEqual(tokenizer.id(for: "\u{2581}the"), 272)
        XCTAssertNil(tokenizer.piece(for: Int32(golden.vocabularySize)))
        XCTAssertNil(tokenizer.piece(for: -1))
        XCTAssertNil(tokenizer.id(for: "no such piece"))
        XCTAssertEqual(tokenizer.decode([Int32(golden.vocabularySize)]), " \u{2047} ")
    }

    func testLongTextRoundTripsQuickly() throws {
        let tokenizer = try Self.mistral.get()
        let corpus = try Self.corpus.get()
        var text = ""
        while text.unicodeScalars.count < 100_000 { text += corpus.roundTrip.joined(separator: "\n") }
        let start = Date()
        let ids = tokenizer.encode(text, addBOS: false)
        let elapsed = Date().timeIntervalSince(start)
        assertSameText(tokenizer.decode(ids), text, "round trip of a \(text.unicodeScalars.count)-character text")
        // Generous for debug builds; a quadratic merge loop takes minutes here.
        XCTAssertLessThan(elapsed, 20, "encoding \(text.unicodeScalars.count) characters took \(elapsed) s")
    }

    // MARK: - Hugging Face tokenizer.json

    func testTokenizerJSONMatchesSentencePiece() throws {
        let tokenizer = try Self.mistralJSON.get()
        let golden = try Self.golden.get()
        try assertEncodingsMatchGolden(tokenizer, name: "tokenizer.json")
        XCTAssertEqual(tokenizer.bosId, golden.bosId)
        XCTAssertEqual(tokenizer.eosId, golden.eosId)
        XCTAssertEqual(tokenizer.unkId, golden.unkId)
        XCTAssertEqual(tokenizer.vocabularySize, golden.vocabularySize)
        for decodeCase in golden.decodeCases {
            assertSameText(tokenizer.decode(decodeCase.ids), decodeCase.text, "tokenizer.json decode of \(decodeCase.ids)")
        }
    }

    /// The Metaspace pre-tokenizer variants against the ids the `tokenizers` library gives.
    func testTokenizerJSONVariantsMatchHuggingFace() throws {
        let golden = try Self.golden.get()
        let strings = try strings
        let settings = try JSONDecoder().decode(
            [String: JSONValue].self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        guard case .object(let variants)? = settings["hf_variants"],
              case .object(let original) = try JSONDecoder().decode(
                  JSONValue.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("tokenizer.json")))
        else { return XCTFail("expected.json has no hf_variants or tokenizer.json is not an object") }
        let folder = try temporaryFolder()
        for (name, variant) in variants.sorted(by: { $0.key < $1.key }) {
            guard case .object(let changes) = variant else { return XCTFail("variant \(name) is not an object") }
            var document = original
            document["normalizer"] = changes["normalizer"]
            document["pre_tokenizer"] = changes["pre_tokenizer"]
            let url = folder.appendingPathComponent("\(name).json")
            try JSONEncoder().encode(JSONValue.object(document)).write(to: url)
            let tokenizer = try Tokenizer(contentsOf: url)
            for (index, text) in strings.enumerated() {
                guard let ids = golden.huggingFaceVariants[name]?.ids[index] else { continue }
                assertSameIds(tokenizer.encode(text, addBOS: false), ids, "\(name), string \(index) \(text.debugDescription)")
            }
        }
    }

    // MARK: - Loading and errors

    func testLoadPrefersTokenizerModelInAModelFolder() throws {
        let folder = try temporaryFolder()
        try Data(contentsOf: Self.requireModel()).write(to: folder.appendingPathComponent("tokenizer.model"))
        try Data("{not json".utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try Tokenizer.load(modelDirectory: folder).encode("Hello world", addBOS: true), [1, 22557, 1526])

        for name in ["tokenizer.model", "tokenizer.json"] {
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(
            at: Self.fixtures.appendingPathComponent("tokenizer.json"), to: folder.appendingPathComponent("tokenizer.json"))
        XCTAssertEqual(try Tokenizer.load(modelDirectory: folder).encode("Hello world", addBOS: true), [1, 22557, 1526])
    }

    func testMissingFilesGiveReadableErrors() throws {
        let folder = try temporaryFolder()
        assertLoadError(folder.appendingPathComponent("absent.model"), mentions: "does not exist")
        assertLoadError(folder, mentions: "is a folder")
        XCTAssertThrowsError(try Tokenizer.load(modelDirectory: folder)) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(folder.path) && message.contains("neither tokenizer.model nor tokenizer.json"), message)
        }
    }

    func testCorruptModelFilesGiveReadableErrors() throws {
        let model = [UInt8](try Data(contentsOf: Self.requireModel()))
        let folder = try temporaryFolder()
        func write(_ bytes: [UInt8], _ name: String) throws -> URL {
            let url = folder.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url
        }
        assertLoadError(try write(Array(model.prefix(model.count / 2)), "truncated.model"), mentions: "not a valid SentencePiece model file (it is truncated)")
        // Refused before reading (Fuzz/TokenizerModel found that reading an empty file leaks).
        assertLoadError(try write([], "empty.model"), mentions: "the file is empty")
        assertLoadError(try write([], "empty.json"), mentions: "the file is empty")
        assertLoadError(try write(Array("plain text, not a model".utf8), "text.model"), mentions: "SentencePiece model")
        // A second trainer_spec merges into the first, as protobuf does: model_type = UNIGRAM.
        assertLoadError(try write(model + [0x12, 0x02, 0x18, 0x01], "unigram.model"), mentions: "UNIGRAM model, but only BPE models are supported")
        assertLoadError(try write(Array(#"{"model": {"type": "Unigram"}}"#.utf8), "unigram.json"), mentions: "only BPE is supported")
        assertLoadError(try write(Array("{ truncated".utf8), "broken.json"), mentions: "not a valid JSON tokenizer file")
    }

    // MARK: - Helpers

    private func assertEncodingsMatchGolden(_ tokenizer: Tokenizer, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let golden = try Self.golden.get()
        for (index, text) in try strings.enumerated() {
            let expected = golden.encodings[index]
            let context = "\(name), string \(index) \(text.debugDescription)"
            assertSameIds(tokenizer.encode(text, addBOS: false), expected.ids, context, file: file, line: line)
            assertSameIds(tokenizer.encode(text, addBOS: true), expected.idsWithBOS, context + " with BOS", file: file, line: line)
        }
    }
}
