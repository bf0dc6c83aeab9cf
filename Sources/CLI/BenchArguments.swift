import ArgumentParser
import Evaluation
import Foundation

/// `--bench FILE --out DIR` and the judge: `--judge rule` or `--judge-url URL --judge-model NAME`.
struct BenchArguments: ParsableArguments {
    @Option(help: "Multifaceted Bench JSONL (source, preference_set, system, prompt, reference_answer, rubrics): answer and judge it.")
    var bench: String?
    @Option(help: "Bench outputs: responses.jsonl, judgments.jsonl, scores.json; a rerun resumes what is there.")
    var out: String?
    @Option(help: "'rule': the rule-based judge of `train synth` benches.") var judge: String?
    @Option(help: "An OpenAI-compatible server (http://HOST:PORT/v1 or its full /v1/chat/completions address).") var judgeUrl: String?
    @Option(help: "The judge model's name on that server.") var judgeModel: String?
    @Option(help: "The environment variable holding the judge's API key, if the server wants one.") var judgeKeyEnv = "OPENAI_API_KEY"
    @Option(help: "Judgments per rubric, averaged (the paper averaged 3 runs).") var judgeSamples = 1
    @Option(help: "Times a failed judge request is asked again.") var judgeRetries = 5
    @Option(help: "Seconds before the first retry, doubled for each further one (at most 60).") var judgeBackoff = 1.0
    @Option(help: "Seconds one judge request may take.") var judgeTimeout = 300.0
    @Option(help: "Judge requests in flight at once.") var judgeConcurrency = 8

    func validate() throws {
        guard bench != nil else {
            if judge != nil || judgeUrl != nil || judgeModel != nil || out != nil { throw ValidationError("the judge and --out go with --bench") }
            return
        }
        guard out != nil else { throw ValidationError("--bench needs --out DIR") }
        switch (judge, judgeUrl, judgeModel) {
        case ("rule", nil, nil): break
        case (nil, .some(let url), .some):
            guard JudgeSettings.chatCompletionsURL(url) != nil else { throw ValidationError("--judge-url must be an http(s) address, found '\(url)'") }
        case (.some(let name), nil, nil): throw ValidationError("--judge must be 'rule', found '\(name)'")
        default: throw ValidationError("give --judge rule, or --judge-url URL with --judge-model NAME")
        }
        guard judgeSamples >= 1 else { throw ValidationError("--judge-samples must be at least 1") }
        guard judgeRetries >= 0 else { throw ValidationError("--judge-retries must not be negative") }
        guard judgeBackoff >= 0 && judgeBackoff.isFinite else { throw ValidationError("--judge-backoff must not be negative") }
        guard judgeTimeout > 0 else { throw ValidationError("--judge-timeout must be positive") }
        guard judgeConcurrency >= 1 else { throw ValidationError("--judge-concurrency must be at least 1") }
    }

    /// The pipeline over the bench, and the judge's name for the summary.
    func pipeline() throws -> (BenchEvaluationPipeline, String) {
        guard let bench, let out else { throw ValidationError("--bench needs --out DIR") }
        let url = URL(fileURLWithPath: bench), output = URL(fileURLWithPath: out)
        guard let judgeUrl, let judgeModel, let endpoint = JudgeSettings.chatCompletionsURL(judgeUrl) else {
            return (BenchEvaluationPipeline(records: try BenchReader.readSynthetic(url), output: output, judge: .rule), "the rule-based judge")
        }
        let environment = ProcessInfo.processInfo.environment
        let key = environment[judgeKeyEnv].flatMap { $0.isEmpty ? nil : $0 }
        if key == nil && judgeKeyEnv != "OPENAI_API_KEY" { throw ValidationError("--judge-key-env: \(judgeKeyEnv) is not set") }
        let settings = JudgeSettings(url: endpoint, model: judgeModel, apiKey: key, retries: judgeRetries, backoff: judgeBackoff, timeout: judgeTimeout)
        let judge = BenchJudge.model(OpenAIJudge(settings: settings), samples: judgeSamples, concurrency: judgeConcurrency)
        return (BenchEvaluationPipeline(records: try BenchReader.read(url), output: output, judge: judge), judgeModel)
    }
}

/// The one progress line of a bench evaluation, on stderr.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var open = false

    func show(_ event: BenchEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .resumed(let answers, let judgments):
            line("resuming: \(answers) answers and \(judgments) judgments already written", ends: true)
        case .answered(_, let done, let total):
            line("answered \(done)/\(total)", ends: done == total)
        case .judgingStarted(let requests):
            if requests == 0 { line("nothing left to judge", ends: true) }
        case .retrying(let index, let rubric, let attempt, let reason):
            line("record \(index) rubric \(rubric + 1): attempt \(attempt) failed (\(reason)); asking again", ends: true)
        case .judged(let done, let total, let failed):
            line("judged \(done)/\(total)" + (failed > 0 ? " (\(failed) failed)" : ""), ends: done == total)
        }
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if open { write("\n") }
        open = false
    }

    /// Rewrites the open line, or (for `ends`) finishes it.
    private func line(_ text: String, ends: Bool) {
        write("\r\u{1B}[K" + text + (ends ? "\n" : ""))
        open = !ends
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// The summary `eval --bench` prints without `--json`.
struct BenchSummary {
    let scores: BenchScores
    let judge: String
    let output: String

    var text: String {
        func format(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }
        var lines = ["\(scores.records) records judged by \(judge) (\(scores.samples) sample\(scores.samples == 1 ? "" : "s") per rubric), scores 1-5:"]
        lines.append("  overall                \(format(scores.overall))")
        for (position, value) in scores.perRubric.enumerated() { lines.append("  rubric \(position + 1)               \(format(value))") }
        for (name, value) in scores.perDimension.sorted(by: { $0.key < $1.key }) { lines.append("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + " " + format(value)) }
        for (name, value) in scores.perSource.sorted(by: { $0.key < $1.key }) { lines.append("  source \(name): \(format(value))") }
        lines.append("  failed rubrics         \(scores.failures)" + (scores.failures > 0 ? " (judgments.jsonl says why; rerun to ask again)" : ""))
        lines.append("written to \(output): responses.jsonl, judgments.jsonl, scores.json")
        return lines.joined(separator: "\n")
    }
}
