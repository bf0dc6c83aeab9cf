import Foundation

/// An OpenAI-style error: the status and `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Sendable {
    public let status: Int
    public let message: String
    public let type: String

    static func invalid(_ message: String) -> APIError { APIError(status: 400, message: message, type: "invalid_request_error") }

    var body: Data {
        let object: [String: Any] = ["error": ["message": message, "type": type, "param": NSNull(), "code": NSNull()]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}

/// What a completion request asks for, whichever endpoint it came through.
struct CompletionRequest: Sendable {
    enum Prompt: Sendable {
        /// System and user message, rendered with the model's chat template.
        case chat(system: String?, user: String)
        /// Raw text, tokenized with BOS.
        case text(String)
    }

    var prompt: Prompt
    var maxTokens: Int?
    var temperature: Float
    var topP: Float
    var seed: UInt64
    var stop: [String]
    var stream: Bool

    /// Reads a `/v1/chat/completions` (`chat`) or `/v1/completions` body; every problem is a 400.
    init(json: Data, chat: Bool) throws {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw APIError.invalid("the body must be a JSON object")
        }
        if chat {
            guard let messages = object["messages"] as? [[String: Any]], !messages.isEmpty else {
                throw APIError.invalid("'messages' must be a non-empty list of {role, content}")
            }
            var system: String?, user: String?
            for (index, message) in messages.enumerated() {
                guard let content = message["content"] as? String else { throw APIError.invalid("messages[\(index)].content must be a string") }
                switch message["role"] as? String {
                case "system" where index == 0: system = content
                case "user" where index == messages.count - 1: user = content
                case "system", "user", "assistant":
                    throw APIError.invalid("messages[\(index)]: the chat template takes one optional system message and then one user message")
                default:
                    throw APIError.invalid("messages[\(index)].role must be 'system' or 'user', found \(String(describing: message["role"] ?? "nothing"))")
                }
            }
            guard let user else { throw APIError.invalid("the last message must be the user's") }
            prompt = .chat(system: system, user: user)
        } else {
            guard let text = object["prompt"] as? String else { throw APIError.invalid("'prompt' must be a string") }
            prompt = .text(text)
        }
        func number(_ key: String) throws -> Double? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber else { throw APIError.invalid("'\(key)' must be a number") }
            return number.doubleValue
        }
        if let tokens = try number("max_tokens") {
            guard tokens >= 1, tokens == tokens.rounded() else { throw APIError.invalid("'max_tokens' must be an integer of at least 1") }
            maxTokens = tokens > 1e9 ? Int(1e9) : Int(tokens)
        }
        temperature = Float(try number("temperature") ?? 1)
        guard temperature >= 0 && temperature <= 2 else { throw APIError.invalid("'temperature' must be in [0, 2]") }
        topP = Float(try number("top_p") ?? 1)
        guard topP > 0 && topP <= 1 else { throw APIError.invalid("'top_p' must be in (0, 1]") }
        let seedValue = try number("seed") ?? 0
        guard seedValue >= 0, seedValue < 1.8e19, seedValue == seedValue.rounded() else { throw APIError.invalid("'seed' must be a non-negative integer") }
        seed = UInt64(seedValue)
        switch object["stop"] {
        case nil, is NSNull: stop = []
        case let text as String: stop = [text]
        case let list as [String]: stop = list
        default: throw APIError.invalid("'stop' must be a string or a list of strings")
        }
        guard stop.count <= 4, !stop.contains("") else { throw APIError.invalid("'stop' takes at most 4 non-empty strings") }
        switch object["stream"] {
        case nil, is NSNull: stream = false
        case let flag as Bool: stream = flag
        default: throw APIError.invalid("'stream' must be a boolean")
        }
    }
}

/// Cuts generated text at the first stop string, holding back a tail that could still
/// become one, so a stream never sends text a stop string would have cut.
struct StopMatcher {
    let stops: [String]
    private var pending = ""
    private(set) var stopped = false

    init(_ stops: [String]) { self.stops = stops }

    /// The text now safe to send.
    mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        pending += piece
        for stop in stops {
            if let range = pending.range(of: stop) {
                stopped = true
                let text = String(pending[..<range.lowerBound])
                pending = ""
                return text
            }
        }
        let hold = stops.map { stop in (1..<max(stop.count, 1)).last { pending.hasSuffix(stop.prefix($0)) } ?? 0 }.max() ?? 0
        let text = String(pending.dropLast(hold))
        pending = String(pending.suffix(hold))
        return text
    }

    /// What was held back, once generation ends.
    mutating func finish() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }
}
