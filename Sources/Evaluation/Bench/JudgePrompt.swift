import Foundation

/// One chat message of an OpenAI-compatible request.
public struct ChatMessage: Sendable, Equatable, Codable {
    public let role: String
    public let content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The absolute-grading prompt the JANUS authors judged Multifaceted Bench with
/// (`ABS_SYSTEM_PROMPT` and `ABS_USER_PROMPT_TEMPLATE` of the kaistAI/Janus repository's
/// `utils/prompts.py`, byte for byte, grammar included), filled as their `run_eval_openai.py`
/// fills it: one request per rubric, the rubric as Python's `json.dumps(rubric, indent=4)`,
/// the filled template stripped of its leading newline and trailing space.
public enum JudgePrompt {
    public static let system =
        "You are a fair judge assistant tasked with providing clear, objective feedback based on specific criteria, ensuring each assessment reflects the absolute standards set for performance."

    /// Python's triple-quoted string: it opens with a newline and ends with "###Feedback: ".
    public static let userTemplate = [
        "",
        "###Task Description:",
        "An instruction (might include an Input inside it), a response to evaluate, and a score rubric representing a evaluation criteria are given.",
        "1. Write a detailed feedback that assess the quality of the response strictly based on the given score rubric, not evaluating in general.",
        "2. After writing a feedback, write a score that is an integer between 1 and 5. You should refer to the score rubric.",
        "3. The output format should look as follows: \"Feedback: (write a feedback for criteria) [RESULT] (an integer number between 1 and 5)\"",
        "4. Please do not generate any other opening, closing, and explanations.",
        "",
        "###The instruction to evaluate:",
        "{instruction}",
        "",
        "###Response to evaluate:",
        "{response}",
        "",
        "###Reference Answer (Score 5):",
        "{reference_answer}",
        "",
        "###Score Rubrics:",
        "{score_rubric}",
        "",
        "###Feedback: ",
    ].joined(separator: "\n")

    /// The system message and the prompt, as the judge sees the instruction. (The authors'
    /// script does this with `--system_key system`; their Makefile's evaluation target leaves
    /// the flag out and shows the judge the prompt alone.)
    public static func instruction(_ record: BenchRecord) -> String {
        record.system + "\n" + record.prompt
    }

    /// The two messages of the judge request for rubric `rubric` of `record`.
    public static func messages(record: BenchRecord, response: String, rubric: Int) -> [ChatMessage] {
        let values = [
            "instruction": instruction(record), "response": response, "reference_answer": record.referenceAnswer,
            "score_rubric": pythonJSON(record.rubrics[rubric]),
        ]
        let user = format(userTemplate, values).trimmingCharacters(in: .whitespacesAndNewlines)
        return [ChatMessage(role: "system", content: system), ChatMessage(role: "user", content: user)]
    }

    /// Python's `str.format` for a template whose only braces are `{name}` fields.
    static func format(_ template: String, _ values: [String: String]) -> String {
        var out = "", rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            out += values[String(rest[rest.index(after: open)..<close])] ?? ""
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// `json.dumps(rubric, indent=4)` with Python's defaults (ASCII only, ", " and ": "),
    /// keys in the bench's order: criteria, then score_descriptions "1" to "5".
    public static func pythonJSON(_ rubric: BenchRubric) -> String {
        let descriptions = rubric.scoreDescriptions.enumerated()
            .map { "        \"\($0.offset + 1)\": \(pythonString($0.element))" }
            .joined(separator: ",\n")
        return "{\n    \"criteria\": \(pythonString(rubric.criteria)),\n    \"score_descriptions\": {\n\(descriptions)\n    }\n}"
    }

    /// A JSON string literal as Python's `json.dumps` writes it with `ensure_ascii=True`:
    /// every scalar outside printable ASCII as `\uXXXX` (lowercase hex, surrogate pairs).
    static func pythonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case " "..."~": out.unicodeScalars.append(scalar)
            default:
                for unit in String(scalar).utf16 { out += "\\u" + String(format: "%04x", unit) }
            }
        }
        return out + "\""
    }
}

/// A judge's reply read as the authors' prompt asks for it: "Feedback: ... [RESULT] n".
public enum JudgeReply {
    /// The feedback before the last "[RESULT]" marker (any case) and the integer after it
    /// (after an optional ":", "(" or "["), which must be 1 to 5. Stricter than the authors'
    /// parser, which takes the first "Score", "Result" or "[RESULT]" anywhere and any integer:
    /// a reply without a marker, or with a score outside 1-5, is nil, to be asked again.
    public static func parse(_ reply: String) -> (feedback: String, score: Int)? {
        guard let marker = reply.range(of: "[RESULT]", options: [.caseInsensitive, .backwards]) else { return nil }
        var rest = reply[marker.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == ":" }
        if let first = rest.first, first == "(" || first == "[" { rest = rest.dropFirst().drop { $0 == " " } }
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard let score = Int(digits), (1...5).contains(score) else { return nil }
        var feedback = reply[..<marker.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        if feedback.hasPrefix("Feedback:") { feedback = String(feedback.dropFirst("Feedback:".count)).trimmingCharacters(in: .whitespaces) }
        return (feedback, score)
    }
}
