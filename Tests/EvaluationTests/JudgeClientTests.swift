import Evaluation
import Foundation
import TestSupport
import Training
import XCTest

/// The judge's retries, back-off, failure counting and resume against `JudgeServer`.
final class JudgeClientTests: XCTestCase {
    /// Two records whose rubrics' criteria tell the server how to behave.
    private func records(_ criteria: [[String]]) -> [BenchRecord] {
        criteria.enumerated().map { index, names in
            BenchRecord(
                line: index + 1, source: index == 0 ? "set-a" : "set-b", system: "Be brief.", prompt: "Question \(index)?",
                referenceAnswer: "Reference \(index).",
                preferenceSet: names.indices.map { Preference(dimension: ["style", "harmlessness"][$0 % 2], subdimension: "s", preference: "p", description: "d") },
                rubrics: names.map { BenchRubric(criteria: $0, scoreDescriptions: ["1", "2", "3", "4", "5"]) })
        }
    }

    private func settings(_ server: JudgeServer, retries: Int = 5, backoff: Double = 0.01, timeout: Double = 10) -> JudgeSettings {
        JudgeSettings(
            url: JudgeSettings.chatCompletionsURL(server.url.absoluteString)!, model: "judge", apiKey: "sk-test-secret",
            retries: retries, backoff: backoff, timeout: timeout)
    }

    func testRetriesMalformedRepliesAndServerErrorsThenCountsFailures() async throws {
        let healthy = Flag()
        let server = try await JudgeServer { criteria, attempt in
            switch criteria {
            case "ok":
                return .text("Feedback: fine. [RESULT] 3")
            case "flaky":
                return [.status(500), .status(429), .body("{not json"), .text("I cannot judge this."), .text("Feedback: better. [RESULT] 4")][min(attempt - 1, 4)]
            case "five":
                return .text("Feedback: [RESULT] 5")
            default:
                return healthy.value ? .text("Feedback: mended. [RESULT] 2") : .status(503)
            }
        }
        defer { server.stop() }
        let output = try Fixtures.temporaryDirectory(self)
        let bench = records([["ok", "flaky"], ["five", "broken"]])
        let judge = OpenAIJudge(settings: settings(server, retries: 4, backoff: 0.05))
        let pipeline = BenchEvaluationPipeline(records: bench, output: output, judge: .model(judge, samples: 1, concurrency: 4))
        let retries = Counter()
        let started = Date()
        let (results, scores) = try await pipeline.run(answer: { batch in batch.map { "Answer \($0.index) ✓" } }) { event in
            if case .retrying(let index, let rubric, let attempt, let reason) = event { retries.add("\(index).\(rubric).\(attempt): \(reason)") }
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.05 + 0.1 + 0.2 + 0.4, "four back-offs for 'broken'")
        XCTAssertEqual(server.requests("ok"), 1)
        XCTAssertEqual(server.requests("flaky"), 5)
        XCTAssertEqual(server.requests("five"), 1)
        XCTAssertEqual(server.requests("broken"), 5, "the first request and four retries")
        XCTAssertEqual(retries.value.count, 4 + 4, "\(retries.value)")
        XCTAssertEqual(results.map(\.scores), [[3, 4], [5, nil]])
        XCTAssertEqual(results[1].mean, 5)
        XCTAssertEqual(scores.failures, 1)
        XCTAssertEqual(scores.overall, 4.25)
        XCTAssertEqual(scores.perRubric, [4, 4])
        XCTAssertEqual(scores.perDimension, ["style": 4, "harmlessness": 4])
        XCTAssertEqual(scores.perSource, ["set-a": 3.5, "set-b": 5])
        XCTAssertEqual(server.authorizations, ["Bearer sk-test-secret"])
        let judgments = try readJSONLines(output.appendingPathComponent("judgments.jsonl"))
        let failed = try XCTUnwrap(judgments.first { $0["score"] == nil || $0["score"] is NSNull })
        XCTAssertEqual(failed["error"] as? String, "HTTP 503")
        XCTAssertEqual(failed["attempts"] as? Int, 5)
        for file in ["responses.jsonl", "judgments.jsonl", "scores.json"] {
            XCTAssertFalse(try String(contentsOf: output.appendingPathComponent(file), encoding: .utf8).contains("sk-test-secret"), file)
        }

        // Resume: the answers and the judgments that succeeded stay; only the failed rubric is
        // asked again. A last line cut short by an interruption is dropped.
        let handle = try FileHandle(forWritingTo: output.appendingPathComponent("judgments.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"index\": 0, \"rub".utf8))
        try handle.close()
        healthy.value = true
        let (again, rescored) = try await pipeline.run(answer: { batch in XCTFail("answered again"); return batch.map { _ in "" } }) { _ in }
        XCTAssertEqual(again.map(\.scores), [[3, 4], [5, 2]])
        XCTAssertEqual(again.map(\.response), ["Answer 0 ✓", "Answer 1 ✓"])
        XCTAssertEqual(rescored.failures, 0)
        XCTAssertEqual(server.requests("ok"), 1)
        XCTAssertEqual(server.requests("broken"), 6)
        let saved = try JSONDecoder().decode(BenchScores.self, from: Data(contentsOf: output.appendingPathComponent("scores.json")))
        XCTAssertEqual(saved, rescored)
    }

    func testATimeOutIsAskedAgain() async throws {
        let server = try await JudgeServer { _, attempt in attempt == 1 ? .slow(seconds: 1.5, "[RESULT] 1") : .text("[RESULT] 5") }
        defer { server.stop() }
        let judge = OpenAIJudge(settings: settings(server, timeout: 0.5))
        let outcome = try await judge.judge([ChatMessage(role: "user", content: "\"criteria\": \"slow\"")])
        guard case .scored(_, 5, let attempts) = outcome else { return XCTFail("\(outcome)") }
        // Foundation's Linux client can report the request right after a time-out as timed
        // out too, so the count of attempts is not exact.
        XCTAssertGreaterThanOrEqual(attempts, 2)
        XCTAssertGreaterThanOrEqual(server.requests("slow"), 2)
    }

    func testSamplesAreAveragedAndAClientErrorStops() async throws {
        let server = try await JudgeServer { criteria, attempt in
            criteria == "denied" ? .status(401) : .text("[RESULT] \(attempt % 2 == 0 ? 4 : 5)")
        }
        defer { server.stop() }
        let judge = OpenAIJudge(settings: settings(server))
        let output = try Fixtures.temporaryDirectory(self)
        let averaged = BenchEvaluationPipeline(records: records([["twice"]]), output: output, judge: .model(judge, samples: 2, concurrency: 1))
        let (results, scores) = try await averaged.run(answer: { batch in batch.map { _ in "A" } }) { _ in }
        XCTAssertEqual(results[0].scores, [4.5])
        XCTAssertEqual(scores.samples, 2)

        let denied = BenchEvaluationPipeline(
            records: records([["denied"]]), output: try Fixtures.temporaryDirectory(self), judge: .model(judge, samples: 1, concurrency: 1))
        do {
            _ = try await denied.run(answer: { batch in batch.map { _ in "A" } }) { _ in }
            XCTFail("a 401 must stop the evaluation")
        } catch {
            XCTAssertTrue("\(error)".contains("answered HTTP 401: canned 401"), "\(error)")
            XCTAssertFalse("\(error)".contains("sk-test-secret"))
        }
        XCTAssertEqual(server.requests("denied"), 1, "a client error is not retried")
    }

    func testBackoffAndAddresses() {
        let settings = JudgeSettings(url: URL(string: "http://127.0.0.1:1/v1/chat/completions")!, model: "m", backoff: 1)
        XCTAssertEqual((1...8).map(settings.delay(beforeRetry:)), [1, 2, 4, 8, 16, 32, 60, 60])
        XCTAssertEqual(JudgeSettings.chatCompletionsURL("http://127.0.0.1:8000/v1")?.absoluteString, "http://127.0.0.1:8000/v1/chat/completions")
        XCTAssertEqual(JudgeSettings.chatCompletionsURL("http://localhost:8000/v1/chat/completions")?.absoluteString, "http://localhost:8000/v1/chat/completions")
        XCTAssertNil(JudgeSettings.chatCompletionsURL("ftp://host/v1"))
        XCTAssertNil(JudgeSettings.chatCompletionsURL("not a url"))
    }
}

/// A value shared with the server's handler.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = [String]()
    var value: [String] { lock.lock(); defer { lock.unlock() }; return seen }
    func add(_ text: String) { lock.lock(); seen.append(text); lock.unlock() }
}
