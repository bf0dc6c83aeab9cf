import Foundation
import Hummingbird

/// An OpenAI-compatible judge inside the test process, on an ephemeral loopback port: each
/// request is answered by `reply` from the rubric's criteria and how often that criteria was
/// asked before.
final class JudgeServer: @unchecked Sendable {
    enum Reply {
        case text(String)
        case status(Int)
        case body(String)
        case slow(seconds: Double, String)
    }

    private let lock = NSLock()
    private var counts = [String: Int]()
    private var keys = Set<String?>()
    private var task: Task<Void, Error>?
    private(set) var port = 0

    /// Starts serving; `reply(criteria, attempt)` with `attempt` counted from 1.
    init(reply: @escaping @Sendable (String, Int) -> Reply) async throws {
        let router = Router()
        router.post("/v1/chat/completions") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            let messages = object?["messages"] as? [[String: String]] ?? []
            let user = messages.last?["content"] ?? ""
            let criteria = user.components(separatedBy: "\"criteria\": \"").dropFirst().first?.components(separatedBy: "\"").first ?? ""
            let attempt = self.count(criteria, key: request.headers[.authorization])
            switch reply(criteria, attempt) {
            case .text(let text):
                return Self.json(200, ["choices": [["message": ["role": "assistant", "content": text]]]])
            case .status(let status):
                return Self.json(status, ["error": ["message": "canned \(status)", "type": "test"]])
            case .body(let text):
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .slow(let seconds, let text):
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return Self.json(200, ["choices": [["message": ["role": "assistant", "content": text]]]])
            }
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        task = Task { try await app.runService(gracefulShutdownSignals: []) }
        for await port in ports {
            self.port = port
            break
        }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/v1")! }

    /// Requests so far for `criteria`.
    func requests(_ criteria: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return counts[criteria, default: 0]
    }

    /// The Authorization headers seen.
    var authorizations: Set<String?> {
        lock.lock()
        defer { lock.unlock() }
        return keys
    }

    func stop() {
        task?.cancel()
    }

    private func count(_ criteria: String, key: String?) -> Int {
        lock.lock()
        defer { lock.unlock() }
        counts[criteria, default: 0] += 1
        keys.insert(key)
        return counts[criteria]!
    }

    private static func json(_ status: Int, _ object: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
