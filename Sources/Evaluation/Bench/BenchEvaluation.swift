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

/// A model answering benchmark prompts greedily, judged by the synthetic rubric.
public struct BenchEvaluator {
    public let model: Mistral
    public let tokenizer: Tokenizer
    public var maxNewTokens: Int

    public init(model: Mistral, tokenizer: Tokenizer, maxNewTokens: Int = 96) {
        self.model = model
        self.tokenizer = tokenizer
        self.maxNewTokens = maxNewTokens
    }

    /// The greedy answer to `prompt` under `system`, as text (EOS not included).
    public func answer(system: String, prompt: String) -> String {
        let ids = model.generate(
            prompt: ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer),
            options: SamplingOptions(maxNewTokens: maxNewTokens))
        return tokenizer.decode(ids.filter { $0 != tokenizer.eosId })
    }

    /// Answers every benchmark record and scores it with the rubric.
    public func evaluate(_ records: [BenchRecord]) -> [BenchResponse] {
        records.map { record in
            let response = answer(system: record.system, prompt: record.prompt)
            return BenchResponse(response: response, score: Rubric.score(response, for: record))
        }
    }
}
