import ArgumentParser
import Foundation
import Serving

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health) until Ctrl-C.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var policy: PolicyOptions
    @Option(help: "Address to bind; anything but loopback exposes the model to the network.") var host = "127.0.0.1"
    @Option(help: "Port; 0 picks a free one.") var port = 8000
    @Option(help: "The environment variable holding the key every request must send as 'Authorization: Bearer <key>'.")
    var apiKeyEnv: String?
    @Option(help: "Request bodies over this many bytes get 413.") var maxBodyBytes = 1 << 20
    @Option(help: "New tokens when a request gives no max_tokens (always capped by the context).") var defaultMaxTokens = 256
    @Option(help: "Requests decoded together: those waiting when the model becomes free, at most this many.") var maxBatchSize = 8

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0-65535") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        guard defaultMaxTokens > 0 else { throw ValidationError("--default-max-tokens must be positive") }
        guard maxBatchSize > 0 else { throw ValidationError("--max-batch-size must be positive") }
    }

    func run() async throws {
        try await reportingErrors {
            var key: String?
            if let apiKeyEnv {
                guard let value = ProcessInfo.processInfo.environment[apiKeyEnv], !value.isEmpty else {
                    throw ValidationError("--api-key-env: \(apiKeyEnv) is not set")
                }
                key = value
            }
            let loaded = try policy.load(model)
            let settings = ServerSettings(
                host: host, port: port, modelName: URL(fileURLWithPath: model.model).lastPathComponent, apiKey: key, maxBodyBytes: maxBodyBytes,
                defaultMaxTokens: defaultMaxTokens, maxBatchSize: maxBatchSize)
            let host = host
            try await ModelServer(model: loaded.model, tokenizer: loaded.tokenizer, template: loaded.template, settings: settings).run { port in
                print("serving \(settings.modelName) on http://\(host):\(port)/v1" + (settings.apiKey == nil ? "" : " (API key required)") + "; Ctrl-C stops")
                fflush(stdout)
            }
            print("stopped")
        }
    }
}
