import Foundation

/// metrics.jsonl: one JSON object per logged step or evaluation, appended. JSON has no NaN or
/// infinity: a non-finite number is written as `null` (pandas reads it as NaN), and a skipped
/// step says so with `"skipped_nonfinite": true`.
final class MetricsLog {
    private let handle: FileHandle

    /// Opens the log for appending after dropping lines past `lastStep` (a resumed run rewrites
    /// the steps after its checkpoint).
    init(url: URL, keepingStepsUpTo lastStep: Int) throws {
        var kept = Data()
        if let existing = FileManager.default.contents(atPath: url.path) {
            for line in existing.split(separator: UInt8(ascii: "\n")) {
                let step = (try? JSONSerialization.jsonObject(with: line) as? [String: Any])?["step"] as? Int
                if (step ?? 0) <= lastStep { kept.append(line + [UInt8(ascii: "\n")]) }
            }
        }
        try kept.write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func append(_ report: StepReport) throws {
        var object: [String: Any] = [
            "step": report.step, "epoch": report.epoch, "loss": report.loss, "lr": report.learningRate,
            "grad_norm": report.gradNorm, "tokens_per_s": report.tokensPerSecond,
        ]
        for (key, value) in report.metrics { object[key] = value }
        if report.skippedNonFinite { object["skipped_nonfinite"] = true }
        try write(object)
    }

    func append(step: Int, evaluation: [String: Double]) throws {
        var object: [String: Any] = ["step": step]
        for (key, value) in evaluation { object[key] = value }
        try write(object)
    }

    private func write(_ object: [String: Any]) throws {
        let jsonSafe = object.mapValues { value -> Any in
            guard let number = value as? Double, !number.isFinite else { return value }
            return NSNull()
        }
        var line = try JSONSerialization.data(withJSONObject: jsonSafe, options: [.sortedKeys])
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
