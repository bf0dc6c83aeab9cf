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

/// A model answering benchmark prompts (greedily unless told otherwise).
public struct BenchEvaluator {
    public let model: Mistral
    public let tokenizer: Tokenizer
    public var sampling: SamplingOptions

    public init(model: Mistral, tokenizer: Tokenizer, sampling: SamplingOptions = SamplingOptions(maxNewTokens: 96)) {
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
    }

    /// The answer to `prompt` under `system`, as text (EOS not included). A sampled answer
    /// draws from seed `sampling.seed + index`, so a record's answer does not depend on which
    /// records were answered before it.
    public func answer(system: String, prompt: String, index: Int = 0) -> String {
        var options = sampling
        options.seed &+= UInt64(index)
        let ids = model.generate(prompt: ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer), options: options)
        return tokenizer.decode(ids.filter { $0 != tokenizer.eosId })
    }

    /// Answers every benchmark record and scores it with the rule-based rubric (the demo's
    /// synthetic bench).
    public func evaluate(_ records: [BenchRecord]) -> [BenchResponse] {
        records.map { record in
            let response = answer(system: record.system, prompt: record.prompt)
            return BenchResponse(response: response, score: Rubric.score(response, for: record))
        }
    }
}
