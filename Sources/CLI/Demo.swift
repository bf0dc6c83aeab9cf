import ArgumentParser
import Foundation
import Tensor
import Train

/// The main job out of the box: synthetic data, a tiny Mistral trained from scratch by SFT,
/// then DPO, the benchmark scored before and after each stage, and a report.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole JANUS pipeline at toy scale on CPU and write a report (make demo).")

    @Option(help: "Output folder (must not exist yet).") var out = "demo"
    @Option(help: "Training instructions to synthesize (3 system messages each).") var instructions = 300
    @Option(help: "Benchmark instructions (unseen, with unseen preference combinations).") var benchInstructions = 40
    @Option(help: "Seed of the data and the initial model.") var seed: UInt64 = 0
    @Option(help: "SFT recipe; its paths are redirected into --out.") var sftRecipe = "Recipes/demo-sft.yaml"
    @Option(help: "DPO recipe; its paths are redirected into --out.") var dpoRecipe = "Recipes/demo-dpo.yaml"
    @Option(help: "Folder holding the Mistral tokenizer.model.") var tokenizer = "assets/mistral"

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            let folder = URL(fileURLWithPath: out)
            if let contents = try? FileManager.default.contentsOfDirectory(atPath: folder.path), !contents.isEmpty {
                throw ValidationError("\(out) is not empty; the demo never writes over an earlier run (remove it first)")
            }
            let started = DispatchTime.now().uptimeNanoseconds
            func path(_ relative: String) -> String { folder.appendingPathComponent(relative).path }
            print("facet demo: openblas core \(BLAS.activeCore), \(kernelThreadCount) threads, output \(out)/")

            let dataset = Synth.generate(SynthOptions(instructions: instructions, benchInstructions: benchInstructions, seed: seed))
            try Synth.write(dataset, to: folder.appendingPathComponent("data"))
            print("1/6 data: \(dataset.train.count) SFT records (\(instructions) instructions x 3 system messages), "
                  + "\(dataset.pairs.count) preference pairs, \(dataset.bench.count) benchmark prompts with unseen instructions and preference combinations")

            let base = try Mistral.randomlyInitialized(config: MistralConfig.preset("demo")!, seed: seed)
            try MergedExport.write(base, sourceDirectory: URL(fileURLWithPath: tokenizer), to: folder.appendingPathComponent("model"))
            let tokenizerModel = try Tokenizer.load(modelDirectory: folder.appendingPathComponent("model"))
            let bench = try BenchReader.read(folder.appendingPathComponent("data/bench.jsonl"))
            func score(_ name: String, _ model: Mistral) throws -> ReportDocument.Benchmark.Row {
                let results = model.evaluate(bench: bench, tokenizer: tokenizerModel)
                let lines = try results.enumerated().map { try benchLine($0, $1) }
                let file = "bench-\(name.replacingOccurrences(of: " ", with: "-")).jsonl"
                try (lines.joined(separator: "\n") + "\n").write(toFile: path(file), atomically: true, encoding: .utf8)
                let average = Rubric.average(results.map(\.score))
                print("   benchmark (\(name)): " + RubricScore.keys.map { String(format: "%@ %.2f", $0, average[$0] ?? 0) }.joined(separator: ", "))
                return ReportDocument.Benchmark.Row(model: name, scores: average)
            }
            print("2/6 random demo Mistral (hidden \(base.config.hiddenSize), \(base.config.numHiddenLayers) layers), scored untrained:")
            var rows = [try score("untrained", base)]

            let redirect = ["model.path=\(path("model"))"]
            let sft = try Recipe.load(URL(fileURLWithPath: sftRecipe), overrides: redirect + [
                "data.train=\(path("data/train.jsonl"))", "data.eval=\(path("data/eval.jsonl"))", "output.dir=\(path("sft"))",
            ])
            print("3/6 SFT (\(sftRecipe)):")
            let sftRun = try TrainingRun(recipe: sft)
            let sftSummary = try train(sftRun)
            rows.append(try score("after SFT", sftRun.model))

            let dpo = try Recipe.load(URL(fileURLWithPath: dpoRecipe), overrides: redirect + [
                "data.train=\(path("data/pairs.jsonl"))", "data.eval=\(path("data/pairs-heldout.jsonl"))", "output.dir=\(path("dpo"))",
            ])
            print("4/6 DPO (\(dpoRecipe)) from \(sftSummary.finalCheckpoint.path):")
            let dpoRun = try TrainingRun(recipe: dpo, from: sftSummary.finalCheckpoint)
            _ = try train(dpoRun)
            for linear in dpoRun.model.linears { linear.adapter?.a.requiresGrad = false }
            rows.append(try score("after DPO", dpoRun.model))

            print("5/6 one unseen prompt under two different system messages (after DPO):")
            let sample = bench.filter { $0.prompt == bench[0].prompt }.prefix(2)
            var generations = [ReportDocument.Generation]()
            for (index, record) in sample.enumerated() {
                let response = dpoRun.model.answer(system: record.system, prompt: record.prompt, tokenizer: tokenizerModel, maxNewTokens: 96)
                generations.append(.init(title: "System message \(index + 1)", system: record.system, prompt: record.prompt, response: response))
                print("   [system] \(record.system)\n   [prompt] \(record.prompt)\n   [answer] \(response.replacingOccurrences(of: "\n", with: "\n            "))")
            }

            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let document = ReportDocument(
                title: "Facet demo: a tiny Mistral learns to follow unseen system messages",
                subtitle: "Synthetic Multifaceted Collection (\(dataset.train.count) records), SFT from scratch then DPO; "
                    + "\(kernelThreadCount) CPU threads, OpenBLAS \(BLAS.activeCore); \(formatDuration(seconds)) in all",
                stages: [.init(name: "SFT", metrics: "sft/metrics.jsonl"), .init(name: "DPO", metrics: "dpo/metrics.jsonl")],
                benchmark: .init(columns: RubricScore.keys, rows: rows),
                generations: generations, ablation: nil,
                notes: [
                    "Benchmark: \(bench.count) prompts of unseen instructions under preference combinations never seen in training, answered greedily and scored 1-5 per dimension by the rubric of `train synth`.",
                    "Reproduce with `make demo`; the ablation over system messages per instruction with `make ablation`.",
                ])
            let reportURL = try writeReport(document, folder: folder)
            print("6/6 report: \(reportURL.path) (\(formatDuration(seconds)))")
        }
    }

    private func train(_ run: TrainingRun) throws -> TrainingSummary {
        let progress = ProgressDisplay()
        let summary = try run.trainer.run { progress.show($0) }
        progress.finish()
        return summary
    }
}

/// Writes `report.json` and renders `report.html` beside it.
func writeReport(_ document: ReportDocument, folder: URL) throws -> URL {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try encoder.encode(document).write(to: folder.appendingPathComponent("report.json"), options: .atomic)
    return try HTMLReport.write(folder: folder)
}
