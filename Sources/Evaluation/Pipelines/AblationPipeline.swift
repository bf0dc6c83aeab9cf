import Foundation
import Training

/// What the ablation reports as it goes.
public enum AblationEvent {
    /// One run begins: K, its plan and its output folder.
    case run(k: Int, plan: TrainingPlan, output: String)
    case training(TrainingEvent)
    case runFinished(ReportDocument.Ablation.Row)
}

/// The paper's ablation: the same SFT once per number of system messages kept per
/// instruction, each scored on the held-out split (NLL) and the benchmark (rubric).
public struct AblationPipeline {
    public var recipe: URL
    public var systemMessages: [Int]
    public var overrides: [String]
    /// The benchmark answered and scored by the rubric (default: bench.jsonl beside data.eval).
    public var bench: URL?

    public init(recipe: URL, systemMessages: [Int], overrides: [String] = [], bench: URL? = nil) {
        self.recipe = recipe
        self.systemMessages = systemMessages
        self.overrides = overrides
        self.bench = bench
    }

    /// The recipe as given, checked: an SFT recipe with a held-out split.
    public func baseRecipe() throws -> Recipe {
        guard !systemMessages.isEmpty, systemMessages.allSatisfy({ $0 >= 1 }) else {
            throw PipelineError("--system-messages must list positive integers")
        }
        let base = try Recipe.load(recipe, overrides: overrides)
        guard base.stage == .sft else { throw PipelineError("\(recipe.relativePath): ablate runs SFT recipes, this one is \(base.stage.rawValue)") }
        guard base.data.eval != nil else { throw PipelineError("\(recipe.relativePath): data.eval (the held-out split) is required") }
        return base
    }

    public func run(events: (AblationEvent) -> Void) throws -> [ReportDocument.Ablation.Row] {
        let base = try baseRecipe()
        let benchURL = bench
            ?? URL(fileURLWithPath: base.data.eval!).deletingLastPathComponent().appendingPathComponent("bench.jsonl")
        let benchRecords = try BenchReader.readSynthetic(benchURL)
        var rows = [ReportDocument.Ablation.Row]()
        for k in systemMessages {
            let output = base.output.dir + "-k\(k)"
            let variant = try Recipe.load(recipe, overrides: overrides + [
                "data.system_messages_per_instruction=\(k)", "output.dir=\(output)", "train.eval_every_steps=null",
            ])
            let run = try TrainingRun(recipe: variant)
            events(.run(k: k, plan: run.plan, output: output))
            _ = try run.trainer.run { events(.training($0)) }
            let nll = run.trainer.objective.evaluate()?["eval_loss"] ?? .nan
            let results = BenchEvaluator(model: run.model, tokenizer: run.tokenizer, template: variant.data.template).evaluate(benchRecords)
            let rubric = Rubric.average(results.map(\.score))["mean"] ?? .nan
            let row = ReportDocument.Ablation.Row(k: k, records: run.plan.examples, tokens: run.plan.tokens, heldoutNLL: nll, rubric: rubric)
            events(.runFinished(row))
            rows.append(row)
        }
        return rows
    }

    /// Adds the ablation table to the report in `folder`, if there is one; returns the page.
    public static func addToReport(_ rows: [ReportDocument.Ablation.Row], folder: URL) throws -> URL? {
        let reportJSON = folder.appendingPathComponent("report.json")
        guard FileManager.default.fileExists(atPath: reportJSON.path) else { return nil }
        var document = try ReportDocument.load(reportJSON)
        document.ablation = .init(rows: rows)
        return try document.write(to: folder)
    }
}
