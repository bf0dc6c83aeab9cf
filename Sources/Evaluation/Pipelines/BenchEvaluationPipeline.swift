import Foundation
import Training

/// Who grades the answers.
public enum BenchJudge: Sendable {
    /// The synthetic bench's rule-based judge (`Rubric`), one score per preference's rubric.
    case rule
    /// An OpenAI-compatible judge model asked `samples` times per rubric, `concurrency`
    /// requests at a time.
    case model(OpenAIJudge, samples: Int, concurrency: Int)

    var name: String {
        switch self {
        case .rule: return "rule"
        case .model(let judge, _, _): return judge.settings.model
        }
    }

    var samples: Int {
        switch self {
        case .rule: return 1
        case .model(_, let samples, _): return samples
        }
    }
}

/// What a bench evaluation reports while it runs.
public enum BenchEvent: Sendable {
    /// Answers and judgments found in the output folder from an earlier run.
    case resumed(answers: Int, judgments: Int)
    case answered(index: Int, done: Int, total: Int)
    case judgingStarted(requests: Int)
    case retrying(index: Int, rubric: Int, attempt: Int, reason: String)
    case judged(done: Int, total: Int, failed: Int)
}

/// Multifaceted Bench as the paper ran it: the model answers every record
/// (`responses.jsonl`, written as the answers come), the judge grades each answer once per
/// rubric and sample (`judgments.jsonl`), and `scores.json` sums it up. A rerun with the same
/// output folder keeps what is written and asks only for what is missing (failed
/// judgments are asked again).
public struct BenchEvaluationPipeline {
    public let records: [BenchRecord]
    public let output: URL
    public let judge: BenchJudge

    public init(records: [BenchRecord], output: URL, judge: BenchJudge) {
        self.records = records
        self.output = output
        self.judge = judge
    }

    /// - Parameters:
    ///   - batchSize: records handed to `answer` at once (the unanswered ones, in order).
    ///   - answer: the model's answers to the records of a batch, in its order.
    public func run(
        batchSize: Int = 1, answer: (_ batch: [(index: Int, record: BenchRecord)]) throws -> [String],
        events: @escaping @Sendable (BenchEvent) -> Void
    ) async throws -> (results: [BenchRecordResult], scores: BenchScores) {
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            throw DataError(file: output.path, "cannot be created (\(error.localizedDescription))")
        }
        let (answerLog, earlierAnswers) = try JSONLinesLog<BenchAnswer>.open(output.appendingPathComponent("responses.jsonl"))
        let (judgmentLog, earlierJudgments) = try JSONLinesLog<Judgment>.open(output.appendingPathComponent("judgments.jsonl"))
        var responses = [Int: String]()
        for line in earlierAnswers {
            guard records.indices.contains(line.index) else {
                throw DataError(file: answerLog.url.path, "answers record \(line.index), but the bench has \(records.count); use another --out")
            }
            responses[line.index] = line.response
        }
        var judgments = [JudgmentKey: Judgment]()
        for line in earlierJudgments where line.score != nil { judgments[line.key] = line }
        if !responses.isEmpty || !judgments.isEmpty { events(.resumed(answers: responses.count, judgments: judgments.count)) }

        let unanswered = records.enumerated().filter { responses[$0.offset] == nil }.map { (index: $0.offset, record: $0.element) }
        let batchSize = max(batchSize, 1)
        for start in stride(from: 0, to: unanswered.count, by: batchSize) {
            let batch = Array(unanswered[start..<min(start + batchSize, unanswered.count)])
            let texts = try answer(batch)
            guard texts.count == batch.count else { throw DataError(file: answerLog.url.path, "\(texts.count) answers for \(batch.count) records") }
            for (item, text) in zip(batch, texts) {
                try answerLog.append(BenchAnswer(index: item.index, response: text))
                responses[item.index] = text
                events(.answered(index: item.index, done: responses.count, total: records.count))
            }
        }

        let keys = records.indices.flatMap { index in
            records[index].rubrics.indices.flatMap { rubric in (0..<judge.samples).map { JudgmentKey(index: index, rubric: rubric, sample: $0) } }
        }
        let pending = keys.filter { judgments[$0] == nil }
        events(.judgingStarted(requests: pending.count))
        for judgment in try await grade(pending, responses: responses, log: judgmentLog, total: keys.count, done: keys.count - pending.count, events: events) {
            judgments[judgment.key] = judgment
        }

        let results = records.indices.map { index in
            BenchRecordResult(index: index, response: responses[index] ?? "", scores: records[index].rubrics.indices.map { rubric in
                let samples = (0..<judge.samples).map { judgments[JudgmentKey(index: index, rubric: rubric, sample: $0)]?.score }
                guard !samples.contains(where: { $0 == nil }) else { return nil }
                return Double(samples.compactMap { $0 }.reduce(0, +)) / Double(samples.count)
            })
        }
        let scores = BenchScores(judge: judge.name, samples: judge.samples, records: records, results: results)
        do {
            try scores.write(to: output.appendingPathComponent("scores.json"))
        } catch {
            throw DataError(file: output.appendingPathComponent("scores.json").path, "cannot be written (\(error.localizedDescription))")
        }
        return (results, scores)
    }

    /// Grades `pending`, appending every judgment (failed ones too) to the log as it comes.
    private func grade(
        _ pending: [JudgmentKey], responses: [Int: String], log: JSONLinesLog<Judgment>, total: Int, done: Int,
        events: @escaping @Sendable (BenchEvent) -> Void
    ) async throws -> [Judgment] {
        let records = records
        var done = done, failed = 0
        func finished(_ judgment: Judgment) throws {
            try log.append(judgment)
            done += 1
            if judgment.score == nil { failed += 1 }
            events(.judged(done: done, total: total, failed: failed))
        }
        switch judge {
        case .rule:
            return try pending.map { key in
                let record = records[key.index]
                let score = Rubric.score(responses[key.index] ?? "", for: record).score(of: record.preferenceSet[key.rubric].dimension)
                let judgment = Judgment(
                    index: key.index, rubric: key.rubric, sample: key.sample, score: score, feedback: nil,
                    error: score == nil ? "the rule-based judge has no rubric for this dimension" : nil, attempts: 1)
                try finished(judgment)
                return judgment
            }
        case .model(let client, _, let concurrency):
            return try await withThrowingTaskGroup(of: Judgment.self) { group in
                var queue = pending.makeIterator(), judged = [Judgment]()
                func start() {
                    guard let key = queue.next() else { return }
                    group.addTask {
                        let messages = JudgePrompt.messages(record: records[key.index], response: responses[key.index] ?? "", rubric: key.rubric)
                        let outcome = try await client.judge(messages) { attempt, reason in
                            events(.retrying(index: key.index, rubric: key.rubric, attempt: attempt, reason: reason))
                        }
                        switch outcome {
                        case .scored(let feedback, let score, let attempts):
                            return Judgment(index: key.index, rubric: key.rubric, sample: key.sample, score: score, feedback: feedback, error: nil, attempts: attempts)
                        case .failed(let reason, let attempts):
                            return Judgment(index: key.index, rubric: key.rubric, sample: key.sample, score: nil, feedback: nil, error: reason, attempts: attempts)
                        }
                    }
                }
                for _ in 0..<max(concurrency, 1) { start() }
                while let judgment = try await group.next() {
                    try finished(judgment)
                    judged.append(judgment)
                    start()
                }
                return judged
            }
        }
    }
}
