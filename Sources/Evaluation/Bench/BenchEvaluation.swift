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

/// A model answering benchmark prompts (greedily unless told otherwise), `batchSize` prompts
/// decoded together, or keeping the best of several sampled answers by a reward model.
public struct BenchEvaluator {
    public let model: Mistral
    public let tokenizer: Tokenizer
    /// The chat template the model was trained with.
    public var template: ChatTemplate.Kind
    public var sampling: SamplingOptions
    public var bestOf: BestOfN?
    /// Prompts answered together (`Mistral.generate(prompts:)`, or with best-of-n all samples of
    /// these prompts); the answers are those given one at a time.
    public var batchSize: Int

    public init(
        model: Mistral, tokenizer: Tokenizer, template: ChatTemplate.Kind = .janus,
        sampling: SamplingOptions = SamplingOptions(maxNewTokens: 96), bestOf: BestOfN? = nil, batchSize: Int = 16) {
        precondition(batchSize >= 1, "BenchEvaluator: batchSize must be at least 1")
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.sampling = sampling
        self.bestOf = bestOf
        self.batchSize = batchSize
    }

    /// The answer to `prompt` under `system`, as text (EOS not included). A sampled answer
    /// draws from seed `sampling.seed + index`, so a record's answer does not depend on which
    /// records were answered before it or beside it.
    public func answer(system: String, prompt: String, index: Int = 0) -> String {
        answers([(index, system, prompt)])[0]
    }

    /// The answers to several prompts (`index` fixing each one's seed, as in `answer`), decoded
    /// `batchSize` at a time.
    public func answers(_ prompts: [(index: Int, system: String, prompt: String)]) -> [String] {
        let ids = prompts.map { ChatTemplate.promptIds(system: $0.system, prompt: $0.prompt, tokenizer: tokenizer, template: template) }
        let options = prompts.map { item -> SamplingOptions in
            var options = sampling
            options.seed &+= UInt64(item.index)
            return options
        }
        let produced = stride(from: 0, to: ids.count, by: batchSize).flatMap { start in
            let batch = start..<min(start + batchSize, ids.count)
            if let bestOf {
                return bestOf.choose(policy: model, prompts: Array(ids[batch]), options: Array(options[batch])).map(\.answer)
            }
            return model.generate(prompts: Array(ids[batch]), options: Array(options[batch]))
        }
        return produced.map { tokenizer.decode($0.filter { $0 != tokenizer.eosId }) }
    }

    /// Answers every benchmark record and scores it with the rule-based rubric (the demo's
    /// synthetic bench).
    public func evaluate(_ records: [BenchRecord]) -> [BenchResponse] {
        let texts = answers(records.enumerated().map { ($0, $1.system, $1.prompt) })
        return zip(texts, records).map { BenchResponse(response: $0, score: Rubric.score($0, for: $1)) }
    }
}
