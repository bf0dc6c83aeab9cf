import Foundation
import Training

/// The contents of a run folder's `report.json`, which `HTMLReport` turns into `report.html`.
///
/// ```json
/// {
///   "title": "Facet demo: tiny Mistral, SFT then DPO",          // string, required
///   "subtitle": "machine, date, commands",                      // string, optional
///   "stages": [{"name": "SFT", "metrics": "sft/metrics.jsonl"}], // optional, default []
///   "benchmark": {                                              // optional
///     "columns": ["style", "harmlessness", "mean"],
///     "rows": [{"model": "untrained", "scores": {"style": 1.2, "harmlessness": 1.5, "mean": 1.35}}]
///   },
///   "families": {"columns": ["untrained"], "rows": [{"model": "sort (algorithmic)", "scores": {"untrained": 2.1}}]},  // optional
///   "generations": [{"title": "after DPO", "system": "...", "prompt": "...", "response": "..."}],  // optional, default []
///   "ablation": {"rows": [{"k": 1, "records": 300, "tokens": 12345, "heldout_nll": 1.23, "rubric": 3.4}]},  // optional
///   "notes": ["free text"]                                      // optional, default []
/// }
/// ```
///
/// Metrics paths are relative to the folder holding `report.json` (absolute paths are kept).
/// A score missing from a benchmark row, and any optional ablation field, shows as a dash.
public struct ReportDocument: Codable, Equatable, Sendable {
    public var title: String
    public var subtitle: String?
    public var stages: [Stage]
    public var benchmark: Benchmark?
    /// Correctness per task family (rows) and model (columns), in the benchmark's table form.
    public var families: Benchmark?
    public var generations: [Generation]
    public var ablation: Ablation?
    public var notes: [String]

    /// A training stage and the `metrics.jsonl` its run wrote.
    public struct Stage: Codable, Equatable, Sendable {
        public var name: String
        public var metrics: String

        public init(name: String, metrics: String) {
            self.name = name
            self.metrics = metrics
        }
    }

    /// Benchmark scores: one row per model, one column per rubric dimension (higher is better).
    public struct Benchmark: Codable, Equatable, Sendable {
        public var columns: [String]
        public var rows: [Row]

        public struct Row: Codable, Equatable, Sendable {
            public var model: String
            public var scores: [String: Double]

            public init(model: String, scores: [String: Double]) {
                self.model = model
                self.scores = scores
            }
        }

        public init(columns: [String], rows: [Row]) {
            self.columns = columns
            self.rows = rows
        }
    }

    /// A sampled response; `system` is omitted for prompts without a system message.
    public struct Generation: Codable, Equatable, Sendable {
        public var title: String
        public var system: String?
        public var prompt: String
        public var response: String

        public init(title: String, system: String?, prompt: String, response: String) {
            self.title = title
            self.system = system
            self.prompt = prompt
            self.response = response
        }
    }

    /// The system-messages-per-instruction ablation: one row per K.
    public struct Ablation: Codable, Equatable, Sendable {
        public var rows: [Row]

        public struct Row: Codable, Equatable, Sendable {
            public var k: Int
            public var records: Int?
            public var tokens: Int?
            /// Token-mean negative log-likelihood on held-out records (lower is better).
            public var heldoutNLL: Double?
            /// Mean rubric score (higher is better).
            public var rubric: Double?

            enum CodingKeys: String, CodingKey {
                case k, records, tokens, rubric
                case heldoutNLL = "heldout_nll"
            }

            public init(k: Int, records: Int?, tokens: Int?, heldoutNLL: Double?, rubric: Double?) {
                self.k = k
                self.records = records
                self.tokens = tokens
                self.heldoutNLL = heldoutNLL
                self.rubric = rubric
            }
        }

        public init(rows: [Row]) { self.rows = rows }
    }

    public init(
        title: String, subtitle: String? = nil, stages: [Stage] = [], benchmark: Benchmark? = nil, families: Benchmark? = nil,
        generations: [Generation] = [], ablation: Ablation? = nil, notes: [String] = []
    ) {
        self.title = title
        self.subtitle = subtitle
        self.stages = stages
        self.benchmark = benchmark
        self.families = families
        self.generations = generations
        self.ablation = ablation
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case title, subtitle, stages, benchmark, families, generations, ablation, notes
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        title = try container.decode(String.self, forKey: .title)
        subtitle = try container.decodeIfPresent(String.self, forKey: .subtitle)
        stages = try container.decodeIfPresent([Stage].self, forKey: .stages) ?? []
        benchmark = try container.decodeIfPresent(Benchmark.self, forKey: .benchmark)
        families = try container.decodeIfPresent(Benchmark.self, forKey: .families)
        generations = try container.decodeIfPresent([Generation].self, forKey: .generations) ?? []
        ablation = try container.decodeIfPresent(Ablation.self, forKey: .ablation)
        notes = try container.decodeIfPresent([String].self, forKey: .notes) ?? []
    }

    /// Writes `folder/report.json` and renders `folder/report.html` beside it; returns the page's URL.
    public func write(to folder: URL) throws -> URL {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: folder.appendingPathComponent("report.json"), options: .atomic)
        return try HTMLReport.write(folder: folder)
    }

    /// Reads a `report.json`; a problem is a `DataError` naming the file and the field.
    public static func load(_ url: URL) throws -> ReportDocument {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw DataError(file: url.path, exists ? "cannot be read" : "file does not exist")
        }
        do {
            return try JSONDecoder().decode(ReportDocument.self, from: data)
        } catch let error as DecodingError {
            throw DataError(decoding: error, file: url.path)
        }
    }
}

extension DataError {
    /// A `DecodingError` as "file: field 'a.b': message".
    fileprivate init(decoding error: DecodingError, file: String) {
        func path(_ codingPath: [CodingKey]) -> String? {
            let parts = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            guard !parts.isEmpty else { return nil }
            return parts.reduce("") { $0.isEmpty || $1.hasPrefix("[") ? $0 + $1 : $0 + "." + $1 }
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(file: file, field: path(context.codingPath + [key]), "missing")
        case .typeMismatch(let type, let context):
            self.init(file: file, field: path(context.codingPath), "expected \(Self.describe(type))")
        case .valueNotFound(let type, let context):
            self.init(file: file, field: path(context.codingPath), "expected \(Self.describe(type)), found null")
        case .dataCorrupted(let context):
            if let field = path(context.codingPath) {
                self.init(file: file, field: field, "invalid value")
            } else {
                self.init(file: file, "malformed JSON")
            }
        @unknown default:
            self.init(file: file, "cannot be decoded")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == Double.self { return "a number" }
        if type == Int.self { return "an integer" }
        return "\(type)".hasPrefix("Array") ? "a list" : "an object"
    }
}
