import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

/// `train serve` on an ephemeral loopback port, driven by a real HTTP client.
final class ServeCLITests: XCTestCase {
    private struct Server {
        let process: Process
        let base: String
    }

    private func start(_ model: URL, _ extra: [String] = [], environment: [String: String] = [:]) throws -> Server {
        let executable = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("train")
        let process = Process()
        process.executableURL = FileManager.default.fileExists(atPath: executable.path)
            ? executable : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("train")
        process.arguments = ["serve", "--model", model.path, "--port", "0"] + extra
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        addTeardownBlock { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw FixtureError("train serve stopped before listening") }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        let base = try XCTUnwrap(text.components(separatedBy: " on ").last?.components(separatedBy: "/v1").first, text)
        return Server(process: process, base: base)
    }

    private func call(_ server: Server, _ path: String, _ body: Any? = nil, raw: Data? = nil, key: String? = nil) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: server.base + path)!, timeoutInterval: 120)
        let encoded = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        if let body = raw ?? encoded {
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    private func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], String(decoding: data, as: UTF8.self))
    }

    func testServeAnswersLikeGenerateStreamsAndSurvivesBadRequests() async throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let server = try start(model)
        let generated = try runTrain(["generate", "--model", model.path, "--system", "Be brief.", "--prompt", "Name a colour.", "--max-new-tokens", "12"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let chat: [String: Any] = [
            "model": "x", "temperature": 0, "max_tokens": 12,
            "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Name a colour."]],
        ]
        let (status, data) = try await call(server, "/v1/chat/completions", chat)
        XCTAssertEqual(status, 200)
        let reply = try object(data)
        let choice = try XCTUnwrap((reply["choices"] as? [[String: Any]])?.first)
        let text = try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
        XCTAssertEqual(text + "\n", generated.stdout, "greedy chat completion equals train generate")
        XCTAssertEqual((reply["usage"] as? [String: Any])?["completion_tokens"] as? Int, 12)

        var streaming = chat
        streaming["stream"] = true
        let (streamStatus, events) = try await call(server, "/v1/chat/completions", streaming)
        XCTAssertEqual(streamStatus, 200)
        let lines = String(decoding: events, as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(lines.last, "data: [DONE]")
        var streamed = ""
        for line in lines.dropLast() {
            let chunk = try object(Data(line.dropFirst("data: ".count).utf8))
            let delta = ((chunk["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            streamed += delta ?? ""
        }
        XCTAssertEqual(streamed, text, "the stream concatenates to the same text")

        let bad: [(Data?, Any?, String)] = [
            (Data("{not json".utf8), nil, "must be a JSON object"),
            (nil, ["messages": [["role": "wizard", "content": "hi"]]], "role must be"),
            (nil, ["messages": [["role": "user", "content": "hi"]], "max_tokens": 0], "max_tokens"),
            (nil, ["messages": [["role": "user", "content": String(repeating: "word ", count: 5000)]]], "context"),
        ]
        for (raw, body, message) in bad {
            let (code, error) = try await call(server, "/v1/chat/completions", body, raw: raw)
            XCTAssertEqual(code, 400, message)
            let text = try XCTUnwrap((try object(error)["error"] as? [String: Any])?["message"] as? String)
            XCTAssertTrue(text.contains(message), text)
        }
        let (tooLarge, _) = try await call(server, "/v1/completions", raw: Data(repeating: UInt8(ascii: " "), count: (1 << 20) + 10))
        XCTAssertEqual(tooLarge, 413)

        // 20 clients at once are all served, in turn.
        let codes = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await self.call(server, "/v1/completions", ["prompt": "Count \(index)", "max_tokens": 4, "temperature": 0.7, "seed": index]).0
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(codes, Array(repeating: 200, count: 20))
        let (health, _) = try await call(server, "/health")
        XCTAssertEqual(health, 200, "still serving")
        let models = try object(try await call(server, "/v1/models").1)
        XCTAssertEqual(((models["data"] as? [[String: Any]])?.first)?["id"] as? String, model.lastPathComponent)

        server.process.interrupt()
        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationStatus, 0, "Ctrl-C stops cleanly")
    }

    /// Requests sent at once are decoded together (static batching) and each gets the answer it
    /// gets alone: its own length limit, stop string and finish reason.
    func testConcurrentRequestsGetTheAnswersTheyGetAlone() async throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let server = try start(model, ["--max-batch-size", "4"])
        let requests: [[String: Any]] = (0..<6).map { index in
            var body: [String: Any] = ["prompt": "Item \(index) of the list is", "max_tokens": 3 + 2 * index, "temperature": 0]
            if index == 4 { body["stop"] = ["a"] }
            return body
        }
        func answer(_ body: [String: Any]) async throws -> [String] {
            let reply = try object(try await call(server, "/v1/completions", body).1)
            let choice = try XCTUnwrap((reply["choices"] as? [[String: Any]])?.first)
            let usage = try XCTUnwrap(reply["usage"] as? [String: Any])
            return [choice["text"] as? String ?? "?", choice["finish_reason"] as? String ?? "?", "\(usage["completion_tokens"] ?? "?")"]
        }
        var alone = [[String]]()
        for body in requests { alone.append(try await answer(body)) }
        XCTAssertEqual(alone.map { $0[1] }.filter { $0 == "length" }.count, 5, "\(alone)")
        XCTAssertEqual(alone[4][1], "stop", "\(alone[4])")
        let together = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for (index, body) in requests.enumerated() { group.addTask { (index, try await answer(body)) } }
            return try await group.reduce(into: [Int: [String]]()) { $0[$1.0] = $1.1 }
        }
        for index in requests.indices { XCTAssertEqual(together[index], alone[index], "request \(index)") }
    }

    /// The server renders chat messages in the template the CLI chose (here given: --template chatml).
    func testChatMessagesUseTheChosenTemplate() async throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let server = try start(model, ["--template", "chatml"])
        let question = ["--system", "Be brief.", "--prompt", "Name a colour.", "--max-new-tokens", "10"]
        let chatML = try runTrain(["generate", "--model", model.path, "--template", "chatml"] + question)
        XCTAssertEqual(chatML.status, 0, chatML.stderr)
        XCTAssertNotEqual(chatML.stdout, try runTrain(["generate", "--model", model.path] + question).stdout, "the templates answer differently")
        let (status, data) = try await call(server, "/v1/chat/completions", [
            "model": "x", "temperature": 0, "max_tokens": 10,
            "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Name a colour."]],
        ] as [String: Any])
        XCTAssertEqual(status, 200)
        let choice = try XCTUnwrap((try object(data)["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String) + "\n", chatML.stdout)
    }

    func testAPIKeyIsRequired() async throws {
        let model = try Fixtures.tinyMistralFolder(self)
        let server = try start(model, ["--api-key-env", "FACET_TEST_SERVE_KEY"], environment: ["FACET_TEST_SERVE_KEY": "s3cret"])
        let (none, wrong, right) = (try await call(server, "/v1/models").0, try await call(server, "/v1/models", key: "s3creT").0,
                                    try await call(server, "/v1/models", key: "s3cret").0)
        XCTAssertEqual([none, wrong, right], [401, 401, 200])
        let (status, data) = try await call(server, "/v1/completions", ["prompt": "Hi", "max_tokens": 2])
        XCTAssertEqual(status, 401)
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("s3cret"))
    }
}
