import ArgumentParser
import Foundation
import Training

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewards of each record's response(s) under a reward model (a `train rm` checkpoint).")

    @OptionGroup var model: ModelOptions
    @Option(help: "The reward model's checkpoint (.h5, from `train rm`), applied to --model.") var checkpoint: String
    @Option(help: "JSONL records: SFT (system, prompt, output) or preference (system, prompt, chosen, rejected).")
    var data: String
    @OptionGroup var template: TemplateOptions
    @Flag(help: "Print one JSON object per record, in input order.") var json = false

    func run() throws {
        try reportingErrors {
            let url = URL(fileURLWithPath: data)
            let scorer = try loadRewardScorer(model, checkpoint: checkpoint, template: template)
            switch try RecordReader.kind(of: url) {
            case .sft:
                let records = try RecordReader.sft(url).records
                var total = 0.0
                for (index, record) in records.enumerated() {
                    let reward = scorer.reward(record)
                    total += Double(reward)
                    if json { print("{\"index\": \(index), \"reward\": \(reward)}") }
                }
                if !json { print(String(format: "%d records: mean reward %.4f", records.count, total / Double(records.count))) }
            case .preference:
                let records = try RecordReader.preferences(url).records
                var chosenTotal = 0.0, rejectedTotal = 0.0, wins = 0
                for (index, record) in records.enumerated() {
                    let (chosen, rejected) = scorer.rewards(record)
                    chosenTotal += Double(chosen)
                    rejectedTotal += Double(rejected)
                    if chosen > rejected { wins += 1 }
                    if json { print("{\"index\": \(index), \"chosen_reward\": \(chosen), \"rejected_reward\": \(rejected)}") }
                }
                if !json {
                    let n = Double(records.count)
                    print(String(format: "%d pairs: mean reward %.4f (chosen %.4f, rejected %.4f); accuracy %.4f, margin %.4f",
                                 records.count, (chosenTotal + rejectedTotal) / (2 * n), chosenTotal / n, rejectedTotal / n,
                                 Double(wins) / n, (chosenTotal - rejectedTotal) / n))
                }
            }
        }
    }
}

/// `--model` with a reward model's checkpoint applied, ready to score in `template` (by default
/// the one the reward model was trained with).
func loadRewardScorer(_ model: ModelOptions, checkpoint: String, template: TemplateOptions) throws -> RewardScorer {
    let tokenizer = try model.loadTokenizer()
    let mistral = try model.loadModel()
    try mistral.check(tokenizer)
    let trained = try Checkpoint.read(URL(fileURLWithPath: checkpoint))
    try trained.apply(to: mistral)
    return try RewardScorer(
        model: mistral, tokenizer: tokenizer, template: try template.resolve(model, checkpoint: trained), source: checkpoint)
}
