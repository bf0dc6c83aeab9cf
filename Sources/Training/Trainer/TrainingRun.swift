import Foundation
import Model
import Tensor
import Tokenizer

/// What a run will do, for the log header and `--dry-run`.
public struct TrainingPlan: Sendable {
    public let stage: Recipe.Stage
    public let records: Int
    public let instructions: Int
    /// Prompt strings with more than 3 records (instructions sharing a prompt, grouped as one).
    public let sharedPrompts: Int
    public let systemMessagesPerInstruction: Int
    public let examples: Int
    public let invalidRecords: Int
    public let truncated: Int
    public let dropped: Int
    public let tokens: Int
    public let scoredTokens: Int
    public let optimizerSteps: Int
    public let stepsPerEpoch: [Int]
    public let warmupSteps: Int
    public let trainableParameters: Int
    public let frozenParameters: Int
    public let estimatedMemoryBytes: Int
    /// Whether layers are recomputed in backward (chosen from the estimate unless the recipe says).
    public let recomputesActivations: Bool
    /// How the frozen bfloat16 weights are multiplied.
    public let computeDType: DType
}

/// A recipe turned into a ready trainer: model loaded (frozen weights in the recipe's dtype),
/// adapters attached, data tokenized and checked, output folder checked. Each step of the setup
/// is a function of its own, in the order `init` calls them.
public final class TrainingRun {
    public let recipe: Recipe
    public let tokenizer: Tokenizer
    public let model: Mistral
    public let trainer: Trainer
    public let plan: TrainingPlan

    /// - Parameters:
    ///   - from: an earlier stage's checkpoint to start from (SFT -> DPO/ORPO): its adapters stay
    ///     on the model as frozen float32 adapters, so the reference model is that earlier policy.
    ///   - resume: a checkpoint of this same stage to continue exactly (written by any number of
    ///     processes: the data position is global).
    ///   - communicator: the processes of a data-parallel job, each of which builds its own run.
    public init(recipe: Recipe, from: URL? = nil, resume: URL? = nil, communicator: Communicator = SingleProcess()) throws {
        self.recipe = recipe
        try recipe.checkStageRules()
        let source: ModelSource
        do {
            source = try ModelSource(path: recipe.model.path)
        } catch {
            throw ModelError("model.path: \(error)")
        }
        let memory = MemoryEstimate(try source.config(), recipe: recipe)
        try memory.check()
        tokenizer = try source.tokenizer()
        let datasets = try Self.loadDatasets(recipe, tokenizer: tokenizer)
        let (start, resumed) = try Self.startingPoints(recipe, from: from, resume: resume)
        let (model, context, dropoutState) = try Self.loadPolicy(
            recipe, source: source, tokenizer: tokenizer, start: start, resumed: resumed, recompute: memory.recompute)
        self.model = model
        let (objective, data) = Self.makeObjective(recipe, model: model, datasets: datasets, communicator: communicator)
        trainer = Trainer(recipe: recipe, model: model, objective: objective, dropoutState: dropoutState, checkpointContext: context,
            communicator: communicator)
        if let resumed { try trainer.restore(from: resumed) }
        plan = Self.plan(recipe, model: model, trainer: trainer, data: data, memory: memory)
    }

    enum Datasets {
        case sft(SFTDataset, eval: SFTDataset?)
        case preference(PreferenceDataset, eval: PreferenceDataset?)
    }

    /// The training and evaluation files, tokenized with the chat template and checked.
    static func loadDatasets(_ recipe: Recipe, tokenizer: Tokenizer) throws -> Datasets {
        let data = recipe.data
        let seed = UInt64(recipe.train.seed)
        switch recipe.stage {
        case .sft:
            func load(_ path: String) throws -> SFTDataset {
                try SFTDataset.load(
                    URL(fileURLWithPath: path), tokenizer: tokenizer, systemMessagesPerInstruction: data.systemMessagesPerInstruction,
                    maxSeqLen: data.maxSeqLen, truncation: data.truncation, skipInvalid: data.skipInvalid, seed: seed,
                    template: data.template)
            }
            return .sft(try load(data.train), eval: try data.eval.map(load))
        case .dpo, .orpo, .rm:
            func load(_ path: String) throws -> PreferenceDataset {
                try PreferenceDataset.load(
                    URL(fileURLWithPath: path), tokenizer: tokenizer, systemMessagesPerInstruction: data.systemMessagesPerInstruction,
                    maxSeqLen: data.maxSeqLen, truncation: data.truncation, skipInvalid: data.skipInvalid, seed: seed,
                    template: data.template, scoreChosenPrompt: recipe.stage == .orpo && recipe.orpo.nllOnPrompt)
            }
            return .preference(try load(data.train), eval: try data.eval.map(load))
        }
    }

    /// The checkpoint a new stage starts from (`--from`) or the one this stage resumes, checked
    /// against the stage, and the output folder checked for what it already holds.
    static func startingPoints(
        _ recipe: Recipe, from: URL?, resume: URL?
    ) throws -> (start: LoadedCheckpoint?, resumed: LoadedCheckpoint?) {
        let resumed = try resume.map(Checkpoint.read)
        if let resumed, resumed.stage != recipe.stage {
            throw CheckpointError(resumed.url, "is a \(resumed.stage.rawValue) checkpoint; --resume continues the same stage")
        }
        if from != nil && resumed != nil { throw ModelError("give --from or --resume, not both: a resumed run already knows where it started") }
        let start = try from.map(Checkpoint.read)
        if let start, start.stage == .rm {
            throw CheckpointError(start.url, "is a reward model checkpoint; a new stage starts from a policy (sft, dpo or orpo)")
        }
        if let start, start.stage == recipe.stage {
            throw CheckpointError(start.url, "is already a \(start.stage.rawValue) checkpoint: use --resume to continue it")
        }
        if let start, !(start.weights.isEmpty && start.baseWeights.isEmpty) && recipe.model.dtype != .float32 {
            throw CheckpointError(start.url, "holds full fine-tuned weights; load them with model.dtype: float32")
        }
        try Checkpoint.checkOutputDirectory(URL(fileURLWithPath: recipe.output.dir), resumingFromStep: resumed?.globalStep)
        return (start, resumed)
    }

    /// The recipe's base model, its frozen weights stored as `model.dtype` and multiplied as
    /// `model.compute_dtype` asks (checked against the CPU first).
    public static func loadBase(_ recipe: Recipe, source: ModelSource) throws -> Mistral {
        let computeDType: DType
        do {
            computeDType = try BFloat16GEMM.computeDType(requested: recipe.model.computeDType, storage: recipe.model.dtype)
        } catch {
            throw RecipeError(source: recipe.source, keyPath: "model.compute_dtype", "\(error)")
        }
        let model = try source.load(dtype: recipe.model.dtype)
        model.computeDType = computeDType
        return model
    }

    /// The model as the stage begins: the base, the earlier stage's weights loaded and adapters
    /// frozen on it, and fresh adapters attached; with what its checkpoints must carry along.
    static func loadPolicy(
        _ recipe: Recipe, source: ModelSource, tokenizer: Tokenizer, start: LoadedCheckpoint?, resumed: LoadedCheckpoint?, recompute: Bool
    ) throws -> (Mistral, CheckpointContext, DropoutState) {
        let model = try loadBase(recipe, source: source)
        model.recomputesActivations = recompute
        try model.check(tokenizer)
        var context = CheckpointContext(stage: recipe.stage, baseModel: recipe.model.path)
        if let start {
            try start.apply(to: model)
            context.startedFrom = start.url.path
            context.baseAdapters = start.baseAdapters + start.adapters
            context.baseWeights = start.baseWeights.merging(start.weights, uniquingKeysWith: { $1 })
        } else if let resumed {
            try model.load(weights: resumed.baseWeights, source: resumed.url.path)
            try model.attachFrozen(resumed.baseAdapters)
            context.startedFrom = resumed.startedFrom
            context.baseAdapters = resumed.baseAdapters
            context.baseWeights = resumed.baseWeights
        }
        let seed = UInt64(recipe.train.seed)
        let dropoutState = DropoutState(seed: seed &+ 1)
        if let lora = recipe.lora { model.attachLoRA(lora.config, seed: seed, dropoutState: dropoutState) }
        if recipe.stage == .rm { model.rewardHead = RewardHead(hiddenSize: model.config.hiddenSize, seed: seed &+ 2) }
        return (model, context, dropoutState)
    }

    /// The stage's objective over its data, and the data's counts for the plan.
    static func makeObjective(
        _ recipe: Recipe, model: Mistral, datasets: Datasets, communicator: Communicator
    ) -> (TrainingObjective, TrainingData) {
        let data = recipe.data
        let seed = UInt64(recipe.train.seed)
        switch datasets {
        case .sft(let train, let eval):
            let plan = BatchPlan(
                lengths: train.examples.map { $0.ids.count }, microBatchSize: recipe.train.microBatchSize,
                packing: data.packing, maxSeqLen: data.maxSeqLen, seed: seed)
            return (SFTObjective(model: model, train: train, eval: eval, plan: plan), train)
        case .preference(let train, let eval):
            let plan = BatchPlan(
                lengths: train.pairs.map(\.length), microBatchSize: recipe.train.microBatchSize, packing: false,
                maxSeqLen: data.maxSeqLen, seed: seed)
            if recipe.stage == .rm {
                let objective = RewardObjective(
                    model: model, train: train, eval: eval, plan: plan, margin: Float(recipe.rm.margin),
                    centerCoefficient: recipe.rm.centerRewardsCoefficient.map(Float.init))
                return (objective, train)
            }
            let loss: PreferenceObjective.Loss = recipe.stage == .orpo
                ? .orpo(lambda: Float(recipe.orpo.lambda), nll: recipe.orpo.nllNormalization)
                : .dpo(beta: Float(recipe.dpo.beta), type: recipe.dpo.loss, labelSmoothing: Float(recipe.dpo.labelSmoothing))
            let objective = PreferenceObjective(model: model, train: train, eval: eval, plan: plan, loss: loss)
            if recipe.stage == .dpo && recipe.dpo.precomputeReference { objective.precomputeReference(communicator: communicator) }
            return (objective, train)
        }
    }

    static func plan(_ recipe: Recipe, model: Mistral, trainer: Trainer, data summary: TrainingData, memory: MemoryEstimate) -> TrainingPlan {
        let trainable = trainer.parameters.reduce(0) { $0 + $1.tensor.count }
        let all = model.namedWeights.reduce(0) { $0 + $1.tensor.count }
        return TrainingPlan(
            stage: recipe.stage, records: summary.recordCount, instructions: summary.instructionCount,
            sharedPrompts: summary.sharedPromptCount, systemMessagesPerInstruction: recipe.data.systemMessagesPerInstruction, examples: summary.exampleCount,
            invalidRecords: summary.invalidRecords.count, truncated: summary.truncatedCount, dropped: summary.droppedCount,
            tokens: summary.totalTokens, scoredTokens: summary.responseTokens, optimizerSteps: trainer.steps.totalSteps,
            stepsPerEpoch: trainer.steps.stepsPerEpoch, warmupSteps: trainer.schedule.warmupSteps,
            trainableParameters: trainable, frozenParameters: recipe.lora == nil ? 0 : all,
            estimatedMemoryBytes: memory.bytes, recomputesActivations: model.recomputesActivations, computeDType: model.computeDType)
    }
}
