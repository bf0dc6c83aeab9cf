import Foundation
import Tensor

/// A benchmark answer and its rubric score.
public struct BenchResponse: Sendable {
    public let response: String
    public let score: RubricScore
}

extension Mistral {
    /// The greedy answer to `prompt` under `system`, as text (EOS not included).
    public func answer(system: String, prompt: String, tokenizer: Tokenizer, maxNewTokens: Int) -> String {
        let ids = generate(
            prompt: ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer),
            options: SamplingOptions(maxNewTokens: maxNewTokens))
        return tokenizer.decode(ids.filter { $0 != tokenizer.eosId })
    }

    /// Answers every benchmark record greedily and scores it with the rubric.
    public func evaluate(bench records: [BenchRecord], tokenizer: Tokenizer, maxNewTokens: Int = 96) -> [BenchResponse] {
        records.map { record in
            let response = answer(system: record.system, prompt: record.prompt, tokenizer: tokenizer, maxNewTokens: maxNewTokens)
            return BenchResponse(response: response, score: Rubric.score(response, for: record))
        }
    }
}
