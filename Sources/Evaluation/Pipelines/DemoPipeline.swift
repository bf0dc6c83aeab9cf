import Foundation
import Model
import Tensor
import Tokenizer
import Training

/// What the demo reports as it goes; the caller decides how to show it.
public enum DemoEvent {
    case started(output: URL)
    case data(SynthDataset, instructions: Int)
    case baseModel(MistralConfig)
    /// One stage begins: its name, its recipe file and the checkpoint it continues from.
    case stage(name: String, recipe: String, from: URL?)
    case training(TrainingEvent)
    case stageFinished(TrainingSummary)
    case benchmark(model: String, averages: [String: Double])
    case generationsStarted
    case generation(ReportDocument.Generation)
    case report(URL, seconds: Double)
}

/// The main job out of the box: synthetic data, a tiny Mistral trained from scratch by SFT,
/// then DPO, a reward model from the SFT model choosing the best of several sampled answers of
/// the DPO model, the benchmark scored before and after each stage, and a report.
public struct DemoPipeline {
    public var output: URL
    public var instructions = 300
    public var benchInstructions = 40
    /// Seed of the data and of the initial model.
    public var seed: UInt64 = 0
    /// Recipes whose paths (model, data, output) are redirected into `output`.
    public var sftRecipe = "Recipes/demo-sft.yaml"
    public var dpoRecipe = "Recipes/demo-dpo.yaml"
    public var rmRecipe = "Recipes/demo-rm.yaml"
    /// Answers sampled per benchmark prompt for best-of-n.
    public var bestOf = 4
    /// A folder holding the Mistral tokenizer.model.
    public var tokenizerDirectory = "assets/mistral"
    /// `KEY=VALUE` recipe overrides applied to both stages (the paths stay redirected).
    public var overrides: [String] = []

    public init(output: URL) { self.output = output }

    public func run(events: (DemoEvent) -> Void) throws {
        guard instructions >= 1 else { throw PipelineError("--instructions must be at least 1, found \(instructions)") }
        guard benchInstructions >= 1 else {
            throw PipelineError("--bench-instructions must be at least 1, found \(benchInstructions)")
        }
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: output.path), !contents.isEmpty {
            throw PipelineError("\(output.relativePath) is not empty; the demo never writes over an earlier run (remove it first)")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        func path(_ relative: String) -> String { output.appendingPathComponent(relative).path }
        events(.started(output: output))

        let dataset = Synth.generate(SynthOptions(instructions: instructions, benchInstructions: benchInstructions, seed: seed))
        try Synth.write(dataset, to: output.appendingPathComponent("data"))
        events(.data(dataset, instructions: instructions))

        let base = try Mistral.randomlyInitialized(config: MistralConfig.preset("demo")!, seed: seed)
        try MergedExport.write(base, sourceDirectory: URL(fileURLWithPath: tokenizerDirectory), to: output.appendingPathComponent("model"))
        let tokenizer = try Tokenizer.load(modelDirectory: output.appendingPathComponent("model"))
        let bench = try BenchReader.readSynthetic(output.appendingPathComponent("data/bench.jsonl"))
        func score(_ name: String, _ model: Mistral, bestOf: BestOfN? = nil) throws -> ReportDocument.Benchmark.Row {
            let sampling = bestOf == nil ? SamplingOptions(maxNewTokens: 96) : Self.bestOfSampling
            let results = BenchEvaluator(model: model, tokenizer: tokenizer, sampling: sampling, bestOf: bestOf).evaluate(bench)
            let lines = try results.enumerated().map { try $1.jsonLine(index: $0) }
            let file = "bench-\(name.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: " ", with: "-")).jsonl"
            try (lines.joined(separator: "\n") + "\n").write(toFile: path(file), atomically: true, encoding: .utf8)
            let average = Rubric.average(results.map(\.score))
            events(.benchmark(model: name, averages: average))
            return ReportDocument.Benchmark.Row(model: name, scores: average)
        }
        events(.baseModel(base.config))
        var rows = [try score("untrained", base)]

        let redirect = overrides + ["model.path=\(path("model"))"]
        let sft = try Recipe.load(URL(fileURLWithPath: sftRecipe), overrides: redirect + [
            "data.train=\(path("data/train.jsonl"))", "data.eval=\(path("data/eval.jsonl"))", "output.dir=\(path("sft"))",
        ])
        events(.stage(name: "SFT", recipe: sftRecipe, from: nil))
        let sftRun = try TrainingRun(recipe: sft)
        let sftSummary = try train(sftRun, events)
        rows.append(try score("after SFT", sftRun.model))

        let dpo = try Recipe.load(URL(fileURLWithPath: dpoRecipe), overrides: redirect + [
            "data.train=\(path("data/pairs.jsonl"))", "data.eval=\(path("data/pairs-heldout.jsonl"))", "output.dir=\(path("dpo"))",
        ])
        events(.stage(name: "DPO", recipe: dpoRecipe, from: sftSummary.finalCheckpoint))
        let dpoRun = try TrainingRun(recipe: dpo, from: sftSummary.finalCheckpoint)
        _ = try train(dpoRun, events)
        rows.append(try score("after DPO", dpoRun.model))

        let rm = try Recipe.load(URL(fileURLWithPath: rmRecipe), overrides: redirect + [
            "data.train=\(path("data/pairs.jsonl"))", "data.eval=\(path("data/pairs-heldout.jsonl"))", "output.dir=\(path("rm"))",
        ])
        events(.stage(name: "RM", recipe: rmRecipe, from: sftSummary.finalCheckpoint))
        let rmRun = try TrainingRun(recipe: rm, from: sftSummary.finalCheckpoint)
        _ = try train(rmRun, events)
        let chooser = BestOfN(reward: try RewardScorer(model: rmRun.model, tokenizer: tokenizer, source: rmRecipe), samples: bestOf)
        rows.append(try score("after DPO, best of \(bestOf)", dpoRun.model, bestOf: chooser))

        events(.generationsStarted)
        let sample = bench.filter { $0.prompt == bench[0].prompt }.prefix(2)
        let evaluator = BenchEvaluator(model: dpoRun.model, tokenizer: tokenizer)
        var generations = [ReportDocument.Generation]()
        for (index, record) in sample.enumerated() {
            let response = evaluator.answer(system: record.system, prompt: record.prompt)
            let generation = ReportDocument.Generation(
                title: "System message \(index + 1)", system: record.system, prompt: record.prompt, response: response)
            generations.append(generation)
            events(.generation(generation))
        }

        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let document = ReportDocument(
            title: "Facet demo: a tiny Mistral learns to follow unseen system messages",
            subtitle: "Synthetic Multifaceted Collection (\(dataset.train.count) records), SFT from scratch then DPO; "
                + "\(kernelThreadCount) CPU threads, OpenBLAS \(BLAS.activeCore); \(formatDuration(seconds)) in all",
            stages: [
                .init(name: "SFT", metrics: "sft/metrics.jsonl"), .init(name: "DPO", metrics: "dpo/metrics.jsonl"),
                .init(name: "RM", metrics: "rm/metrics.jsonl"),
            ],
            benchmark: .init(columns: RubricScore.keys, rows: rows),
            generations: generations, ablation: nil,
            notes: [
                "Benchmark: \(bench.count) prompts of unseen instructions under preference combinations never seen in training, answered greedily and scored 1-5 per dimension by the rubric of `train synth`.",
                "Best of \(bestOf): \(bestOf) answers of the DPO model per prompt, sampled as the paper sampled (temperature 1, top-p 0.9, repetition penalty 1.03; 96 new tokens), the one the reward model (trained from the SFT model on the preference pairs) scores highest kept.",
                "Reproduce with `make demo`; the ablation over system messages per instruction with `make ablation`.",
            ])
        events(.report(try document.write(to: output), seconds: seconds))
    }

    /// The paper's sampling with the demo's answer length.
    static let bestOfSampling = SamplingOptions(maxNewTokens: 96, temperature: 1, topP: 0.9, repetitionPenalty: 1.03)

    private func train(_ run: TrainingRun, _ events: (DemoEvent) -> Void) throws -> TrainingSummary {
        let summary = try run.trainer.run { events(.training($0)) }
        events(.stageFinished(summary))
        return summary
    }
}

/// A pipeline's refusal of its inputs, worded for the user.
public struct PipelineError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// `1m05s`, `2h03m`: durations as progress lines and reports show them.
public func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) : String(format: "%dm%02ds", s / 60, s % 60)
}
