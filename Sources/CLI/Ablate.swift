import ArgumentParser
import Foundation
import Tensor
import Train

/// The paper's ablation: the same SFT once per number of system messages kept per
/// instruction, each scored on the held-out split.
struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one SFT per K system messages per instruction and compare them on held-out data.")

    @Argument(help: "The SFT recipe; data.eval is the held-out split for the NLL.") var recipe: String
    @Option(help: "Values of K, comma-separated.") var systemMessages = "1,2,3"
    @Option(help: "Benchmark file answered and scored with the rubric (default: bench.jsonl beside data.eval).")
    var bench: String?
    @Option(name: .customLong("set"), help: "Override a recipe key (repeatable).") var overrides: [String] = []
    @Option(help: "A folder with report.json to add the table to (default: the parent of output.dir, if it has one).")
    var report: String?

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            let values = systemMessages.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--system-messages must list positive integers, found '\(systemMessages)'")
            }
            let base = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides)
            guard base.stage == .sft else { throw ValidationError("\(recipe): ablate runs SFT recipes, this one is \(base.stage.rawValue)") }
            guard let eval = base.data.eval else { throw ValidationError("\(recipe): data.eval (the held-out split) is required") }
            let benchURL = bench.map { URL(fileURLWithPath: $0) }
                ?? URL(fileURLWithPath: eval).deletingLastPathComponent().appendingPathComponent("bench.jsonl")
            let benchRecords = try BenchReader.read(benchURL)
            var rows = [ReportDocument.Ablation.Row]()
            for k in values.compactMap({ $0 }) {
                let output = base.output.dir + "-k\(k)"
                let variant = try Recipe.load(URL(fileURLWithPath: recipe), overrides: overrides + [
                    "data.system_messages_per_instruction=\(k)", "output.dir=\(output)", "train.eval_every_steps=null",
                ])
                let run = try TrainingRun(recipe: variant)
                print("K = \(k): \(run.plan.examples) records of \(run.plan.instructions) instructions, \(run.plan.tokens) tokens, \(run.plan.optimizerSteps) steps -> \(output)")
                let progress = ProgressDisplay()
                _ = try run.trainer.run { progress.show($0) }
                progress.finish()
                let nll = run.trainer.objective.evaluate()?["eval_loss"] ?? .nan
                let results = run.model.evaluate(bench: benchRecords, tokenizer: run.tokenizer)
                let rubric = Rubric.average(results.map(\.score))["mean"] ?? .nan
                print(String(format: "K = %d: held-out NLL %.4f, rubric %.2f", k, nll, rubric))
                rows.append(.init(k: k, records: run.plan.examples, tokens: run.plan.tokens, heldoutNLL: nll, rubric: rubric))
            }
            print("\n  K   records    tokens   held-out NLL   rubric (1-5)")
            for row in rows {
                print(String(format: "%3d %9d %9d %14.4f %14.2f", row.k, row.records ?? 0, row.tokens ?? 0, row.heldoutNLL ?? .nan, row.rubric ?? .nan))
            }
            let folder = URL(fileURLWithPath: report ?? URL(fileURLWithPath: base.output.dir).deletingLastPathComponent().path)
            let reportJSON = folder.appendingPathComponent("report.json")
            if FileManager.default.fileExists(atPath: reportJSON.path) {
                var document = try ReportDocument.load(reportJSON)
                document.ablation = .init(rows: rows)
                print("report: \(try writeReport(document, folder: folder).path)")
            }
        }
    }
}
