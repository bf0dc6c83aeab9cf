import Foundation
import Tokenizer
import XCTest

/// Ids and the text the reference decodes them to.
struct DecodeCase: Decodable {
    var ids: [Int32]
    var text: String
}

/// Assertions and helpers shared by the tokenizer test classes.
extension XCTestCase {
    func assertSameIds(_ actual: [Int32], _ expected: [Int32], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        guard actual != expected else { return }
        let first = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(actual.count, expected.count)
        XCTFail(
            "\(context): \(actual.count) ids instead of \(expected.count), first difference at \(first): "
                + "\(Array(actual[first...].prefix(8))) instead of \(Array(expected[first...].prefix(8)))",
            file: file, line: line)
    }

    /// Compares scalar by scalar: `String ==` would accept canonically equivalent text.
    func assertSameText(_ actual: String, _ expected: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        if !actual.unicodeScalars.elementsEqual(expected.unicodeScalars) {
            XCTFail("\(context): \(actual.debugDescription) instead of \(expected.debugDescription)", file: file, line: line)
        }
    }

    func assertLoadError(_ url: URL, mentions phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(contentsOf: url), file: file, line: line) { error in
            let message = String(describing: error)
            XCTAssertTrue(error is TokenizerError, "\(type(of: error)): \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(url.path) && message.contains(phrase), message, file: file, line: line)
        }
    }

    /// Any JSON, to edit a tokenizer.json: `JSONSerialization` on Linux drops a leading U+FEFF
    /// from strings, which would lose a vocabulary piece.
    enum JSONValue: Codable {
        case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int.self) {
                self = .int(value)
            } else if let value = try? container.decode(Double.self) {
                self = .double(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else if let value = try? container.decode([JSONValue].self) {
                self = .array(value)
            } else {
                self = .object(try container.decode([String: JSONValue].self))
            }
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .double(let value): try container.encode(value)
            case .string(let value): try container.encode(value)
            case .array(let value): try container.encode(value)
            case .object(let value): try container.encode(value)
            }
        }
    }

    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("TokenizerTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
