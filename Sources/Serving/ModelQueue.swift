import Dispatch
import Foundation
import Model
import Tokenizer
import Training

/// The one model behind the server. The model runs on one serial queue, never twice at once;
/// each run decodes the requests waiting when it starts (up to `maxBatchSize`) together, so
/// clients asking at the same time share every weight read (static batching: a request arriving
/// meanwhile joins the next run). A request's answer is the one it gets alone.
final class ModelQueue: @unchecked Sendable {
    let model: Mistral
    let tokenizer: Tokenizer
    /// How chat messages are rendered.
    let template: ChatTemplate.Kind
    /// New tokens when a request does not say.
    let defaultMaxTokens: Int
    /// Most requests decoded together.
    let maxBatchSize: Int
    private let queue = DispatchQueue(label: "facet.serving.model")
    private let lock = NSLock()
    private var waiting = [Waiting]()

    init(model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind, defaultMaxTokens: Int, maxBatchSize: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.defaultMaxTokens = defaultMaxTokens
        self.maxBatchSize = maxBatchSize
    }

    struct Prepared: Sendable {
        let ids: [Int32]
        let options: SamplingOptions
        let stop: [String]
    }

    /// The prompt's ids and the sampling, with `max_tokens` capped by the context; a prompt
    /// that leaves no room is a 400.
    func prepare(_ request: CompletionRequest) throws -> Prepared {
        let ids: [Int32]
        switch request.prompt {
        case .chat(let system, let user): ids = ChatTemplate.promptIds(system: system, prompt: user, tokenizer: tokenizer, template: template)
        case .text(let text): ids = tokenizer.encode(text, addBOS: true)
        }
        let context = model.config.maxPositionEmbeddings
        guard ids.count < context else {
            throw APIError.invalid("the prompt has \(ids.count) tokens; this model's context is \(context)")
        }
        let options = SamplingOptions(
            maxNewTokens: min(request.maxTokens ?? defaultMaxTokens, context - ids.count), temperature: request.temperature,
            topP: request.topP, seed: request.seed)
        return Prepared(ids: ids, options: options, stop: request.stop)
    }

    /// Generates on the model's queue, batched with the other requests waiting; `onText` gets
    /// each piece of text as it may be sent (stop strings cut, EOS left out). Returns the finish
    /// reason and token counts as soon as this request ends.
    func generate(_ prepared: Prepared, onText: @escaping @Sendable (String) -> Void) async -> Finished {
        await withCheckedContinuation { continuation in
            lock.withLock { waiting.append(Waiting(prepared: prepared, onText: onText, continuation: continuation)) }
            queue.async { [self] in runWaiting() }
        }
    }

    /// Decodes the requests waiting now as one batch; an earlier run may have taken them all.
    private func runWaiting() {
        let batch = lock.withLock {
            let taken = Array(waiting.prefix(maxBatchSize))
            waiting.removeFirst(taken.count)
            return taken
        }
        guard !batch.isEmpty else { return }
        var streams = batch.map { Stream(tokenizer: tokenizer, stop: $0.prepared.stop) }
        _ = model.generate(prompts: batch.map(\.prepared.ids), options: batch.map(\.prepared.options)) { row, id in
            let request = batch[row]
            let going = streams[row].accept(id, onText: request.onText)
            if !going || streams[row].produced == request.prepared.options.maxNewTokens {
                request.continuation.resume(returning: streams[row].finish(promptTokens: request.prepared.ids.count, onText: request.onText))
            }
            return going
        }
    }

    private struct Waiting {
        let prepared: Prepared
        let onText: @Sendable (String) -> Void
        let continuation: CheckedContinuation<Finished, Never>
    }

    /// One request's text as its tokens arrive.
    private struct Stream {
        var decoder: Tokenizer.StreamingDecoder
        var matcher: StopMatcher
        let eosId: Int32
        var hitEOS = false
        var produced = 0

        init(tokenizer: Tokenizer, stop: [String]) {
            decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
            matcher = StopMatcher(stop)
            eosId = tokenizer.eosId
        }

        /// Takes the next token; false when the answer ends here (EOS or a stop string).
        mutating func accept(_ id: Int32, onText: (String) -> Void) -> Bool {
            produced += 1
            if id == eosId {
                hitEOS = true
                return false
            }
            let text = matcher.append(decoder.append(id))
            if !text.isEmpty { onText(text) }
            return !matcher.stopped
        }

        mutating func finish(promptTokens: Int, onText: (String) -> Void) -> Finished {
            let tail = matcher.append(decoder.finish()) + matcher.finish()
            if !tail.isEmpty { onText(tail) }
            return Finished(reason: hitEOS || matcher.stopped ? "stop" : "length", promptTokens: promptTokens, completionTokens: produced)
        }
    }

    struct Finished: Sendable {
        let reason: String
        let promptTokens: Int
        let completionTokens: Int
    }
}
