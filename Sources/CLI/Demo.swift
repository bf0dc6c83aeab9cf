import ArgumentParser
import Evaluation
import Foundation
import Model
import Tensor

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
    @Option(help: "Reward model recipe; its paths are redirected into --out.") var rmRecipe = "Recipes/demo-rm.yaml"
    @Option(help: "Folder holding the Mistral tokenizer.model.") var tokenizer = "assets/mistral"
    @Option(name: .customLong("set"), help: "Override a key of every recipe, e.g. --set train.epochs=1 (repeatable).")
    var overrides: [String] = []

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            var pipeline = DemoPipeline(output: URL(fileURLWithPath: out))
            pipeline.instructions = instructions
            pipeline.benchInstructions = benchInstructions
            pipeline.seed = seed
            pipeline.sftRecipe = sftRecipe
            pipeline.dpoRecipe = dpoRecipe
            pipeline.rmRecipe = rmRecipe
            pipeline.tokenizerDirectory = tokenizer
            pipeline.overrides = overrides
            var progress = ProgressDisplay()
            var stageNumber = 3
            try pipeline.run { event in
                switch event {
                case .started:
                    print("facet demo: openblas core \(BLAS.activeCore), \(kernelThreadCount) threads, output \(out)/")
                case .data(let dataset, let instructions):
                    print("1/7 data: \(dataset.train.count) SFT records (\(instructions) instructions x 3 system messages), "
                          + "\(dataset.pairs.count) preference pairs, \(dataset.bench.count) benchmark prompts with unseen instructions and preference combinations")
                case .baseModel(let config):
                    print("2/7 random demo Mistral (hidden \(config.hiddenSize), \(config.numHiddenLayers) layers), scored untrained:")
                case .benchmark(let model, let average):
                    print("   benchmark (\(model)): " + RubricScore.keys.map { String(format: "%@ %.2f", $0, average[$0] ?? 0) }.joined(separator: ", "))
                case .stage(let name, let recipe, let from):
                    print("\(stageNumber)/7 \(name) (\(recipe))" + (from.map { " from \($0.path)" } ?? "") + ":")
                    stageNumber += 1
                    progress = ProgressDisplay()
                case .training(let trainingEvent):
                    progress.show(trainingEvent)
                case .stageFinished:
                    progress.finish()
                case .generationsStarted:
                    print("6/7 one unseen prompt under two different system messages (after DPO):")
                case .generation(let generation):
                    print("   [system] \(generation.system ?? "")\n   [prompt] \(generation.prompt)\n   [answer] \(generation.response.replacingOccurrences(of: "\n", with: "\n            "))")
                case .report(let url, let seconds):
                    print("7/7 report: \(url.path) (\(formatDuration(seconds)))")
                }
            }
        }
    }
}
