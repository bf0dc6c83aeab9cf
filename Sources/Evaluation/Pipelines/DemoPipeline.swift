import Foundation
import Model
import Tensor
import Tokenizer
import Training

/// What the demo reports as it goes; the caller decides how to show it.
public enum DemoEvent {
    case started(output: URL)
    case data(SynthDataset, instructions: Int)
    /// The model the stages start from: a pretrained model's path, or nil for the random one.
    case baseModel(MistralConfig, path: String?)
    /// One stage begins: its name, its recipe file and the checkpoint it continues from.
    case stage(name: String, recipe: String, from: URL?)
    case training(TrainingEvent)
    case stageFinished(TrainingSummary)
    case benchmark(model: String, averages: [String: Double])
    case generationsStarted
    case generation(ReportDocument.Generation)
    case report(URL, seconds: Double)
}

/// The main job out of the box: synthetic data, a pretrained instruct model (SmolLM2-135M from
/// its GGUF file) fine-tuned with LoRA by SFT, then DPO, a reward model from the SFT model
/// choosing the best of several sampled answers of the DPO model, the benchmark scored before
/// and after each stage, and a report. `fromScratch` trains a tiny random Mistral instead.
public struct DemoPipeline {
    /// The pretrained model the demo fine-tunes by default (`make deps` downloads it).
    public static let pretrainedModel = "assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    public var output: URL
    /// Train the tiny random Mistral of preset `demo` from scratch instead of fine-tuning `model`.
    public var fromScratch = false
    /// A GGUF file or HF folder to fine-tune; the recipes' `model.path` is redirected to it.
    public var model = DemoPipeline.pretrainedModel
    /// Training and benchmark instructions; nil takes the mode's default.
    public var instructions: Int?
    public var benchInstructions: Int?
    /// Seed of the data (and of the initial model from scratch).
    public var seed: UInt64 = 0
    /// Recipes whose paths (model, data, output) are redirected into `output`; nil takes the
    /// mode's: `Recipes/demo-*.yaml`, or `Recipes/scratch-*.yaml` from scratch.
    public var sftRecipe: String?
    public var dpoRecipe: String?
    public var rmRecipe: String?
    /// Answers sampled per benchmark prompt for best-of-n.
    public var bestOf = 4
    /// A folder holding the Mistral tokenizer.model (from scratch only).
    public var tokenizerDirectory = "assets/mistral"
    /// `KEY=VALUE` recipe overrides applied to every stage (the paths stay redirected).
    public var overrides: [String] = []

    public init(output: URL) { self.output = output }

    public var trainInstructions: Int { instructions ?? (fromScratch ? 300 : 150) }
    public var benchmarkInstructions: Int { benchInstructions ?? (fromScratch ? 40 : 20) }

    /// The recipe of stage `name` (sft, dpo or rm): the given one, else the mode's.
    public func recipe(_ name: String) -> String {
        let given = name == "sft" ? sftRecipe : name == "dpo" ? dpoRecipe : rmRecipe
        return given ?? "Recipes/\(fromScratch ? "scratch" : "demo")-\(name).yaml"
    }

    public func run(events: (DemoEvent) -> Void) throws {
        let instructions = trainInstructions, benchInstructions = benchmarkInstructions
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

        let modelPath = fromScratch ? path("model") : model
        let redirect = overrides + ["model.path=\(modelPath)"]
        func load(_ stage: String, data: String, eval: String) throws -> Recipe {
            try Recipe.load(URL(fileURLWithPath: recipe(stage)), overrides: redirect + [
                "data.train=\(path("data/\(data)"))", "data.eval=\(path("data/\(eval)"))", "output.dir=\(path(stage))",
            ])
        }
        let sft = try load("sft", data: "train.jsonl", eval: "eval.jsonl")
        let dpo = try load("dpo", data: "pairs.jsonl", eval: "pairs-heldout.jsonl")
        let rm = try load("rm", data: "pairs.jsonl", eval: "pairs-heldout.jsonl")

        if fromScratch {
            let random = try Mistral.randomlyInitialized(config: MistralConfig.preset("demo")!, seed: seed)
            try MergedExport.write(random, sourceDirectory: URL(fileURLWithPath: tokenizerDirectory), to: URL(fileURLWithPath: modelPath))
        }
        let source = try ModelSource(path: modelPath)
        let base = try TrainingRun.loadBase(sft, source: source)
        let tokenizer = try source.tokenizer()
        let template = sft.data.template
        let bench = try BenchReader.readSynthetic(output.appendingPathComponent("data/bench.jsonl"))
        // The showcase: the first benchmark instruction (fixed by the seed with the data) under
        // two of its system messages, answered by every model the benchmark scores.
        let showcase = Array(bench.indices.filter { bench[$0].prompt == bench[0].prompt }.prefix(2))
        var showcaseAnswers = [(model: String, responses: [String])]()
        var familyScores = [(model: String, scores: [String: Double])]()
        func score(_ name: String, _ model: Mistral, bestOf: BestOfN? = nil) throws -> ReportDocument.Benchmark.Row {
            let sampling = bestOf == nil ? SamplingOptions(maxNewTokens: 96) : Self.bestOfSampling
            let results = BenchEvaluator(model: model, tokenizer: tokenizer, template: template, sampling: sampling, bestOf: bestOf)
                .evaluate(bench)
            let lines = try results.enumerated().map { try $1.jsonLine(index: $0) }
            let file = "bench-\(name.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: " ", with: "-")).jsonl"
            try (lines.joined(separator: "\n") + "\n").write(toFile: path(file), atomically: true, encoding: .utf8)
            let average = Rubric.average(results.map(\.score))
            events(.benchmark(model: name, averages: average))
            if bestOf == nil { showcaseAnswers.append((name, showcase.map { results[$0].response })) }
            familyScores.append((name, Self.correctnessByFamily(bench, results)))
            return ReportDocument.Benchmark.Row(model: name, scores: average)
        }
        events(.baseModel(base.config, path: fromScratch ? nil : modelPath))
        var rows = [try score("untrained", base)]

        events(.stage(name: "SFT", recipe: recipe("sft"), from: nil))
        let sftRun = try TrainingRun(recipe: sft)
        let sftSummary = try train(sftRun, events)
        rows.append(try score("after SFT", sftRun.model))

        events(.stage(name: "DPO", recipe: recipe("dpo"), from: sftSummary.finalCheckpoint))
        let dpoRun = try TrainingRun(recipe: dpo, from: sftSummary.finalCheckpoint)
        _ = try train(dpoRun, events)
        rows.append(try score("after DPO", dpoRun.model))

        events(.stage(name: "RM", recipe: recipe("rm"), from: sftSummary.finalCheckpoint))
        let rmRun = try TrainingRun(recipe: rm, from: sftSummary.finalCheckpoint)
        _ = try train(rmRun, events)
        let scorer = try RewardScorer(model: rmRun.model, tokenizer: tokenizer, template: template, source: recipe("rm"))
        rows.append(try score("after DPO, best of \(bestOf)", dpoRun.model, bestOf: BestOfN(reward: scorer, samples: bestOf)))

        events(.generationsStarted)
        var generations = [ReportDocument.Generation]()
        for (number, index) in showcase.enumerated() {
            for (model, responses) in showcaseAnswers {
                let generation = ReportDocument.Generation(
                    title: "System message \(number + 1), \(model)", system: bench[index].system, prompt: bench[index].prompt,
                    response: responses[number])
                generations.append(generation)
                events(.generation(generation))
            }
        }

        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let what = fromScratch
            ? "a tiny random Mistral trained from scratch (full fine-tuning)"
            : "\(URL(fileURLWithPath: modelPath).lastPathComponent) fine-tuned with LoRA"
        let document = ReportDocument(
            title: fromScratch
                ? "Facet demo: a tiny Mistral learns to follow unseen system messages"
                : "Facet demo: a pretrained model learns to follow unseen system messages",
            subtitle: "Synthetic Multifaceted Collection (\(dataset.train.count) records), \(what): SFT then DPO; "
                + "\(kernelThreadCount) CPU threads, OpenBLAS \(BLAS.activeCore); \(formatDuration(seconds)) in all",
            stages: [
                .init(name: "SFT", metrics: "sft/metrics.jsonl"), .init(name: "DPO", metrics: "dpo/metrics.jsonl"),
                .init(name: "RM", metrics: "rm/metrics.jsonl"),
            ],
            benchmark: .init(columns: RubricScore.keys, rows: rows),
            families: Self.familiesTable(familyScores),
            generations: generations, ablation: nil,
            notes: [
                "Benchmark: \(bench.count) prompts of unseen instructions under preference combinations never seen in training, answered greedily in the `\(template.rawValue)` template and scored 1-5 per dimension by the rubric of `train synth`. Knowledge questions ask facts that training taught under other system messages and phrasings; algorithmic tasks get new inputs.",
                "Best of \(bestOf): \(bestOf) answers of the DPO model per prompt, sampled as the paper sampled (temperature 1, top-p 0.9, repetition penalty 1.03; 96 new tokens), the one the reward model (trained from the SFT model on the preference pairs) scores highest kept.",
                "Showcase: the first benchmark instruction (fixed by the seed before training) under two of its system messages, answered by each model.",
                "Reproduce with `make demo`; the ablation over system messages per instruction with `make ablation`.",
            ])
        events(.report(try document.write(to: output), seconds: seconds))
    }

    /// The paper's sampling with the demo's answer length.
    static let bestOfSampling = SamplingOptions(maxNewTokens: 96, temperature: 1, topP: 0.9, repetitionPenalty: 1.03)

    /// Mean correctness per task family, keyed by the family named in the record's source.
    static func correctnessByFamily(_ bench: [BenchRecord], _ results: [BenchResponse]) -> [String: Double] {
        var sums = [String: (total: Double, count: Int)]()
        for (record, result) in zip(bench, results) {
            let family = String(record.source.split(separator: "/").last ?? "")
            sums[family, default: (0, 0)].total += Double(result.score.correctness)
            sums[family, default: (0, 0)].count += 1
        }
        return sums.mapValues { $0.total / Double($0.count) }
    }

    /// One row per family (in `SynthFamily` order, named with its kind), one column per model.
    static func familiesTable(_ scores: [(model: String, scores: [String: Double])]) -> ReportDocument.Benchmark {
        let rows = SynthFamily.allCases.compactMap { family -> ReportDocument.Benchmark.Row? in
            let values = Dictionary(uniqueKeysWithValues: scores.compactMap { model, scores in scores[family.rawValue].map { (model, $0) } })
            guard !values.isEmpty else { return nil }
            return .init(model: "\(family.rawValue) (\(family.needsKnowledge ? "knowledge" : "algorithmic"))", scores: values)
        }
        return .init(columns: scores.map(\.model), rows: rows)
    }

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
