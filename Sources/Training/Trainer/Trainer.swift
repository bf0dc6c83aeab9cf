import Foundation
import Model
import Tensor

/// One logged optimizer step.
public struct StepReport: Sendable {
    public let step: Int  // 1-based
    public let totalSteps: Int
    public let epoch: Double
    public let loss: Double
    public let learningRate: Double
    public let gradNorm: Double
    public let tokensPerSecond: Double
    public let secondsPerStep: Double
    public let metrics: [String: Double]
    /// The loss or gradient norm was not finite, so the update was not applied.
    public let skippedNonFinite: Bool
}

public struct TrainingSummary: Sendable {
    public let steps: Int
    public let finalLoss: Double?
    /// `final.h5`, or the step checkpoint written when a stop was requested.
    public let finalCheckpoint: URL
    public let seconds: Double
    /// A `StopRequest` ended the run before its last step.
    public let interrupted: Bool
}

public enum TrainingEvent: Sendable {
    case step(StepReport)
    case evaluation(step: Int, metrics: [String: Double])
    case checkpoint(URL)
}

/// The schedule of optimizer steps over epochs: step s covers micro-batches
/// [k * accumulation, (k + 1) * accumulation) of its epoch, the last step of an epoch
/// taking what remains.
public struct StepSchedule: Sendable {
    public let stepsPerEpoch: [Int]
    public let microBatchesPerEpoch: [Int]
    public let accumulation: Int
    public let totalSteps: Int

    /// `epochs` passes over the data, or, with `maxSteps`, exactly that many steps over as many
    /// epochs as they need (HF's `max_steps` overrides `num_train_epochs`). `microBatches(e)`
    /// counts the micro-batches of epoch e.
    public init(epochs: Int, maxSteps: Int?, accumulation: Int, microBatches: (Int) -> Int) {
        self.accumulation = accumulation
        var counts = [Int]()
        func steps(_ count: Int) -> Int { (count + accumulation - 1) / accumulation }
        if let maxSteps {
            var planned = 0
            while planned < maxSteps {
                counts.append(microBatches(counts.count))
                planned += steps(counts.last!)
            }
        } else {
            counts = (0..<epochs).map(microBatches)
        }
        microBatchesPerEpoch = counts
        stepsPerEpoch = counts.map(steps)
        totalSteps = maxSteps ?? stepsPerEpoch.reduce(0, +)
    }

    /// Epoch and micro-batch range of global step `step` (0-based).
    public func locate(_ step: Int) -> (epoch: Int, microBatches: Range<Int>) {
        var rest = step
        for (epoch, steps) in stepsPerEpoch.enumerated() {
            if rest < steps {
                let start = rest * accumulation
                return (epoch, start..<min(start + accumulation, microBatchesPerEpoch[epoch]))
            }
            rest -= steps
        }
        fatalError("StepSchedule: step \(step) is past the last step \(totalSteps)")
    }

    /// Where the data stands after `completedSteps`: the epoch and the index of its next
    /// micro-batch (one past the last epoch when training is complete).
    public func position(after completedSteps: Int) -> (epoch: Int, nextMicroBatch: Int) {
        guard completedSteps < totalSteps else { return (stepsPerEpoch.count, 0) }
        let (epoch, range) = locate(completedSteps)
        return (epoch, range.lowerBound)
    }

    /// Fractional epoch after `completedSteps`, as HF logs it.
    public func epochProgress(_ completedSteps: Int) -> Double {
        guard completedSteps > 0 else { return 0 }
        let (epoch, range) = locate(completedSteps - 1)
        let stepInEpoch = (range.lowerBound / accumulation) + 1
        return Double(epoch) + Double(stepInEpoch) / Double(stepsPerEpoch[epoch])
    }
}

/// The training loop shared by every stage: gradient accumulation through the objective,
/// clipping, AdamW with a warmup schedule, metrics.jsonl, evaluation and checkpoints.
public final class Trainer {
    public let recipe: Recipe
    public let model: Mistral
    public let objective: TrainingObjective
    public let parameters: [Parameter]
    public let optimizer: AdamW
    public let steps: StepSchedule
    public let schedule: LRSchedule
    public let dropoutState: DropoutState
    public let checkpointContext: CheckpointContext
    public let outputDirectory: URL
    /// The processes of a data-parallel job; rank 0 alone logs and saves.
    public let communicator: Communicator
    private let reduction: StepReduction
    /// Ask the run to stop after the current step, from any thread.
    public let stopRequest = StopRequest()
    private(set) var completedSteps = 0

    public init(
        recipe: Recipe, model: Mistral, objective: TrainingObjective, dropoutState: DropoutState,
        checkpointContext: CheckpointContext, communicator: Communicator = SingleProcess()
    ) {
        self.recipe = recipe
        self.model = model
        self.objective = objective
        self.dropoutState = dropoutState
        self.checkpointContext = checkpointContext
        self.communicator = communicator
        parameters = model.trainableParameters
        reduction = StepReduction(communicator: communicator, parameters: parameters, sumNames: objective.sumNames)
        for parameter in parameters { parameter.tensor.requiresGrad = true }
        let t = recipe.train
        optimizer = AdamW(beta1: t.adamBeta1, beta2: t.adamBeta2, eps: t.adamEpsilon, weightDecay: t.weightDecay)
        // Micro-batch and accumulation are per process (as DDP): a step takes accumulation x
        // processes micro-batches of the one global plan.
        steps = StepSchedule(
            epochs: t.epochs, maxSteps: t.maxSteps, accumulation: t.gradientAccumulationSteps * communicator.size,
            microBatches: objective.microBatchCount)
        schedule = LRSchedule(
            kind: t.lrScheduler, baseLR: t.learningRate, warmupSteps: recipe.warmupSteps(totalSteps: steps.totalSteps),
            totalSteps: steps.totalSteps)
        outputDirectory = URL(fileURLWithPath: recipe.output.dir)
    }

    /// Continues exactly where `checkpoint` stopped: parameters, optimizer moments, step,
    /// dropout generator (the data order follows from the step).
    public func restore(from checkpoint: LoadedCheckpoint) throws {
        let position = steps.position(after: checkpoint.globalStep)
        guard checkpoint.totalSteps == steps.totalSteps, checkpoint.warmupSteps == schedule.warmupSteps,
              checkpoint.seed == recipe.train.seed, checkpoint.epoch == position.epoch, checkpoint.nextMicroBatch == position.nextMicroBatch
        else {
            throw CheckpointError(checkpoint.url, "was written by a run with another schedule or data order (total steps \(checkpoint.totalSteps), "
                + "warmup \(checkpoint.warmupSteps), seed \(checkpoint.seed), epoch \(checkpoint.epoch), micro-batch \(checkpoint.nextMicroBatch)); "
                + "this recipe and data give total steps \(steps.totalSteps), warmup \(schedule.warmupSteps), seed \(recipe.train.seed), "
                + "epoch \(position.epoch), micro-batch \(position.nextMicroBatch): resume with the same recipe, data and --set values")
        }
        for parameter in parameters {
            for moments in [checkpoint.expAvg, checkpoint.expAvgSq] {
                guard moments[parameter.name]?.shape == parameter.tensor.shape else {
                    throw CheckpointError(checkpoint.url, "has no optimizer moment of shape \(parameter.tensor.shape) for '\(parameter.name)'")
                }
            }
        }
        try checkpoint.restoreParameters(into: parameters)
        optimizer.restore(step: checkpoint.optimizerStep, expAvg: checkpoint.expAvg, expAvgSq: checkpoint.expAvgSq)
        dropoutState.generator = RandomGenerator(state: checkpoint.dropoutGeneratorState)
        completedSteps = checkpoint.globalStep
    }

    /// Trains to the last step. In a data-parallel job every process runs it (and scores its shard
    /// of the evaluation set); only rank 0 sends events, writes metrics.jsonl and saves.
    public func run(events mainEvents: (TrainingEvent) -> Void) throws -> TrainingSummary {
        let isMain = communicator.isMain
        func events(_ event: TrainingEvent) { if isMain { mainEvents(event) } }
        let metricsFile: MetricsLog?
        if isMain {
            try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
            metricsFile = try MetricsLog(url: outputDirectory.appendingPathComponent("metrics.jsonl"), keepingStepsUpTo: completedSteps)
        } else {
            metricsFile = nil
        }
        // Each rank scores its shard of the evaluation set; one allreduce of the sums.
        func evaluate(at step: Int) throws {
            guard let sums = objective.evaluationSums(shard: communicator.rank, of: communicator.size) else { return }
            let names = sums.keys.sorted()
            let reduced = communicator.allreduceSum(names.map { sums[$0]! })
            let metrics = objective.evaluationMetrics(fromSums: Dictionary(uniqueKeysWithValues: zip(names, reduced)))
            try metricsFile?.append(step: step, evaluation: metrics)
            events(.evaluation(step: step, metrics: metrics))
        }
        let runStart = DispatchTime.now().uptimeNanoseconds
        var lastLoss: Double?
        let output = recipe.output
        // A baseline before the first update, as HF's eval_on_start: the curves start at the untrained model.
        if completedSteps == 0, recipe.train.evalEverySteps != nil { try evaluate(at: 0) }
        var nonFiniteStreak = 0
        while completedSteps < steps.totalSteps {
            let step = completedSteps
            let started = DispatchTime.now().uptimeNanoseconds
            let (epoch, range) = steps.locate(step)
            // Dealt round-robin: with length grouping, neighbouring micro-batches have similar lengths.
            let running = Array(stride(from: range.lowerBound + communicator.rank, to: range.upperBound, by: communicator.size))
            var outcome = dropoutState.training { objective.accumulate(epoch: epoch, step: range, running: running) }
            let stopRequested = reduction.reduce(&outcome, stopRequested: stopRequest.isRequested)
            outcome.metrics = objective.metrics(fromSums: outcome.sums)
            let gradNorm = GradientClipping.globalNorm(parameters)
            let lr = schedule.learningRate(step)
            // A non-finite step is not applied (the data moves on, the optimizer does not), so
            // the parameters and every checkpoint stay finite.
            let skipped = !(outcome.loss.isFinite && gradNorm.isFinite)
            nonFiniteStreak = skipped ? nonFiniteStreak + 1 : 0
            let giveUp = nonFiniteStreak >= recipe.train.maxNonfiniteSteps
                ? NonFiniteError(step: step + 1, consecutive: nonFiniteStreak, loss: outcome.loss, gradNorm: gradNorm, parameters: parameters)
                : nil
            if !skipped {
                GradientClipping.scale(parameters, norm: gradNorm, maxNorm: recipe.train.maxGradNorm)
                optimizer.update(parameters, lr: lr)
                lastLoss = outcome.loss
            }
            for parameter in parameters { parameter.tensor.grad = nil }
            completedSteps += 1
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            if skipped || completedSteps % output.logEverySteps == 0 || completedSteps == steps.totalSteps {
                let report = StepReport(
                    step: completedSteps, totalSteps: steps.totalSteps, epoch: steps.epochProgress(completedSteps),
                    loss: outcome.loss, learningRate: lr, gradNorm: gradNorm,
                    tokensPerSecond: Double(outcome.tokens) / max(seconds, 1e-9), secondsPerStep: seconds,
                    metrics: outcome.metrics, skippedNonFinite: skipped)
                try metricsFile?.append(report)
                events(.step(report))
            }
            if let giveUp { throw giveUp }
            if let every = recipe.train.evalEverySteps, completedSteps % every == 0 { try evaluate(at: completedSteps) }
            let stepName = String(format: "step-%06d.h5", completedSteps)
            var saved: URL?
            // Not in the middle of a non-finite streak: if it ends the run, the newest checkpoint
            // is one from before the trouble.
            if let every = output.saveEverySteps, completedSteps % every == 0, completedSteps < steps.totalSteps, !skipped {
                let url = try save(name: stepName)
                events(.checkpoint(url))
                saved = url
            }
            if stopRequested && completedSteps < steps.totalSteps {
                let checkpoint = try saved ?? save(name: stepName)
                if saved == nil { events(.checkpoint(checkpoint)) }
                return TrainingSummary(
                    steps: completedSteps, finalLoss: lastLoss, finalCheckpoint: checkpoint,
                    seconds: Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9, interrupted: true)
            }
        }
        if let every = recipe.train.evalEverySteps, steps.totalSteps % every != 0 { try evaluate(at: completedSteps) }
        let final = try save(name: "final.h5")
        events(.checkpoint(final))
        return TrainingSummary(
            steps: completedSteps, finalLoss: lastLoss, finalCheckpoint: final,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9, interrupted: false)
    }

    /// Rank 0 writes the checkpoint; every process returns its URL once it is written. (A rank
    /// that went on would, at the end of an interrupted run, exit non-zero while rank 0 still
    /// writes, and mpirun would end the job mid-save.)
    private func save(name: String) throws -> URL {
        let url = outputDirectory.appendingPathComponent(name)
        if communicator.isMain { try write(url) }
        communicator.barrier()
        return url
    }

    private func write(_ url: URL) throws {
        if let broken = parameters.first(where: { hasNonFinite($0.tensor) }) {
            throw NonFiniteError(checkpoint: url, parameter: broken.name)
        }
        let position = steps.position(after: completedSteps)
        try Checkpoint.write(
            CheckpointContents(
                context: checkpointContext, recipeYAML: recipe.resolvedYAML, globalStep: completedSteps,
                epoch: position.epoch, nextMicroBatch: position.nextMicroBatch, seed: UInt64(recipe.train.seed),
                model: model, parameters: parameters, optimizer: optimizer, learningRate: schedule.learningRate(max(completedSteps - 1, 0)),
                schedule: schedule, dropoutGeneratorState: dropoutState.generator.state),
            to: url)
        try Checkpoint.pruneSteps(in: outputDirectory, keepLast: recipe.output.keepLast)
    }
}
