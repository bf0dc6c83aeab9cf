import Dispatch
import Foundation
import Model
import Tokenizer
import Training

/// The one model behind the server. Requests wait their turn on one serial queue, so
/// several clients are served in order and the model never runs twice at once.
final class ModelQueue: @unchecked Sendable {
    let model: Mistral
    let tokenizer: Tokenizer
    /// How chat messages are rendered.
    let template: ChatTemplate.Kind
    /// New tokens when a request does not say.
    let defaultMaxTokens: Int
    private let queue = DispatchQueue(label: "facet.serving.model")

    init(model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind, defaultMaxTokens: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.defaultMaxTokens = defaultMaxTokens
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

    /// Generates on the model's queue; `onText` gets each piece of text as it may be sent
    /// (stop strings cut, EOS left out). Returns the finish reason and token counts.
    func generate(_ prepared: Prepared, onText: @escaping @Sendable (String) -> Void) async -> Finished {
        await withCheckedContinuation { continuation in
            queue.async { [self] in
                var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
                var matcher = StopMatcher(prepared.stop)
                var hitEOS = false
                let produced = model.generate(prompt: prepared.ids, options: prepared.options) { id in
                    if id == tokenizer.eosId {
                        hitEOS = true
                        return true
                    }
                    let text = matcher.append(decoder.append(id))
                    if !text.isEmpty { onText(text) }
                    return !matcher.stopped
                }
                let tail = matcher.append(decoder.finish()) + matcher.finish()
                if !tail.isEmpty { onText(tail) }
                continuation.resume(returning: Finished(
                    reason: hitEOS || matcher.stopped ? "stop" : "length", promptTokens: prepared.ids.count, completionTokens: produced.count))
            }
        }
    }

    struct Finished: Sendable {
        let reason: String
        let promptTokens: Int
        let completionTokens: Int
    }
}
