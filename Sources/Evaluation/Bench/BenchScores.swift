import Foundation

/// One record's result: its answer, each rubric's score (the mean of its samples; nil when a
/// sample failed) and the mean of the scored rubrics.
public struct BenchRecordResult: Sendable, Equatable {
    public let index: Int
    public let response: String
    public let scores: [Double?]

    public var mean: Double? { BenchScores.mean(scores.compactMap { $0 }) }

    /// The line `eval --bench --json` prints: {"index", "response", "scores", "mean"}.
    public func jsonLine() throws -> String {
        let object: [String: Any] = [
            "index": index, "response": response, "scores": scores.map { $0.map { $0 as Any } ?? NSNull() },
            "mean": mean.map { $0 as Any } ?? NSNull(),
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }
}

/// `scores.json`: the paper's score (the mean over records of each record's rubric mean) and
/// its breakdowns by rubric position, preference dimension and source, with the failures.
public struct BenchScores: Sendable, Codable, Equatable {
    public let judge: String
    public let samples: Int
    public let records: Int
    /// Records with at least one scored rubric.
    public let scoredRecords: Int
    /// Rubrics without a score (a sample failed after its retries).
    public let failures: Int
    public let overall: Double?
    public let perRubric: [Double?]
    public let perDimension: [String: Double]
    public let perSource: [String: Double]

    enum CodingKeys: String, CodingKey {
        case judge, samples, records, failures, overall
        case scoredRecords = "scored_records", perRubric = "per_rubric", perDimension = "per_dimension", perSource = "per_source"
    }

    public init(judge: String, samples: Int, records: [BenchRecord], results: [BenchRecordResult]) {
        self.judge = judge
        self.samples = samples
        self.records = records.count
        let means = results.map(\.mean)
        scoredRecords = means.compactMap { $0 }.count
        failures = results.map { $0.scores.filter { $0 == nil }.count }.reduce(0, +)
        overall = Self.mean(means.compactMap { $0 })
        let positions = results.map(\.scores.count).max() ?? 0
        perRubric = (0..<positions).map { position in Self.mean(results.compactMap { $0.scores.indices.contains(position) ? $0.scores[position] : nil }) }
        var byDimension = [String: [Double]](), bySource = [String: [Double]]()
        for (record, result) in zip(records, results) {
            for (position, score) in result.scores.enumerated() {
                if let score, let dimension = record.dimension(ofRubric: position) { byDimension[dimension, default: []].append(score) }
            }
            if let mean = result.mean { bySource[record.source, default: []].append(mean) }
        }
        perDimension = byDimension.compactMapValues(Self.mean)
        perSource = bySource.compactMapValues(Self.mean)
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: url, options: .atomic)
    }
}
