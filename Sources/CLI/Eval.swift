import ArgumentParser
import Evaluation
import Foundation
import Training

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log-probabilities of each record's response(s) under the model (--data), or Multifaceted Bench answers graded by a judge (--bench).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var policy: PolicyOptions
    @Option(help: "JSONL records: SFT (system, prompt, output) or preference (system, prompt, chosen, rejected).")
    var data: String?
    @OptionGroup var bench: BenchArguments
    @OptionGroup var sampling: SamplingArguments
    @OptionGroup var bestOf: BestOfArguments
    @Option(help: "Bench prompts answered together (batched decoding, with --best-of all their samples; the answers are those given one at a time).")
    var batchSize = 16
    @Flag(help: "Print one JSON object per record, in input order.") var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard (data == nil) != (bench.bench == nil) else { throw ValidationError("give --data or --bench") }
        if data != nil && bench.out != nil { throw ValidationError("--out goes with --bench") }
        if data != nil && bestOf.bestOf != nil { throw ValidationError("--best-of goes with --bench") }
    }

    func run() async throws {
        try await reportingErrors {
            if bench.bench != nil {
                try await runBench()
            } else {
                try runRecords()
            }
        }
    }

    private func runBench() async throws {
        let (pipeline, judgeName) = try bench.pipeline()
        let options = sampling.options(defaultMaxNewTokens: 96, sampledByDefault: bestOf.bestOf != nil)
        var evaluator: BenchEvaluator?
        let progress = ProgressLine()
        let (results, scores) = try await pipeline.run(batchSize: batchSize, answer: { batch in
            if evaluator == nil {
                let loaded = try policy.load(model)
                let chooser = try bestOf.load(model, sampling: options, template: policy.template, policy: loaded.template)
                evaluator = BenchEvaluator(
                    model: loaded.model, tokenizer: loaded.tokenizer, template: loaded.template, sampling: options, bestOf: chooser,
                    batchSize: batchSize)
            }
            return evaluator!.answers(batch.map { ($0.index, $0.record.system, $0.record.prompt) })
        }, events: { event in progress.show(event) })
        progress.finish()
        if json {
            for result in results { print(try result.jsonLine()) }
            return
        }
        print(BenchSummary(scores: scores, judge: judgeName, output: pipeline.output.path).text)
    }

    private func runRecords() throws {
        guard let data else { return }
        let url = URL(fileURLWithPath: data)
        if try BenchReader.isBenchmark(url) { throw DataError(file: data, "is a benchmark (its records have rubrics): evaluate it with --bench") }
        let loaded = try policy.load(model)
        let scorer = ResponseScorer(model: loaded.model, tokenizer: loaded.tokenizer, template: loaded.template)
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
