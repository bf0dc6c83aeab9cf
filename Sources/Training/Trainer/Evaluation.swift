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
    public let template: ChatTemplate.Kind

    public init(model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind = .janus) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
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
        score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer, template: template))
    }

    public func score(_ record: PreferenceRecord) -> PairScore {
        PairScore(
            chosen: score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.chosen, tokenizer: tokenizer, template: template)),
            rejected: score(ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.rejected, tokenizer: tokenizer, template: template)))
    }
}

/// Rewards of responses under a reward model (a model with a reward head), as the chat
/// template tokenizes them: the head on the last token, the EOS that ends the response.
public struct RewardScorer {
    public let model: Mistral
    public let tokenizer: Tokenizer
    public let template: ChatTemplate.Kind

    /// Refuses a model without a reward head; `source` names where the model came from.
    public init(model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind = .janus, source: String) throws {
        guard model.rewardHead != nil else {
            throw ModelError("\(source) is not a reward model (it has no /reward_head): train one with `train rm`")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
    }

    /// Rewards of some examples, scored as one padded batch without recording a graph.
    public func rewards(_ examples: [TokenizedExample]) -> [Float] {
        withoutGradients {
            let batch = MicroBatch(rows: examples.map { [$0] }, packed: false)
            return model.rewards(batch.tokens, lastTokens: examples.map { $0.ids.count - 1 }).scalars
        }
    }

    public func reward(_ record: SFTRecord) -> Float {
        rewards([ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer, template: template)])[0]
    }

    public func rewards(_ record: PreferenceRecord) -> (chosen: Float, rejected: Float) {
        let scored = rewards([record.chosen, record.rejected].map {
            ChatTemplate.example(system: record.system, prompt: record.prompt, response: $0, tokenizer: tokenizer, template: template)
        })
        return (scored[0], scored[1])
    }
}
