import ArgumentParser
import Evaluation
import Foundation
import Tensor
import Training

/// Options shared by `train sft | dpo | orpo | rm`.
struct StageOptions: ParsableArguments {
    @Argument(help: "The recipe (YAML).") var recipe: String
    @Option(name: .customLong("set"), help: "Override a recipe key, e.g. --set train.learning_rate=1e-4 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Continue this stage exactly from a checkpoint of it; `latest`: the newest step checkpoint of output.dir.")
    var resume: String?
    @Flag(help: "Validate the recipe and the data, print the plan, and exit without training.") var dryRun = false
    @Option(help: "Compute threads of this process (default: the machine's cores divided by the ranks of an MPI job on it).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func loadRecipe(stage: Recipe.Stage) throws -> Recipe {
        let recipe = try Recipe.load(URL(fileURLWithPath: self.recipe), overrides: overrides)
        guard recipe.stage == stage else {
            throw ValidationError("\(self.recipe): the recipe is for stage '\(recipe.stage.rawValue)', not '\(stage.rawValue)'")
        }
        return recipe
    }
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft", abstract: "Supervised fine-tuning on Multifaceted Collection records.")

    @OptionGroup var options: StageOptions

    func run() throws {
        try reportingErrors { try runStage(.sft, options, from: nil) }
    }
}

struct DPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo", abstract: "Direct preference optimization on preference pairs (JANUS+DPO).")

    @OptionGroup var options: StageOptions
    @Option(help: "Start from this SFT checkpoint: its adapter stays on as a frozen adapter, and that model is the reference.")
    var from: String?

    func run() throws {
        try reportingErrors { try runStage(.dpo, options, from: from) }
    }
}

struct ORPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orpo", abstract: "Odds-ratio preference optimization on preference pairs (JANUS+ORPO).")

    @OptionGroup var options: StageOptions
    @Option(help: "Start from this checkpoint instead of the base model.") var from: String?

    func run() throws {
        try reportingErrors { try runStage(.orpo, options, from: from) }
    }
}

struct RM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Train a reward model (a scalar head, Bradley-Terry loss) on preference pairs.")

    @OptionGroup var options: StageOptions
    @Option(help: "Start from this checkpoint (an SFT model, as Janus-RM) instead of the base model.") var from: String?

    func run() throws {
        try reportingErrors { try runStage(.rm, options, from: from) }
    }
}

/// One stage in this process; under `mpirun` every rank runs this, and rank 0 alone prints.
func runStage(_ stage: Recipe.Stage, _ options: StageOptions, from: String?) throws {
    let parallelism = try Parallelism.start(threads: options.threads)
    try parallelism.run { try runStage(stage, options, from: from, parallelism: parallelism) }
}

private func runStage(_ stage: Recipe.Stage, _ options: StageOptions, from: String?, parallelism: Parallelism) throws {
    let recipe = try options.loadRecipe(stage: stage)
    let resume = try options.resume.map { path in
        path == "latest" ? try Checkpoint.latest(in: URL(fileURLWithPath: recipe.output.dir)) : URL(fileURLWithPath: path)
    }
    let run = try TrainingRun(
        recipe: recipe, from: from.map { URL(fileURLWithPath: $0) }, resume: resume, communicator: parallelism.communicator)
    let isMain = parallelism.communicator.isMain
    if isMain { printHeader(run, parallelism: parallelism) }
    if options.dryRun { return }
    let progress = ProgressDisplay()
    let interruption = Interruption(stopping: run.trainer.stopRequest, announces: isMain)
    let summary = try run.trainer.run { event in progress.show(event) }
    progress.finish()
    guard isMain else {
        if summary.interrupted, let signalNumber = interruption.signalNumber { throw ExitCode(Interruption.exitStatus(signalNumber)) }
        return
    }
    if summary.interrupted, let signalNumber = interruption.signalNumber {
        let size = parallelism.communicator.size
        let launcher = size > 1 ? ["mpirun", "-np", "\(size)"] : []
        let resume = launcher + ["train", stage.rawValue, options.recipe, "--resume", summary.finalCheckpoint.path]
            + options.overrides.flatMap { ["--set", $0] }
        print("interrupted by \(Interruption.name(signalNumber)) after step \(summary.steps)/\(run.trainer.steps.totalSteps); "
              + "saved \(summary.finalCheckpoint.path)")
        print("resume with: " + resume.map(shellQuoted).joined(separator: " "))
        throw ExitCode(Interruption.exitStatus(signalNumber))
    }
    print(String(format: "done: %d steps in %@, final loss %.4f, checkpoint %@",
                 summary.steps, formatDuration(summary.seconds), summary.finalLoss ?? .nan, summary.finalCheckpoint.path))
}

/// `word` as one shell word: unchanged when it is plain, else in single quotes.
private func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@".contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

private func printHeader(_ run: TrainingRun, parallelism: Parallelism) {
    let p = run.plan
    let recipe = run.recipe
    print("facet \(p.stage.rawValue): model \(recipe.model.path) (\(recipe.model.dtype.rawValue) weights, multiplied in \(p.computeDType.rawValue)), "
          + "openblas core \(BLAS.activeCore), \(parallelism.description)")
    if let from = run.trainer.checkpointContext.startedFrom { print("starting from \(from)") }
    print("data: \(p.records) records, \(p.instructions) instructions (records grouped by prompt; \(p.sharedPrompts) prompt strings had more than 3 records), "
          + "\(p.systemMessagesPerInstruction) system messages per instruction -> \(p.examples) \(p.stage == .sft ? "examples" : "pairs")"
          + (p.invalidRecords > 0 ? ", \(p.invalidRecords) invalid records skipped" : "")
          + (p.truncated > 0 ? ", \(p.truncated) truncated" : "") + (p.dropped > 0 ? ", \(p.dropped) dropped (too long)" : ""))
    print("tokens: \(p.tokens) (\(p.scoredTokens) scored) per epoch, max_seq_len \(recipe.data.maxSeqLen)" + (recipe.data.packing ? ", packed" : ""))
    let lora = recipe.lora.map { "LoRA r=\($0.r) alpha=\($0.alpha) on \($0.targetModules.joined(separator: ","))" } ?? "full fine-tuning"
    print("training: \(lora); \(p.trainableParameters) trainable parameters; \(p.optimizerSteps) optimizer steps "
          + "(\(p.stepsPerEpoch.count) epochs x \(p.stepsPerEpoch.first ?? 0), micro-batch \(recipe.train.microBatchSize) x \(recipe.train.gradientAccumulationSteps) accumulation"
          + (parallelism.communicator.size > 1 ? " x \(parallelism.communicator.size) ranks)" : ")") + ", "
          + "\(recipe.train.lrScheduler.rawValue) lr \(recipe.train.learningRate), \(p.warmupSteps) warmup steps")
    let recompute = p.recomputesActivations ? "on" : "off"
    print(String(format: "estimated memory: %.2f GiB (activation recomputation %@%@); output: %@", Double(p.estimatedMemoryBytes) / 1_073_741_824,
                 recompute, recipe.train.activationCheckpointing == nil ? ", auto" : "", recipe.output.dir))
}

/// One updating line on a terminal, plain log lines otherwise.
final class ProgressDisplay {
    private let isTerminal = isatty(STDOUT_FILENO) != 0
    private let started = DispatchTime.now().uptimeNanoseconds
    private var onLine = false
    /// The step count when this process started logging (nonzero after --resume).
    private var firstStep: Int?

    func show(_ event: TrainingEvent) {
        switch event {
        case .step(let report):
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let first = firstStep ?? report.step - 1
            firstStep = first
            let eta = elapsed / Double(max(report.step - first, 1)) * Double(report.totalSteps - report.step)
            var line = String(format: "step %d/%d  loss %.4f  lr %.3g  grad %.3f  %.0f tok/s  ETA %@",
                              report.step, report.totalSteps, report.loss, report.learningRate, report.gradNorm,
                              report.tokensPerSecond, formatDuration(eta))
            for key in report.metrics.keys.sorted() { line += String(format: "  %@ %.4f", key, report.metrics[key]!) }
            if report.skippedNonFinite { line += "  skipped_nonfinite (not applied)" }
            if isTerminal {
                FileHandle.standardOutput.write(Data("\r\u{1B}[K\(line)".utf8))
                onLine = true
            } else {
                print(line)
                fflush(stdout)
            }
        case .evaluation(let step, let metrics):
            endLine()
            print("eval at step \(step): " + metrics.keys.sorted().map { String(format: "%@ %.4f", $0, metrics[$0]!) }.joined(separator: ", "))
        case .checkpoint(let url):
            endLine()
            print("saved \(url.path)")
        }
        fflush(stdout)
    }

    func finish() { endLine() }

    private func endLine() {
        if onLine { print("") }
        onLine = false
    }
}
