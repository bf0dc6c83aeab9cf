import Foundation
import Tensor

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
    ///   - resume: a checkpoint of this same stage to continue exactly.
    public init(recipe: Recipe, resume: URL? = nil) throws {
        self.recipe = recipe
        let modelDirectory = URL(fileURLWithPath: recipe.model.path)
        guard FileManager.default.fileExists(atPath: modelDirectory.path) else {
            throw ModelError("model.path: model folder \(recipe.model.path) does not exist")
        }
        let tokenizer = try Tokenizer.load(modelDirectory: modelDirectory)
        self.tokenizer = tokenizer
        let data = recipe.data
        func load(_ path: String) throws -> SFTDataset {
            try SFTDataset.load(
                URL(fileURLWithPath: path), tokenizer: tokenizer, systemMessagesPerInstruction: data.systemMessagesPerInstruction,
                maxSeqLen: data.maxSeqLen, truncation: data.truncation, skipInvalid: data.skipInvalid, seed: UInt64(recipe.train.seed))
        }
        let train = try load(data.train)
        let eval = try data.eval.map(load)

        let resumed = try resume.map(Checkpoint.read)
        if let resumed, resumed.stage != recipe.stage {
            throw CheckpointError(resumed.url, "is a \(resumed.stage.rawValue) checkpoint; --resume continues the same stage")
        }
        try Checkpoint.checkOutputDirectory(URL(fileURLWithPath: recipe.output.dir), resumingFromStep: resumed?.globalStep)

        if recipe.lora == nil && recipe.model.dtype == .bfloat16 {
            throw ModelError("model.dtype: bfloat16 storage is for frozen weights; full fine-tuning (no lora section) needs float32")
        }
        let model = try Mistral.load(directory: modelDirectory, dtype: recipe.model.dtype)
        self.model = model
        let dropoutState = DropoutState(seed: UInt64(recipe.train.seed) &+ 1)
        if let lora = recipe.lora {
            model.attachLoRA(lora.config, seed: UInt64(recipe.train.seed), dropoutState: dropoutState)
        }
        let batchPlan = BatchPlan(
            lengths: train.examples.map { $0.ids.count }, microBatchSize: recipe.train.microBatchSize,
            packing: data.packing, maxSeqLen: data.maxSeqLen, seed: UInt64(recipe.train.seed))
        let objective = SFTObjective(model: model, train: train, eval: eval, plan: batchPlan)
        let trainer = Trainer(
            recipe: recipe, model: model, objective: objective, dropoutState: dropoutState,
            checkpointContext: CheckpointContext(stage: recipe.stage, baseModel: recipe.model.path))
        if let resumed { try trainer.restore(from: resumed) }
        self.trainer = trainer

        let trainable = trainer.parameters.reduce(0) { $0 + $1.tensor.count }
        let all = model.namedWeights.reduce(0) { $0 + $1.tensor.count }
        plan = TrainingPlan(
            stage: recipe.stage, records: train.recordCount, instructions: train.instructionCount,
            systemMessagesPerInstruction: train.systemMessagesPerInstruction, examples: train.examples.count,
            invalidRecords: train.invalidRecords.count, truncated: train.truncatedCount, dropped: train.droppedCount,
            tokens: train.totalTokens, scoredTokens: train.responseTokens, optimizerSteps: trainer.steps.totalSteps,
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
