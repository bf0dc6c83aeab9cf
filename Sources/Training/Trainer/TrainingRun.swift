import Foundation
import Model
import Tokenizer

/// What a run will do, for the log header and `--dry-run`.
public struct TrainingPlan: Sendable {
    public let stage: Recipe.Stage
    public let records: Int
    public let instructions: Int
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
}

/// A recipe turned into a ready trainer: model loaded (frozen weights in the recipe's dtype),
/// adapters attached, data tokenized and checked, output folder checked.
public final class TrainingRun {
    public let recipe: Recipe
    public let tokenizer: Tokenizer
    public let model: Mistral
    public let trainer: Trainer
    public let plan: TrainingPlan

    /// - Parameters:
    ///   - from: an earlier stage's checkpoint to start from (SFT -> DPO/ORPO): its adapters are
    ///     merged into the base weights, so the reference model is that earlier policy.
    ///   - resume: a checkpoint of this same stage to continue exactly.
    public init(recipe: Recipe, from: URL? = nil, resume: URL? = nil) throws {
        self.recipe = recipe
        let modelDirectory = URL(fileURLWithPath: recipe.model.path)
        guard FileManager.default.fileExists(atPath: modelDirectory.path) else {
            throw ModelError("model.path: model folder \(recipe.model.path) does not exist")
        }
        let tokenizer = try Tokenizer.load(modelDirectory: modelDirectory)
        self.tokenizer = tokenizer
        let data = recipe.data
        let seed = UInt64(recipe.train.seed)
        if recipe.stage != .sft && data.packing {
            throw ModelError("data.packing: packing applies to SFT; preference stages keep each pair in its own rows")
        }
        if recipe.lora == nil && recipe.stage == .dpo {
            throw ModelError("lora: DPO here needs a lora section: its reference model is the policy with the adapter switched off")
        }
        if recipe.lora == nil && recipe.model.dtype == .bfloat16 {
            throw ModelError("model.dtype: bfloat16 storage is for frozen weights; full fine-tuning (no lora section) needs float32")
        }

        enum Datasets {
            case sft(SFTDataset, eval: SFTDataset?)
            case preference(PreferenceDataset, eval: PreferenceDataset?)
        }
        let datasets: Datasets
        switch recipe.stage {
        case .sft:
            func load(_ path: String) throws -> SFTDataset {
                try SFTDataset.load(
                    URL(fileURLWithPath: path), tokenizer: tokenizer, systemMessagesPerInstruction: data.systemMessagesPerInstruction,
                    maxSeqLen: data.maxSeqLen, truncation: data.truncation, skipInvalid: data.skipInvalid, seed: seed)
            }
            datasets = .sft(try load(data.train), eval: try data.eval.map(load))
        case .dpo, .orpo:
            func load(_ path: String) throws -> PreferenceDataset {
                try PreferenceDataset.load(
                    URL(fileURLWithPath: path), tokenizer: tokenizer, systemMessagesPerInstruction: data.systemMessagesPerInstruction,
                    maxSeqLen: data.maxSeqLen, truncation: data.truncation, skipInvalid: data.skipInvalid, seed: seed,
                    scoreChosenPrompt: recipe.stage == .orpo && recipe.orpo.nllOnPrompt)
            }
            datasets = .preference(try load(data.train), eval: try data.eval.map(load))
        }

        let resumed = try resume.map(Checkpoint.read)
        if let resumed, resumed.stage != recipe.stage {
            throw CheckpointError(resumed.url, "is a \(resumed.stage.rawValue) checkpoint; --resume continues the same stage")
        }
        if from != nil && resumed != nil { throw ModelError("give --from or --resume, not both: a resumed run already knows where it started") }
        let start = try from.map(Checkpoint.read)
        if let start, start.stage == recipe.stage {
            throw CheckpointError(start.url, "is already a \(start.stage.rawValue) checkpoint: use --resume to continue it")
        }
        try Checkpoint.checkOutputDirectory(URL(fileURLWithPath: recipe.output.dir), resumingFromStep: resumed?.globalStep)

        let model = try Mistral.load(directory: modelDirectory, dtype: recipe.model.dtype)
        model.recomputesActivations = recipe.train.activationCheckpointing
        try model.check(tokenizer)
        self.model = model
        var context = CheckpointContext(stage: recipe.stage, baseModel: recipe.model.path)
        if let start {
            guard start.weights.isEmpty && start.baseWeights.isEmpty || recipe.model.dtype == .float32 else {
                throw CheckpointError(start.url, "holds full fine-tuned weights; load them with model.dtype: float32")
            }
            try start.apply(to: model)
            context.startedFrom = start.url.path
            context.baseAdapters = start.baseAdapters + start.adapters
            context.baseWeights = start.baseWeights.merging(start.weights, uniquingKeysWith: { $1 })
        } else if let resumed {
            try model.load(weights: resumed.baseWeights, source: resumed.url.path)
            try model.merge(resumed.baseAdapters)
            context.startedFrom = resumed.startedFrom
            context.baseAdapters = resumed.baseAdapters
            context.baseWeights = resumed.baseWeights
        }
        let dropoutState = DropoutState(seed: seed &+ 1)
        if let lora = recipe.lora { model.attachLoRA(lora.config, seed: seed, dropoutState: dropoutState) }

        let objective: TrainingObjective
        let summary: TrainingData
        switch datasets {
        case .sft(let train, let eval):
            summary = train
            objective = SFTObjective(
                model: model, train: train, eval: eval,
                plan: BatchPlan(lengths: train.examples.map { $0.ids.count }, microBatchSize: recipe.train.microBatchSize,
                                packing: data.packing, maxSeqLen: data.maxSeqLen, seed: seed))
        case .preference(let train, let eval):
            summary = train
            let loss: PreferenceObjective.Loss = recipe.stage == .orpo
                ? .orpo(lambda: Float(recipe.orpo.lambda))
                : .dpo(beta: Float(recipe.dpo.beta), type: recipe.dpo.loss, labelSmoothing: Float(recipe.dpo.labelSmoothing))
            let preference = PreferenceObjective(
                model: model, train: train, eval: eval,
                plan: BatchPlan(lengths: train.pairs.map(\.length), microBatchSize: recipe.train.microBatchSize,
                                packing: false, maxSeqLen: data.maxSeqLen, seed: seed),
                loss: loss)
            if recipe.stage == .dpo && recipe.dpo.precomputeReference { preference.precomputeReference() }
            objective = preference
        }

        let trainer = Trainer(recipe: recipe, model: model, objective: objective, dropoutState: dropoutState, checkpointContext: context)
        if let resumed { try trainer.restore(from: resumed) }
        self.trainer = trainer

        let trainable = trainer.parameters.reduce(0) { $0 + $1.tensor.count }
        let all = model.namedWeights.reduce(0) { $0 + $1.tensor.count }
        plan = TrainingPlan(
            stage: recipe.stage, records: summary.recordCount, instructions: summary.instructionCount,
            systemMessagesPerInstruction: data.systemMessagesPerInstruction, examples: summary.exampleCount,
            invalidRecords: summary.invalidRecords.count, truncated: summary.truncatedCount, dropped: summary.droppedCount,
            tokens: summary.totalTokens, scoredTokens: summary.responseTokens, optimizerSteps: trainer.steps.totalSteps,
            stepsPerEpoch: trainer.steps.stepsPerEpoch, warmupSteps: trainer.schedule.warmupSteps,
            trainableParameters: trainable, frozenParameters: recipe.lora == nil ? 0 : all,
            estimatedMemoryBytes: Self.estimateMemory(model.config, recipe: recipe, trainable: trainable, all: all))
    }

    /// Weights in their storage dtype, four float32 copies of what is trained (value, gradient,
    /// two moments), and the activations a step keeps for backward (about 34 floats per token
    /// and hidden unit per layer, plus one chunk of logits).
    static func estimateMemory(_ c: MistralConfig, recipe: Recipe, trainable: Int, all: Int) -> Int {
        let weightBytes = recipe.lora == nil ? 0 : all * (recipe.model.dtype == .bfloat16 ? 2 : 4)
        let tokens = recipe.train.microBatchSize * recipe.data.maxSeqLen
        let perLayer = tokens * (34 * c.hiddenSize + 4 * c.intermediateSize) * 4
        return weightBytes + 16 * trainable + c.numHiddenLayers * perLayer + 64 * c.vocabSize * 4
    }
}
