import ArgumentParser
import Evaluation
import Foundation
import Tensor

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
            let pipeline = AblationPipeline(
                recipe: URL(fileURLWithPath: recipe), systemMessages: values.compactMap { $0 }, overrides: overrides,
                bench: bench.map { URL(fileURLWithPath: $0) })
            let base = try pipeline.baseRecipe()
            var progress = ProgressDisplay()
            let rows = try pipeline.run { event in
                switch event {
                case .run(let k, let plan, let output):
                    print("K = \(k): \(plan.examples) records of \(plan.instructions) instructions, \(plan.tokens) tokens, \(plan.optimizerSteps) steps -> \(output)")
                    progress = ProgressDisplay()
                case .training(let trainingEvent):
                    progress.show(trainingEvent)
                case .runFinished(let row):
                    progress.finish()
                    print(String(format: "K = %d: held-out NLL %.4f, rubric %.2f", row.k, row.heldoutNLL ?? .nan, row.rubric ?? .nan))
                }
            }
            print("\n  K   records    tokens   held-out NLL   rubric (1-5)")
            for row in rows {
                print(String(format: "%3d %9d %9d %14.4f %14.2f", row.k, row.records ?? 0, row.tokens ?? 0, row.heldoutNLL ?? .nan, row.rubric ?? .nan))
            }
            let folder = URL(fileURLWithPath: report ?? URL(fileURLWithPath: base.output.dir).deletingLastPathComponent().path)
            if let page = try AblationPipeline.addToReport(rows, folder: folder) { print("report: \(page.path)") }
        }
    }
}
