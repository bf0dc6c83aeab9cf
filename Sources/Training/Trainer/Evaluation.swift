import Foundation
import Model
import Tensor
import Tokenizer

/// Summed log-probability of a response and its token count (EOS included).
public struct ResponseScore: Sendable {
    public let logp: Double
    public let tokens: Int

    public var meanNLL: Double { -logp / Double(max(tokens, 1)) }
}

public struct PairScore: Sendable {
    public let chosen: ResponseScore
    public let rejected: ResponseScore
}

/// Log-probabilities of responses under a model, as the chat template tokenizes them.
public struct ResponseScorer {
    public let model: Mistral
    public let tokenizer: Tokenizer

    public init(model: Mistral, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// log p(response | prompt) of one example, without recording a graph.
    public func score(_ example: TokenizedExample) -> ResponseScore {
        withoutGradients {
            let batch = TokenBatch(ids: example.ids, batch: 1, tokens: example.ids.count)
            let logProbs = model.logProbs(batch, targets: example.targets)
            var total = 0.0
            for i in 0..<logProbs.count { total += Double(logProbs.data[i]) }
            return ResponseScore(logp: total, tokens: example.responseLength)
        }
    }

    public func score(_ record: SFTRecord) -> ResponseScore {
        score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer))
    }

    public func score(_ record: PreferenceRecord) -> PairScore {
        PairScore(
            chosen: score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.chosen, tokenizer: tokenizer)),
            rejected: score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.rejected, tokenizer: tokenizer)))
    }
}
