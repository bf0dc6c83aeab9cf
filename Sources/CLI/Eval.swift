import ArgumentParser
import Evaluation
import Foundation
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log-probabilities of each record's response(s) under the model; for a benchmark file, generated answers scored by the rubric.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var policy: PolicyOptions
    @Option(help: "JSONL records: SFT (system, prompt, output) or preference (system, prompt, chosen, rejected).")
    var data: String
    @Flag(help: "Print one JSON object per record, in input order.") var json = false
    @Option(help: "Benchmark files: the most tokens generated per answer.") var maxNewTokens = 96

    func validate() throws {
        guard maxNewTokens > 0 else { throw ValidationError("--max-new-tokens must be positive") }
    }

    func run() throws {
        try reportingErrors {
            let url = URL(fileURLWithPath: data)
            let isBenchmark = try BenchReader.isBenchmark(url)
            let tokenizer = try model.loadTokenizer()
            let mistral = try policy.load(model)
            try mistral.check(tokenizer)
            if isBenchmark {
                let records = try BenchReader.read(url)
                let responses = BenchEvaluator(model: mistral, tokenizer: tokenizer, maxNewTokens: maxNewTokens).evaluate(records)
                if json {
                    for (index, result) in responses.enumerated() { print(try result.jsonLine(index: index)) }
                } else {
                    let average = Rubric.average(responses.map(\.score))
                    print("\(records.count) benchmark answers, rubric scores 1-5:")
                    for key in RubricScore.keys { print(String(format: "  %-22@ %.2f", key, average[key] ?? 0)) }
                }
                return
            }
            let scorer = ResponseScorer(model: mistral, tokenizer: tokenizer)
            switch try RecordReader.kind(of: url) {
            case .sft:
                let records = try RecordReader.sft(url).records
                var total = 0.0, tokens = 0
                for (index, record) in records.enumerated() {
                    let score = scorer.score(record)
                    total += score.logp
                    tokens += score.tokens
                    if json { print("{\"index\": \(index), \"logp\": \(score.logp), \"tokens\": \(score.tokens)}") }
                }
                if !json {
                    let nll = -total / Double(max(tokens, 1))
                    print(String(format: "%d records, %d response tokens: mean NLL per token %.4f (perplexity %.2f)",
                                 records.count, tokens, nll, Foundation.exp(nll)))
                }
            case .preference:
                let records = try RecordReader.preferences(url).records
                var total = 0.0, tokens = 0, wins = 0
                for (index, record) in records.enumerated() {
                    let pair = scorer.score(record)
                    total += pair.chosen.logp
                    tokens += pair.chosen.tokens
                    if pair.chosen.logp > pair.rejected.logp { wins += 1 }
                    if json {
                        print("{\"index\": \(index), \"chosen_logp\": \(pair.chosen.logp), \"chosen_tokens\": \(pair.chosen.tokens), "
                              + "\"rejected_logp\": \(pair.rejected.logp), \"rejected_tokens\": \(pair.rejected.tokens)}")
                    }
                }
                if !json {
                    let nll = -total / Double(max(tokens, 1))
                    print(String(format: "%d pairs: mean NLL per chosen token %.4f; chosen more likely than rejected in %.1f%%",
                                 records.count, nll, 100 * Double(wins) / Double(records.count)))
                }
            }
        }
    }
}
