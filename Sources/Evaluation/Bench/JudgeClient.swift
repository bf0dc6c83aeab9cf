import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where and how to ask an OpenAI-compatible judge.
public struct JudgeSettings: Sendable {
    /// The full `.../v1/chat/completions` address.
    public var url: URL
    public var model: String
    /// Sent as `Authorization: Bearer <key>`, never written anywhere else.
    public var apiKey: String?
    /// How many times a failed request is asked again.
    public var retries: Int
    /// Seconds before the first retry; doubled for each further one, at most 60.
    public var backoff: Double
    /// Seconds one request may take.
    public var timeout: Double
    /// The authors' judge sampling (`SAMPLING_PARAMS_OPENAI`).
    public var maxTokens = 1024
    public var temperature = 1.0
    public var topP = 0.9

    public init(url: URL, model: String, apiKey: String? = nil, retries: Int = 5, backoff: Double = 1, timeout: Double = 300) {
        self.url = url
        self.model = model
        self.apiKey = apiKey
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
    }

    /// The chat-completions address of a server given as its base (`http://host:8000/v1`,
    /// as OpenAI clients take it) or in full; nil for anything but http(s).
    public static func chatCompletionsURL(_ text: String) -> URL? {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else { return nil }
        if url.path.hasSuffix("/chat/completions") { return url }
        return url.appendingPathComponent("chat/completions")
    }

    /// Seconds to wait before retry `attempt` (1-based).
    public func delay(beforeRetry attempt: Int) -> Double {
        min(backoff * Double(1 << min(attempt - 1, 20)), 60)
    }
}

/// What one judge request came to after its retries.
public enum JudgeOutcome: Sendable, Equatable {
    case scored(feedback: String, score: Int, attempts: Int)
    case failed(reason: String, attempts: Int)
}

/// A judge answer no retry can mend (HTTP 4xx other than 429: a wrong key, model or
/// address); it stops the evaluation.
public struct JudgeRequestError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// An OpenAI-compatible `/v1/chat/completions` judge. A reply without "[RESULT] n", HTTP 429
/// and 5xx, a malformed body and a time-out are asked again after a back-off, up to
/// `settings.retries` times.
public final class OpenAIJudge: Sendable {
    public let settings: JudgeSettings
    private let session: URLSession

    public init(settings: JudgeSettings) {
        self.settings = settings
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        session = URLSession(configuration: configuration)
    }

    /// Asks until a reply parses or the retries are spent; `onRetry(attempt, reason)` hears
    /// of each failed attempt that will be asked again.
    public func judge(_ messages: [ChatMessage], onRetry: @Sendable (Int, String) -> Void = { _, _ in }) async throws -> JudgeOutcome {
        var attempt = 0
        while true {
            attempt += 1
            let reason: String
            switch try await ask(messages) {
            case .success(let reply):
                if let (feedback, score) = JudgeReply.parse(reply) { return .scored(feedback: feedback, score: score, attempts: attempt) }
                reason = "no \"[RESULT] n\" with n in 1-5 in the reply"
            case .failure(let failure):
                reason = failure.description
            }
            if attempt > settings.retries { return .failed(reason: reason, attempts: attempt) }
            onRetry(attempt, reason)
            try await Task.sleep(nanoseconds: UInt64(settings.delay(beforeRetry: attempt) * 1e9))
        }
    }

    private struct Retryable: Error, CustomStringConvertible {
        let description: String
    }

    private struct Request: Encodable {
        let model: String
        let messages: [ChatMessage]
        let max_tokens: Int
        let temperature: Double
        let top_p: Double
    }

    private struct Reply: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { let content: String? }
            let message: Message
        }
        let choices: [Choice]
    }

    /// One request: the reply's text, a failure worth retrying, or a thrown `JudgeRequestError`.
    private func ask(_ messages: [ChatMessage]) async throws -> Result<String, Retryable> {
        var request = URLRequest(url: settings.url, timeoutInterval: settings.timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = settings.apiKey { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONEncoder().encode(Request(
            model: settings.model, messages: messages, max_tokens: settings.maxTokens, temperature: settings.temperature, top_p: settings.topP))
        let data: Data, response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch let error as URLError {
            return .failure(Retryable(description: error.code == .timedOut ? "timed out after \(settings.timeout) s" : "request failed (\(error.code.rawValue): \(error.localizedDescription))"))
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 429 || status >= 500 { return .failure(Retryable(description: "HTTP \(status)")) }
        guard (200..<300).contains(status) else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])
                .flatMap { ($0["error"] as? [String: Any])?["message"] as? String } ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw JudgeRequestError(description: "the judge at \(settings.url.absoluteString) answered HTTP \(status): \(message)")
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: data), let content = reply.choices.first?.message.content else {
            return .failure(Retryable(description: "malformed reply body (no choices[0].message.content)"))
        }
        return .success(content.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
