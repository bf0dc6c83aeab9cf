import Foundation
import TestSupport
import Tokenizer
import XCTest

/// Goldens from Tests/Fixtures/make_byte_level_golden.py: SmolLM2-135M-Instruct's byte-level BPE
/// as transformers builds it from the GGUF file, and with the "smollm" pre-tokenizer the GGUF names.
final class ByteLevelTokenizerTests: XCTestCase {
    private static let fixtures = Fixtures.url("smollm2-tokenizer")
    private static let tokenizerJSON = fixtures.appendingPathComponent("tokenizer.json")

    private struct Golden: Decodable {
        struct Encoding: Decodable {
            var ids: [Int32]
            var idsSmolLM: [Int32]
            var decoded: String

            enum CodingKeys: String, CodingKey {
                case ids, decoded, idsSmolLM = "ids_smollm"
            }
        }

        struct GGUF: Decodable {
            var pre: String
            var bosTokenId: Int32
            var eosTokenId: Int32
            var unknownTokenId: Int32
            var addBosToken: Bool

            enum CodingKeys: String, CodingKey {
                case pre
                case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", unknownTokenId = "unknown_token_id"
                case addBosToken = "add_bos_token"
            }
        }

        var gguf: GGUF
        var vocabularySize: Int
        var differing: Int
        var encodings: [Encoding]
        var decodeCases: [DecodeCase]

        enum CodingKeys: String, CodingKey {
            case gguf, encodings
            case vocabularySize = "vocabulary_size", differing = "strings_where_pre_tokenizers_differ"
            case decodeCases = "decode_cases"
        }
    }

    /// The GGUF arrays, which the golden script checked to be this file's vocabulary by id,
    /// merges in order and special added tokens.
    private struct GGUFArrays: Decodable {
        struct Model: Decodable {
            var vocab: [String: Int]
            var merges: [[String]]
        }

        struct AddedToken: Decodable {
            var id: Int
            var special: Bool
        }

        var model: Model
        var addedTokens: [AddedToken]

        enum CodingKeys: String, CodingKey {
            case model
            case addedTokens = "added_tokens"
        }

        var tokens: [String] { model.vocab.sorted { $0.value < $1.value }.map(\.key) }
        var mergeStrings: [String] { model.merges.map { $0.joined(separator: " ") } }
        var tokenTypes: [Int32] {
            let special = Set(addedTokens.filter(\.special).map(\.id))
            return (0..<model.vocab.count).map { special.contains($0) ? 3 : 1 }
        }
    }

    private static let corpus = Result { try TokenizerCorpus(contentsOf: fixtures.appendingPathComponent("corpus.json")) }
    private static let golden = Result { try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixtures.appendingPathComponent("expected.json"))) }
    private static let arrays = Result { try JSONDecoder().decode(GGUFArrays.self, from: Data(contentsOf: tokenizerJSON)) }
    private static let fromJSON = Result { try Tokenizer(contentsOf: tokenizerJSON) }
    private static let fromGGUF = Result { try ggufTokenizer(preTokenizer: golden.get().gguf.pre) }

    private static func ggufTokenizer(preTokenizer: String, addBOS: Bool? = nil) throws -> Tokenizer {
        let arrays = try arrays.get(), gguf = try golden.get().gguf
        return try Tokenizer(
            byteLevelTokens: arrays.tokens, merges: arrays.mergeStrings, tokenTypes: arrays.tokenTypes,
            bosId: gguf.bosTokenId, eosId: gguf.eosTokenId, unknownId: gguf.unknownTokenId,
            addBOS: addBOS ?? gguf.addBosToken, preTokenizer: preTokenizer, source: "SmolLM2.gguf")
    }

    // MARK: - Encoding

    func testTokenizerJSONMatchesTransformers() throws {
        let tokenizer = try Self.fromJSON.get()
        let golden = try Self.golden.get()
        for (index, text) in try Self.corpus.get().all.enumerated() {
            assertSameIds(tokenizer.encode(text, addBOS: true), golden.encodings[index].ids, "string \(index) \(text.debugDescription)")
        }
    }

    func testGGUFArraysWithGPT2PatternMatchTransformers() throws {
        let tokenizer = try Self.ggufTokenizer(preTokenizer: "gpt2")
        let golden = try Self.golden.get()
        for (index, text) in try Self.corpus.get().all.enumerated() {
            assertSameIds(tokenizer.encode(text, addBOS: false), golden.encodings[index].ids, "string \(index) \(text.debugDescription)")
        }
    }

    /// tokenizer.ggml.pre = "smollm" splits digits first, as llama.cpp and SmolLM2's own
    /// tokenizer.json do; transformers' GGUF loader ignores it, and the two differ where
    /// whitespace runs meet digits.
    func testGGUFArraysWithSmolLMPreTokenizerMatchDigitsThenByteLevel() throws {
        let tokenizer = try Self.fromGGUF.get()
        let golden = try Self.golden.get()
        XCTAssertGreaterThan(golden.differing, 0)
        for (index, text) in try Self.corpus.get().all.enumerated() {
            assertSameIds(tokenizer.encode(text, addBOS: true), golden.encodings[index].idsSmolLM, "string \(index) \(text.debugDescription)")
        }
    }

    func testSpecialIdsAndChatMLMarkers() throws {
        let golden = try Self.golden.get()
        for tokenizer in [try Self.fromJSON.get(), try Self.fromGGUF.get()] {
            XCTAssertNil(tokenizer.bosId, "SmolLM2 adds no beginning-of-sequence token")
            XCTAssertEqual(tokenizer.eosId, golden.gguf.eosTokenId)
            XCTAssertEqual(tokenizer.vocabularySize, golden.vocabularySize)
            XCTAssertEqual(tokenizer.piece(for: tokenizer.eosId), "<|im_end|>")
            XCTAssertEqual(tokenizer.id(for: "<|im_start|>"), 1)
            XCTAssertEqual(tokenizer.id(for: "Ġworld"), 905)
            XCTAssertEqual(tokenizer.encode("<|im_start|>user\n", addBOS: false), [1, 4093, 198])
            XCTAssertFalse(tokenizer.encode("<|im_start|", addBOS: false).contains(1), "an incomplete marker is text")
        }
        let withBOS = try Self.ggufTokenizer(preTokenizer: "smollm", addBOS: true)
        XCTAssertEqual(withBOS.bosId, golden.gguf.bosTokenId)
        XCTAssertEqual(withBOS.encode("Hi", addBOS: true), [golden.gguf.bosTokenId, 26843])
        XCTAssertEqual(withBOS.encode("Hi", addBOS: false), [26843])
    }

    // MARK: - Decoding

    func testDecodingMatchesTransformersAndRoundTrips() throws {
        let golden = try Self.golden.get()
        for tokenizer in [try Self.fromJSON.get(), try Self.fromGGUF.get()] {
            let corpus = try Self.corpus.get()
            for (index, text) in corpus.all.enumerated() {
                assertSameText(tokenizer.decode(golden.encodings[index].ids), golden.encodings[index].decoded, "decode of string \(index)")
                if index < corpus.roundTrip.count {
                    assertSameText(tokenizer.decode(tokenizer.encode(text, addBOS: true)), text, "round trip of string \(index)")
                }
            }
            for decodeCase in golden.decodeCases {
                assertSameText(tokenizer.decode(decodeCase.ids), decodeCase.text, "decode of \(decodeCase.ids)")
            }
            XCTAssertEqual(tokenizer.decode([Int32(golden.vocabularySize), -1]), "", "out-of-range ids are skipped")
        }
    }

    func testStreamingDecoderAddsUpToDecode() throws {
        let tokenizer = try Self.fromGGUF.get()
        let golden = try Self.golden.get()
        for ids in golden.decodeCases.map(\.ids) + golden.encodings.map(\.idsSmolLM) {
            var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
            let streamed = ids.map { decoder.append($0) }.joined() + decoder.finish()
            assertSameText(streamed, tokenizer.decode(ids), "streamed decode of \(ids)")
        }
    }

    func testStreamingDecoderHoldsBytesUntilACharacterIsComplete() throws {
        let tokenizer = try Self.fromGGUF.get()
        // "😀" is F0 9F 98 80: the byte-level pieces "ð", "Ł", "ĺ", "Ģ".
        let bytes = try ["ð", "Ł", "ĺ", "Ģ"].map { try XCTUnwrap(tokenizer.id(for: $0)) }
        var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(bytes.dropLast().map { decoder.append($0) }, ["", "", ""])
        XCTAssertEqual(decoder.append(bytes[3]), "😀")
        XCTAssertEqual(decoder.append(try XCTUnwrap(tokenizer.id(for: "Ġworld"))), " world")
        XCTAssertEqual(decoder.append(bytes[0]), "")
        XCTAssertEqual(decoder.append(2), "\u{FFFD}<|im_end|>", "a special token ends an incomplete character")
        XCTAssertEqual(decoder.append(bytes[0]), "")
        XCTAssertEqual(decoder.finish(), "\u{FFFD}")
    }

    // MARK: - Errors

    func testUnsupportedGGUFMetadataGivesReadableErrors() throws {
        let arrays = try Self.arrays.get()
        func assertError(
            tokens: [String]? = nil, merges: [String]? = nil, types: [Int32]? = nil, eosId: Int32 = 2,
            addBOS: Bool = false, bosId: Int32? = 1, pre: String = "smollm", mentions phrase: String, line: UInt = #line
        ) {
            XCTAssertThrowsError(try Tokenizer(
                byteLevelTokens: tokens ?? arrays.tokens, merges: merges ?? arrays.mergeStrings,
                tokenTypes: types ?? arrays.tokenTypes, bosId: bosId, eosId: eosId, unknownId: 0, addBOS: addBOS,
                preTokenizer: pre, source: "model.gguf"), line: line
            ) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.hasPrefix("Cannot load the tokenizer from model.gguf: ") && message.contains(phrase), message, line: line)
            }
        }
        assertError(pre: "llama-bpe", mentions: "tokenizer.ggml.pre) \"llama-bpe\" is not supported (gpt2 and smollm are)")
        assertError(types: [3], mentions: "token_type has 1 entries for 49152 tokens")
        assertError(types: arrays.tokenTypes.dropLast() + [6], mentions: "token_type of token 49151 is 6")
        assertError(eosId: 49152, mentions: "tokenizer.ggml.eos_token_id 49152 is not the id of a token")
        assertError(addBOS: true, bosId: nil, mentions: "add_bos_token is true but there is no tokenizer.ggml.bos_token_id")
        assertError(merges: ["Ġ t", "Ġt"], mentions: "tokenizer.ggml.merges entry 1 is not two tokens")
        assertError(merges: ["Ġ t", "Ġ ☃"], mentions: "tokenizer.ggml.merges entry 1 (\"Ġ ☃\") uses a token missing")
    }

    func testUnsupportedTokenizerJSONGivesReadableErrors() throws {
        let folder = try temporaryFolder()
        guard case .object(var original) = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: Self.tokenizerJSON)),
              case .object(var model)? = original["model"], case .object(let vocab)? = model["vocab"]
        else { return XCTFail("tokenizer.json has no model.vocab") }
        // The special tokens and byte pieces only, which keeps each file small.
        model["vocab"] = .object(vocab.filter { if case .int(let id) = $0.value { id < 300 } else { false } })
        model["merges"] = .array([])
        original["model"] = .object(model)
        func byteLevel(prefixSpace: Bool) -> JSONValue {
            .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(prefixSpace), "use_regex": .bool(true)])
        }
        model["ignore_merges"] = .bool(true)
        let cases: [(key: String, value: JSONValue, phrase: String)] = [
            ("model", .object(model), "model.ignore_merges is not supported"),
            ("pre_tokenizer", byteLevel(prefixSpace: true), "adds a prefix space"),
            ("pre_tokenizer", .object(["type": .string("Sequence"), "pretokenizers": .array([
                .object(["type": .string("Punctuation")]), byteLevel(prefixSpace: false)])]),
             "pre-tokenizer sequence [Punctuation, ByteLevel] is not supported"),
            ("decoder", .object(["type": .string("WordPiece")]), "decoder WordPiece is not supported with a ByteLevel pre-tokenizer"),
            ("normalizer", .object(["type": .string("NFC")]), "normalizer NFC before a ByteLevel pre-tokenizer"),
            ("post_processor", .object(["type": .string("BertProcessing")]), "post-processor BertProcessing is not supported"),
            ("added_tokens", .array([.object(["id": .int(0), "content": .string("<|endoftext|>"), "lstrip": .bool(true)])]),
             "added token 0 (\"<|endoftext|>\") strips spaces"),
            ("added_tokens", .array([.object(["id": .int(5), "content": .string("<|im_start|>")])]), "added token 5 is not the vocabulary's piece"),
        ]
        for (index, testCase) in cases.enumerated() {
            var document = original
            document[testCase.key] = testCase.value
            let url = folder.appendingPathComponent("case-\(index).json")
            try JSONEncoder().encode(JSONValue.object(document)).write(to: url)
            assertLoadError(url, mentions: testCase.phrase)
        }
    }

    func testEndOfSequenceComesFromTheConfigBeside() throws {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("tokenizer.json")
        try FileManager.default.copyItem(at: Self.tokenizerJSON, to: url)
        XCTAssertEqual(try Tokenizer(contentsOf: url).eosId, 0, "without tokenizer_config.json, GPT-2's <|endoftext|>")
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"eos_token": {"content": "<|im_end|>", "special": true}}"#.utf8).write(to: config)
        XCTAssertEqual(try Tokenizer(contentsOf: url).eosId, 2)
        try Data(#"{"eos_token": "<|no such token|>"}"#.utf8).write(to: config)
        XCTAssertThrowsError(try Tokenizer(contentsOf: url)) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(config.path) && message.contains("eos_token \"<|no such token|>\" is not in the vocabulary"), message)
        }
    }
}
