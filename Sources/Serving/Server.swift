import Foundation
import Hummingbird
import Model
import Tokenizer
import Training

/// How `train serve` listens.
public struct ServerSettings: Sendable {
    public var host: String
    public var port: Int
    /// The name `/v1/models` lists and replies carry.
    public var modelName: String
    /// When set, every request must carry `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Larger request bodies get 413.
    public var maxBodyBytes: Int
    /// New tokens when a request does not say (`max_tokens` is capped by the context).
    public var defaultMaxTokens: Int
    /// Most requests decoded together (those waiting when the model becomes free).
    public var maxBatchSize: Int

    public init(
        host: String = "127.0.0.1", port: Int = 8000, modelName: String, apiKey: String? = nil, maxBodyBytes: Int = 1 << 20,
        defaultMaxTokens: Int = 256, maxBatchSize: Int = 8) {
        self.host = host
        self.port = port
        self.modelName = modelName
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
        self.defaultMaxTokens = defaultMaxTokens
        self.maxBatchSize = maxBatchSize
    }
}

/// An OpenAI-compatible HTTP server for one model: `GET /health`, `GET /v1/models`,
/// `POST /v1/chat/completions` (messages rendered with the model's chat template; `stream: true`
/// sends server-sent events) and `POST /v1/completions`.
public struct ModelServer: Sendable {
    public let settings: ServerSettings
    private let queue: ModelQueue

    /// - Parameter template: how chat messages become the prompt (`ChatTemplate.template(for:checkpoint:)`
    ///   chooses the model's).
    public init(model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind, settings: ServerSettings) {
        self.settings = settings
        queue = ModelQueue(
            model: model, tokenizer: tokenizer, template: template, defaultMaxTokens: settings.defaultMaxTokens,
            maxBatchSize: settings.maxBatchSize)
    }

    /// Serves until SIGINT or SIGTERM, then stops cleanly; `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router()
        router.get("/health") { request, _ in try await authorized(request) { json(200, ["status": "ok"]) } }
        router.get("/v1/models") { request, _ in
            try await authorized(request) {
                json(200, ["object": "list", "data": [["id": settings.modelName, "object": "model", "created": 0, "owned_by": "facet"]]])
            }
        }
        router.post("/v1/chat/completions") { request, _ in try await complete(request, chat: true) }
        router.post("/v1/completions") { request, _ in try await complete(request, chat: false) }
        let app = Application(
            router: router, configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "facet"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? settings.port) })
        try await app.runService(gracefulShutdownSignals: [.sigint, .sigterm])
    }

    private func authorized(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        if let key = settings.apiKey {
            let given = request.headers[.authorization] ?? ""
            guard constantTimeEqual(given, "Bearer " + key) else {
                return failure(APIError(status: 401, message: "missing or wrong API key (Authorization: Bearer <key>)", type: "authentication_error"))
            }
        }
        do {
            return try await body()
        } catch let error as APIError {
            return failure(error)
        }
    }

    private func complete(_ request: Request, chat: Bool) async throws -> Response {
        try await authorized(request) {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: settings.maxBodyBytes)
            } catch {
                throw APIError(status: 413, message: "the request body is over \(settings.maxBodyBytes) bytes", type: "invalid_request_error")
            }
            let parsed = try CompletionRequest(json: Data(buffer: body), chat: chat)
            let prepared = try queue.prepare(parsed)
            let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased()
            let created = Int(Date().timeIntervalSince1970)
            let object = chat ? "chat.completion" : "text_completion"
            @Sendable func choice(_ text: String?, finish: String?, delta: Bool) -> [String: Any] {
                var choice: [String: Any] = ["index": 0, "finish_reason": finish.map { $0 as Any } ?? NSNull()]
                if chat {
                    choice[delta ? "delta" : "message"] = text.map { ["role": "assistant", "content": $0] } ?? [:]
                } else {
                    choice["text"] = text ?? ""
                }
                return choice
            }
            if parsed.stream {
                let (events, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
                @Sendable func send(_ object: Any) {
                    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                    continuation.yield(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                }
                let chunk = chat ? "chat.completion.chunk" : "text_completion"
                let header: [String: Any] = ["id": id, "object": chunk, "created": created, "model": settings.modelName]
                Task {
                    let finished = await queue.generate(prepared) { text in
                        send(header.merging(["choices": [choice(text, finish: nil, delta: true)]]) { $1 })
                    }
                    send(header.merging(["choices": [choice(nil, finish: finished.reason, delta: true)]]) { $1 })
                    continuation.yield(ByteBuffer(string: "data: [DONE]\n\n"))
                    continuation.finish()
                }
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                    body: ResponseBody(asyncSequence: events))
            }
            let text = TextBuffer()
            let finished = await queue.generate(prepared) { text.append($0) }
            return json(200, [
                "id": id, "object": object, "created": created, "model": settings.modelName,
                "choices": [choice(text.value, finish: finished.reason, delta: false)],
                "usage": [
                    "prompt_tokens": finished.promptTokens, "completion_tokens": finished.completionTokens,
                    "total_tokens": finished.promptTokens + finished.completionTokens,
                ],
            ])
        }
    }

    private func failure(_ error: APIError) -> Response {
        Response(
            status: .init(code: error.status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: error.body)))
    }
}

private func json(_ status: Int, _ object: Any) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Compares every byte whatever the first difference, so the time taken tells nothing of
/// where a guessed key goes wrong.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for i in 0..<max(x.count, y.count) {
        difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return difference == 0
}

/// Text collected from the model's queue.
private final class TextBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""

    func append(_ piece: String) {
        lock.lock()
        text += piece
        lock.unlock()
    }

    var value: String {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}
