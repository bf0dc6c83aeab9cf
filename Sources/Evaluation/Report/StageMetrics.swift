import Foundation
import Training

/// The numeric series of one stage's `metrics.jsonl`, keyed by metric name, each sorted by step.
///
/// Training lines and evaluation lines share the file; their keys never collide because
/// evaluation keys carry the `eval_` prefix, so one series per key covers both. A step
/// logged twice (a run resumed from a checkpoint older than its last log line) keeps the
/// later value. Non-numeric and non-finite values are left out.
struct StageMetrics {
    private(set) var series: [String: [(step: Double, value: Double)]] = [:]
    /// Lines that are not JSON objects or have no numeric `step`.
    private(set) var unreadableLines: [Int] = []

    init(lines: JSONLines) {
        var byKey: [String: [Double: Double]] = [:]
        for entry in lines {
            let line: (line: Int, object: [String: Any])
            switch entry {
            case .success(let parsed): line = parsed
            case .failure(let error):
                unreadableLines.append(error.line ?? 0)
                continue
            }
            guard let step = Self.number(line.object["step"]), step.isFinite else {
                unreadableLines.append(line.line)
                continue
            }
            for (key, raw) in line.object where key != "step" {
                if let value = Self.number(raw), value.isFinite { byKey[key, default: [:]][step] = value }
            }
        }
        series = byKey.mapValues { values in values.sorted { $0.key < $1.key }.map { (step: $0.key, value: $0.value) } }
    }

    func has(_ key: String) -> Bool { !(series[key]?.isEmpty ?? true) }

    func points(_ key: String) -> [(step: Double, value: Double)] { series[key] ?? [] }

    /// The number of logged training steps (lines with a training `loss`).
    var trainingSteps: Int { series["loss"]?.count ?? 0 }

    private static func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
}
