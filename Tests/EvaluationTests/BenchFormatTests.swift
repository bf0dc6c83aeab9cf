import Evaluation
import Foundation
import TestSupport
import Training
import XCTest

/// The real Multifaceted Bench format, the authors' judge prompt and the reading of judge replies.
final class BenchFormatTests: XCTestCase {
    private let fixture = Fixtures.url("bench-real-format.jsonl")

    func testReaderReadsTheRealFormat() throws {
        let records = try BenchReader.read(fixture)
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records.map(\.source), ["Alpha-nlg (art)", "self-instruct"])
        XCTAssertEqual(records[0].preferenceSet.first?.preference, "succinct hypothesis")
        XCTAssertEqual(records[0].rubrics.count, 4)
        XCTAssertEqual(records[1].rubrics.count, 4, "the singular `rubric` key reads too")
        XCTAssertEqual(records[1].rubrics[0].scoreDescriptions, ["Prose only.", "A list.", "A partial table.", "A table with prose around it.", "A clean table."])
        XCTAssertEqual(records[0].dimension(ofRubric: 3), "harmlessness")
        XCTAssertNil(records[0].answer)
        XCTAssertTrue(try BenchReader.isBenchmark(fixture))
        XCTAssertThrowsError(try BenchReader.readSynthetic(fixture)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(self.fixture.path):1: field 'answer': missing"), "\(error)")
        }
    }

    func testReaderNamesTheBrokenRubricField() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("bench.jsonl")
        let lines = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        try (lines[0] + "\n" + lines[1].replacingOccurrences(of: "\"5\": \"A clean table.\"", with: "\"6\": \"A clean table.\"") + "\n")
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BenchReader.read(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path):2: field 'rubric[0].score_descriptions': must have exactly the keys \"1\" to \"5\", found [\"1\", \"2\", \"3\", \"4\", \"6\"]")
        }
        try lines[0].replacingOccurrences(of: "\"rubrics\"", with: "\"rubricz\"").write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BenchReader.read(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path):1: field 'rubrics': missing")
        }
    }

    /// Tests/Fixtures/make_judge_golden.py runs the authors' template and json.dumps.
    func testJudgePromptMatchesTheAuthorsByteForByte() throws {
        let golden = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.golden.appendingPathComponent("judge_prompt.json"))) as? [String: Any])
        let response = try XCTUnwrap(golden["response"] as? String)
        let expected = try XCTUnwrap(golden["records"] as? [[[[String: String]]]])
        let records = try BenchReader.read(fixture)
        XCTAssertEqual(expected.count, records.count)
        for (record, requests) in zip(records, expected) {
            XCTAssertEqual(requests.count, record.rubrics.count)
            for (rubric, messages) in requests.enumerated() {
                let ours = JudgePrompt.messages(record: record, response: response, rubric: rubric)
                XCTAssertEqual(ours.map(\.role), messages.map { $0["role"]! })
                for (mine, theirs) in zip(ours, messages) {
                    XCTAssertEqual(Array(mine.content.utf8), Array(theirs["content"]!.utf8), "record \(record.line) rubric \(rubric)")
                }
            }
        }
        let user = JudgePrompt.messages(record: records[1], response: response, rubric: 3)[1].content
        XCTAssertTrue(user.hasPrefix("###Task Description:\nAn instruction (might include an Input inside it)"))
        XCTAssertTrue(user.hasSuffix("\n}\n\n###Feedback:"))
        XCTAssertTrue(user.contains("scalding \\ud83d\\udd25 (\\\\\\\"hot\\\\\\\")."), "ensure_ascii escapes, surrogate pairs included")
    }

    func testReplyParsing() {
        let scored: [(String, Int, String)] = [
            ("Feedback: The answer is crisp. [RESULT] 5", 5, "The answer is crisp."),
            ("Good job. [RESULT] 3", 3, "Good job."),
            ("Fine.\n[RESULT]: 4", 4, "Fine."),
            ("Fine. [RESULT] (2)", 2, "Fine."),
            ("Fine. [RESULT] [1]", 1, "Fine."),
            ("Fine. [result] 4/5", 4, "Fine."),
            ("Fine. [RESULT] 5 out of 5", 5, "Fine."),
            ("Quoting \"[RESULT] 1\" is wrong here. [RESULT] 4", 4, "Quoting \"[RESULT] 1\" is wrong here."),
        ]
        for (reply, score, feedback) in scored {
            let parsed = JudgeReply.parse(reply)
            XCTAssertEqual(parsed?.score, score, reply)
            XCTAssertEqual(parsed?.feedback, feedback, reply)
        }
        let refused = [
            "I'm sorry, but I can't evaluate this response.", "Score: 4", "Feedback: good. [RESULT]", "[RESULT] 0", "[RESULT] 6",
            "[RESULT] 10", "[RESULT] four", "",
        ]
        for reply in refused { XCTAssertNil(JudgeReply.parse(reply), reply) }
    }

    func testPythonJSONEscapes() {
        let rubric = BenchRubric(criteria: "tab\there \u{7F} \u{1} \"q\" \\ é 𝔸", scoreDescriptions: ["a", "b", "c", "d", "e"])
        XCTAssertEqual(JudgePrompt.pythonJSON(rubric), """
            {
                "criteria": "tab\\there \\u007f \\u0001 \\"q\\" \\\\ \\u00e9 \\ud835\\udd38",
                "score_descriptions": {
                    "1": "a",
                    "2": "b",
                    "3": "c",
                    "4": "d",
                    "5": "e"
                }
            }
            """)
    }
}
