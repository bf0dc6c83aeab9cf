import ArgumentParser
import Evaluation
import Foundation
import Model
import Tensor

/// The main job out of the box: synthetic data, SmolLM2-135M-Instruct (GGUF) fine-tuned with
/// LoRA by SFT, then DPO and a reward model, the benchmark scored before and after each stage,
/// and a report; `--from-scratch` trains a tiny random Mistral instead.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole JANUS pipeline at toy scale on CPU and write a report (make demo).")

    @Option(help: "Output folder (must not exist yet).") var out = "demo"
    @Option(help: "The pretrained model to fine-tune: a GGUF file or an HF folder.") var model = DemoPipeline.pretrainedModel
    @Flag(help: "Train a tiny random Mistral from scratch instead (fast; Recipes/scratch-*.yaml).") var fromScratch = false
    @Option(help: "Training instructions to synthesize, 3 system messages each (default: 150, from scratch 300).")
    var instructions: Int?
    @Option(help: "Benchmark instructions, unseen, with unseen preference combinations (default: 20, from scratch 40).")
    var benchInstructions: Int?
    @Option(help: "Seed of the data (and of the model from scratch).") var seed: UInt64 = 0
    @Option(help: "SFT recipe (default: Recipes/demo-sft.yaml, from scratch Recipes/scratch-sft.yaml); its paths are redirected into --out.")
    var sftRecipe: String?
    @Option(help: "DPO recipe (default: Recipes/demo-dpo.yaml or scratch-dpo.yaml); its paths are redirected into --out.")
    var dpoRecipe: String?
    @Option(help: "Reward model recipe (default: Recipes/demo-rm.yaml or scratch-rm.yaml); its paths are redirected into --out.")
    var rmRecipe: String?
    @Option(help: "Folder holding the Mistral tokenizer.model (from scratch).") var tokenizer = "assets/mistral"
    @Option(name: .customLong("set"), help: "Override a key of every recipe, e.g. --set train.epochs=1 (repeatable).")
    var overrides: [String] = []

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            var pipeline = DemoPipeline(output: URL(fileURLWithPath: out))
            pipeline.fromScratch = fromScratch
            pipeline.model = model
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
                case .baseModel(let config, let path):
                    let name = path.map { "\($0) (\(config.modelType))" } ?? "random demo Mistral"
                    print("2/7 \(name), hidden \(config.hiddenSize), \(config.numHiddenLayers) layers, scored untrained:")
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
                    print("6/7 one unseen prompt under two different system messages:")
                case .generation(let generation):
                    print("   \(generation.title)\n   [system] \(generation.system ?? "")\n   [prompt] \(generation.prompt)\n   [answer] \(generation.response.replacingOccurrences(of: "\n", with: "\n            "))")
                case .report(let url, let seconds):
                    print("7/7 report: \(url.path) (\(formatDuration(seconds)))")
                }
            }
        }
    }
}
