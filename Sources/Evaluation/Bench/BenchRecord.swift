import Foundation
import Training

/// One rubric of a Multifaceted Bench record: what to judge and a description per score.
public struct BenchRubric: Sendable, Equatable {
    public let criteria: String
    /// The descriptions of scores 1 to 5, in that order.
    public let scoreDescriptions: [String]

    public init(criteria: String, scoreDescriptions: [String]) {
        self.criteria = criteria
        self.scoreDescriptions = scoreDescriptions
    }
}

/// A Multifaceted Bench record: a prompt under a system message, a reference answer and one
/// rubric per preference. `train synth` adds `answer`, the core answer its rule-based judge
/// checks.
public struct BenchRecord: Sendable, Equatable {
    /// The record's line in its file (1-based).
    public let line: Int
    public let source: String
    public let system: String
    public let prompt: String
    public let referenceAnswer: String
    public let preferenceSet: [Preference]
    public let rubrics: [BenchRubric]
    /// The synthetic bench's core answer; nil in the real bench.
    public let answer: String?

    public init(
        line: Int = 0, source: String = "", system: String, prompt: String, referenceAnswer: String,
        preferenceSet: [Preference], rubrics: [BenchRubric] = [], answer: String? = nil
    ) {
        self.line = line
        self.source = source
        self.system = system
        self.prompt = prompt
        self.referenceAnswer = referenceAnswer
        self.preferenceSet = preferenceSet
        self.rubrics = rubrics
        self.answer = answer
    }

    /// The preference dimension rubric `index` judges, when `preference_set` pairs one
    /// preference with each rubric (as the released bench and `train synth` do).
    public func dimension(ofRubric index: Int) -> String? {
        preferenceSet.count == rubrics.count ? preferenceSet[index].dimension : nil
    }
}

public enum BenchReader {
    /// Whether a JSONL file is a benchmark: its first record has `rubrics` (or `rubric`).
    public static func isBenchmark(_ url: URL) throws -> Bool {
        let first = try RecordReader.firstObject(url)
        return first["rubrics"] != nil || first["rubric"] != nil
    }

    /// Reads Multifaceted Bench JSONL: `source`, `preference_set`, `system`, `prompt`,
    /// `reference_answer` and `rubrics` (or `rubric`), a list of `{criteria,
    /// score_descriptions: {"1": ..., "5": ...}}`. Other fields are ignored but `answer`.
    public static func read(_ url: URL) throws -> [BenchRecord] {
        var records = [BenchRecord]()
        for entry in try JSONLines(url: url) {
            let (line, object) = try entry.get()
            let fields = RecordFields(object: object, file: url.path, line: line)
            records.append(BenchRecord(
                line: line, source: try fields.optionalString("source") ?? "", system: try fields.optionalString("system") ?? "",
                prompt: try fields.string("prompt", allowEmpty: false), referenceAnswer: try fields.string("reference_answer"),
                preferenceSet: try fields.preferenceSet(), rubrics: try rubrics(fields), answer: try fields.optionalString("answer")))
        }
        if records.isEmpty { throw DataError(file: url.path, "contains no records") }
        return records
    }

    /// Reads a bench for the rule-based judge: the real format, where every record also has
    /// `train synth`'s `answer` and one known preference per dimension.
    public static func readSynthetic(_ url: URL) throws -> [BenchRecord] {
        let records = try read(url)
        for record in records {
            func error(_ field: String, _ message: String) -> DataError {
                DataError(file: url.path, line: record.line, field: field, message + " (the rule-based judge reads `train synth` benches only)")
            }
            if record.answer?.isEmpty ?? true { throw error("answer", "missing") }
            for preference in record.preferenceSet where SynthValue(preference) == nil {
                throw error("preference_set", "unknown preference '\(preference.preference)' for dimension '\(preference.dimension)'")
            }
            for dimension in SynthDimension.allCases where record.preferenceSet.filter({ $0.dimension == dimension.rawValue }).count != 1 {
                throw error("preference_set", "must hold exactly one preference for dimension '\(dimension.rawValue)'")
            }
        }
        return records
    }

    private static func rubrics(_ fields: RecordFields) throws -> [BenchRubric] {
        let key = fields.object["rubrics"] != nil || fields.object["rubric"] == nil ? "rubrics" : "rubric"
        guard let value = fields.object[key], !(value is NSNull) else { throw fields.error(key, "missing") }
        guard let entries = value as? [Any], !entries.isEmpty else { throw fields.error(key, "must be a non-empty list of rubrics") }
        return try entries.enumerated().map { index, entry in
            let field = "\(key)[\(index)]"
            guard let rubric = entry as? [String: Any] else { throw fields.error(field, "must be an object with criteria and score_descriptions") }
            guard let criteria = rubric["criteria"] as? String else { throw fields.error("\(field).criteria", "must be a string") }
            guard let descriptions = rubric["score_descriptions"] as? [String: Any] else {
                throw fields.error("\(field).score_descriptions", "must be an object with keys \"1\" to \"5\"")
            }
            let scores = (1...5).map(String.init)
            guard Set(descriptions.keys) == Set(scores) else {
                throw fields.error("\(field).score_descriptions", "must have exactly the keys \"1\" to \"5\", found \(descriptions.keys.sorted())")
            }
            return BenchRubric(criteria: criteria, scoreDescriptions: try scores.map { score in
                guard let text = descriptions[score] as? String else { throw fields.error("\(field).score_descriptions.\(score)", "must be a string") }
                return text
            })
        }
    }
}
