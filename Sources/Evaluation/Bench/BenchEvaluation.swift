import Foundation
import Model
import Tokenizer
import Training

/// A benchmark answer and its rubric score.
public struct BenchResponse: Sendable {
    public let response: String
    public let score: RubricScore

    /// The JSON line `eval --json` prints and the demo writes: {"index", "response", "scores"}.
    public func jsonLine(index: Int) throws -> String {
        let object: [String: Any] = ["index": index, "response": response, "scores": score.dictionary]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// A model answering benchmark prompts (greedily unless told otherwise), or keeping the best of
/// several sampled answers by a reward model.
public struct BenchEvaluator {
    public let model: Mistral
    public let tokenizer: Tokenizer
    /// The chat template the model was trained with.
    public var template: ChatTemplate.Kind
    public var sampling: SamplingOptions
    public var bestOf: BestOfN?

    public init(
        model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind = .janus,
        sampling: SamplingOptions = SamplingOptions(maxNewTokens: 96), bestOf: BestOfN? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.sampling = sampling
        self.bestOf = bestOf
    }

    /// The answer to `prompt` under `system`, as text (EOS not included). A sampled answer
    /// draws from seed `sampling.seed + index`, so a record's answer does not depend on which
    /// records were answered before it.
    public func answer(system: String, prompt: String, index: Int = 0) -> String {
        var options = sampling
        options.seed &+= UInt64(index)
        let promptIds = ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer, template: template)
        let ids = bestOf.map { $0.choose(policy: model, prompt: promptIds, options: options).answer }
            ?? model.generate(prompt: promptIds, options: options)
        return tokenizer.decode(ids.filter { $0 != tokenizer.eosId })
    }

    /// Answers every benchmark record and scores it with the rule-based rubric (the demo's
    /// synthetic bench).
    public func evaluate(_ records: [BenchRecord]) -> [BenchResponse] {
        records.enumerated().map { index, record in
            let response = answer(system: record.system, prompt: record.prompt, index: index)
            return BenchResponse(response: response, score: Rubric.score(response, for: record))
        }
    }
}
