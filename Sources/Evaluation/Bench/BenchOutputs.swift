import Foundation
import Training

/// One judgment of one rubric of one record (one of `--judge-samples` samples), as a line of
/// `judgments.jsonl`. A failed one has no score and says why.
public struct Judgment: Sendable, Codable, Equatable {
    public let index: Int
    public let rubric: Int
    public let sample: Int
    public let score: Int?
    public let feedback: String?
    public let error: String?
    public let attempts: Int

    public init(index: Int, rubric: Int, sample: Int, score: Int?, feedback: String?, error: String?, attempts: Int) {
        self.index = index
        self.rubric = rubric
        self.sample = sample
        self.score = score
        self.feedback = feedback
        self.error = error
        self.attempts = attempts
    }

    /// The (record, rubric, sample) it judges.
    public var key: JudgmentKey { JudgmentKey(index: index, rubric: rubric, sample: sample) }
}

public struct JudgmentKey: Hashable, Sendable {
    public let index: Int
    public let rubric: Int
    public let sample: Int
}

/// A model's answer to one record, as a line of `responses.jsonl`.
public struct BenchAnswer: Sendable, Codable, Equatable {
    public let index: Int
    public let response: String
}

/// An append-only JSON Lines file of an evaluation's output folder: what earlier runs
/// wrote is read back (a last line cut short by an interruption is dropped), new lines are
/// appended one whole line per write, from any thread.
final class JSONLinesLog<Line: Codable>: @unchecked Sendable {
    let url: URL
    private let handle: FileHandle
    private let lock = NSLock()
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Opens (or creates) the file and returns it with the lines already in it.
    static func open(_ url: URL) throws -> (JSONLinesLog, [Line]) {
        var data = (try? Data(contentsOf: url)) ?? Data()
        if let lastNewline = data.lastIndex(of: UInt8(ascii: "\n")) {
            data = data.prefix(through: lastNewline)
        } else {
            data = Data()
        }
        var lines = [Line]()
        for (number, text) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().enumerated() {
            do {
                lines.append(try JSONDecoder().decode(Line.self, from: Data(text)))
            } catch {
                throw DataError(file: url.path, line: number + 1, "is not a line this evaluation wrote (\(error.localizedDescription)); use another --out")
            }
        }
        do {
            try data.write(to: url)
            let handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            return (JSONLinesLog(url: url, handle: handle), lines)
        } catch {
            throw DataError(file: url.path, "cannot be written (\(error.localizedDescription))")
        }
    }

    private init(url: URL, handle: FileHandle) {
        self.url = url
        self.handle = handle
    }

    deinit { try? handle.close() }

    func append(_ line: Line) throws {
        var data = try encoder.encode(line)
        data.append(UInt8(ascii: "\n"))
        lock.lock()
        defer { lock.unlock() }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw DataError(file: url.path, "cannot be written (\(error.localizedDescription))")
        }
    }
}
