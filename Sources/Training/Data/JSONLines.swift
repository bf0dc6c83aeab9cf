import Foundation

/// A data problem, located: "file:line: field 'x': message".
public struct DataError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let field: String?
    public let message: String

    public init(file: String, line: Int? = nil, field: String? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let field { return "\(location): field '\(field)': \(message)" }
        return "\(location): \(message)"
    }
}

/// The JSON objects of a JSON Lines file, one per non-blank line, with 1-based line numbers.
/// The file is memory-mapped and parsed a line at a time.
public struct JSONLines: Sequence {
    public let url: URL
    private let data: Data

    public init(url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError(file: url.path, "file does not exist")
        }
        do {
            // Foundation leaks the page it allocates when asked to map an empty file (found by
            // Fuzz/JSONLRecords under AddressSanitizer).
            let isEmpty = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) == 0
            data = isEmpty ? Data() : try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw DataError(file: url.path, "cannot be read (\(error.localizedDescription))")
        }
        self.url = url
    }

    /// Each element is a parsed object or the error of its line.
    public func makeIterator() -> AnyIterator<Result<(line: Int, object: [String: Any]), DataError>> {
        var start = data.startIndex
        var lineNumber = 0
        let path = url.path
        return AnyIterator {
            while start < data.endIndex {
                lineNumber += 1
                let end = data[start...].firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
                let bytes = data[start..<end]
                start = end < data.endIndex ? end + 1 : end
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                guard String(validating: bytes, as: UTF8.self) != nil else {
                    return .failure(DataError(file: path, line: lineNumber, "invalid UTF-8"))
                }
                guard let json = try? JSONSerialization.jsonObject(with: bytes) else {
                    return .failure(DataError(file: path, line: lineNumber, "malformed JSON"))
                }
                guard let object = json as? [String: Any] else {
                    return .failure(DataError(file: path, line: lineNumber, "expected a JSON object"))
                }
                return .success((lineNumber, object))
            }
            return nil
        }
    }
}
