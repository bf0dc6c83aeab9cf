import Foundation
import Model
import Tensor
import Yams

/// A recipe problem, located: "recipe.yaml: train.learning_rate: must be a number > 0, found 'abc'".
public struct RecipeError: Error, CustomStringConvertible, Sendable {
    /// The recipe file as given, or the `--set KEY=VALUE` the offending value came from.
    public let source: String
    /// Where a malformed YAML document broke, when the parser says.
    public let line: Int?
    /// The dotted path of the offending key, like `train.learning_rate`.
    public let keyPath: String?
    public let message: String

    public init(source: String, line: Int? = nil, keyPath: String? = nil, _ message: String) {
        self.source = source
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var location = source
        if let line { location += ":\(line)" }
        if let keyPath { return "\(location): \(keyPath): \(message)" }
        return "\(location): \(message)"
    }
}

/// A training run as a YAML recipe describes it (the README's key table), every default filled in.
/// YAML keys are the snake_case spellings of these properties (`train.learning_rate`).
public struct Recipe: Equatable, Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        case sft, dpo, orpo, rm
    }

    public struct ModelSection: Equatable, Sendable {
        /// A Hugging Face model folder: config.json, safetensors, tokenizer.
        public var path: String
        /// Storage of the frozen weights.
        public var dtype = DType.float32
        /// How bfloat16 weights are multiplied; nil (`auto`): in bfloat16 where the CPU has
        /// bfloat16 instructions (`BFloat16GEMM`), else widened to float32.
        public var computeDType: DType?

        public init(path: String) { self.path = path }

        static let defaults = ModelSection(path: "")
        static let keys: [RecipeKey<Self>] = [
            .requiredText("path", \.path),
            .choice("dtype", \.dtype, among: [.float32, .bfloat16]),
            .choiceOrAuto("compute_dtype", \.computeDType, among: [.float32, .bfloat16]),
        ]
    }

    /// LoRA adapters with PEFT's conventions; a recipe without this section trains every weight.
    public struct LoRASection: Equatable, Sendable {
        public var r = 16
        public var alpha = 32.0
        public var dropout = 0.0
        public var targetModules = LoRAConfig.allTargets
        /// Scale by `alpha / sqrt(r)` instead of `alpha / r`.
        public var useRslora = false

        public init() {}

        static let defaults = LoRASection()
        static let keys: [RecipeKey<Self>] = [
            .integer("r", \.r, atLeast: 1),
            .number("alpha", \.alpha, .positive),
            .number("dropout", \.dropout, .fromZero(below: 1)),
            RecipeKey(name: "target_modules", read: { section, lora in
                if let node = section.value("target_modules") { lora.targetModules = try targetModules(node, in: section) }
            }, write: { Node($0.targetModules.map { Node.value($0) }, .implicit, .flow) }),
            .flag("use_rslora", \.useRslora),
        ]

        /// The adapter settings as the model takes them.
        public var config: LoRAConfig {
            LoRAConfig(rank: r, alpha: Float(alpha), dropout: Float(dropout), targetModules: targetModules, useRSLoRA: useRslora)
        }
    }

    public struct DataSection: Equatable, Sendable {
        public var train: String
        public var eval: String?
        /// How many of an instruction's system messages are kept (chosen with the seed); the
        /// paper's ablation varies it from 1 to 3.
        public var systemMessagesPerInstruction = 3
        public var maxSeqLen = 2048
        public var packing = false
        /// What happens to a record longer than `maxSeqLen`.
        public var truncation = TruncationPolicy.truncate
        /// Count and report bad records instead of stopping at the first.
        public var skipInvalid = false
        /// The chat template records are rendered with.
        public var template = ChatTemplate.Kind.janus

        public init(train: String) { self.train = train }

        static let defaults = DataSection(train: "")
        static let keys: [RecipeKey<Self>] = [
            .requiredText("train", \.train),
            .text("eval", \.eval),
            .integer("system_messages_per_instruction", \.systemMessagesPerInstruction, atLeast: 1),
            .integer("max_seq_len", \.maxSeqLen, atLeast: 8),
            .flag("packing", \.packing),
            .choice("truncation", \.truncation),
            .flag("skip_invalid", \.skipInvalid),
            .choice("template", \.template),
        ]
    }

    public struct TrainSection: Equatable, Sendable {
        public var epochs = 4
        /// Optimizer steps to train, overriding `epochs` (as HF's `max_steps`): the data is
        /// passed over as many times as these steps need.
        public var maxSteps: Int?
        public var microBatchSize = 2
        public var gradientAccumulationSteps = 4
        public var learningRate = 5e-6
        public var lrScheduler = LRSchedule.Kind.cosine
        /// At most one of the two warmup keys is set; `Recipe.warmupSteps(totalSteps:)` resolves them.
        public var warmupSteps: Int? = 10
        public var warmupRatio: Double?
        public var weightDecay = 0.0
        /// nil: no gradient clipping.
        public var maxGradNorm: Double? = 1.0
        public var adamBeta1 = 0.9
        public var adamBeta2 = 0.999
        public var adamEpsilon = 1e-8
        public var seed = 42
        public var evalEverySteps: Int?
        /// Recompute each layer in backward; nil (`auto`): only when the run would not fit in
        /// memory otherwise.
        public var activationCheckpointing: Bool?
        /// Consecutive steps with a non-finite loss or gradient norm (each skipped) before the run stops.
        public var maxNonfiniteSteps = 3

        public init() {}

        static let defaults = TrainSection()
        static let keys: [RecipeKey<Self>] = [
            .integer("epochs", \.epochs, atLeast: 1),
            .integer("max_steps", \.maxSteps, atLeast: 1),
            .integer("micro_batch_size", \.microBatchSize, atLeast: 1),
            .integer("gradient_accumulation_steps", \.gradientAccumulationSteps, atLeast: 1),
            .number("learning_rate", \.learningRate, .positive),
            .choice("lr_scheduler", \.lrScheduler),
            .integer("warmup_steps", \.warmupSteps, atLeast: 0),
            .number("warmup_ratio", \.warmupRatio, .fromZero(below: 1)),
            .number("weight_decay", \.weightDecay, .nonNegative),
            .number("max_grad_norm", \.maxGradNorm, .positive),
            .number("adam_beta1", \.adamBeta1, .fromZero(below: 1)),
            .number("adam_beta2", \.adamBeta2, .fromZero(below: 1)),
            .number("adam_epsilon", \.adamEpsilon, .positive),
            .integer("seed", \.seed, atLeast: 0),
            .integer("eval_every_steps", \.evalEverySteps, atLeast: 1),
            .flagOrAuto("activation_checkpointing", \.activationCheckpointing),
            .integer("max_nonfinite_steps", \.maxNonfiniteSteps, atLeast: 1),
        ]

        mutating func checkCombination(_ section: SectionReader) throws {
            guard warmupRatio != nil else { return }
            // The default warmup_steps gives way to a ratio; an explicit one conflicts with it.
            guard warmupSteps == nil || !section.contains("warmup_steps") else {
                throw section.error("warmup_ratio", "cannot be combined with warmup_steps; give one of them")
            }
            warmupSteps = nil
        }
    }

    public struct DPOSection: Equatable, Sendable {
        public var beta = 0.1
        public var loss = DPOLossType.sigmoid
        public var labelSmoothing = 0.0
        /// Score the reference model once before training instead of at every step.
        public var precomputeReference = false

        public init() {}

        static let defaults = DPOSection()
        static let keys: [RecipeKey<Self>] = [
            .number("beta", \.beta, .positive),
            .choice("loss", \.loss),
            .number("label_smoothing", \.labelSmoothing, .fromZero(below: 0.5)),
            .flag("precompute_reference", \.precomputeReference),
        ]

        func checkCombination(_ section: SectionReader) throws {
            guard labelSmoothing == 0 || loss == .sigmoid else {
                throw section.error("label_smoothing", "applies to loss sigmoid only, found loss \(loss.rawValue)")
            }
        }
    }

    public struct ORPOSection: Equatable, Sendable {
        public var lambda = 0.1
        /// TRL takes the NLL term over prompt and response tokens; false restricts it to the response.
        public var nllOnPrompt = true
        /// How the NLL term averages: per sequence (TRL's ORPOTrainer at the paper's micro-batch 1)
        /// or over all chosen tokens of the step.
        public var nllNormalization = NLLNormalization.sequence

        public init() {}

        static let defaults = ORPOSection()
        static let keys: [RecipeKey<Self>] = [
            .number("lambda", \.lambda, .nonNegative),
            .flag("nll_on_prompt", \.nllOnPrompt),
            .choice("nll_normalization", \.nllNormalization),
        ]
    }

    /// The reward model's Bradley-Terry loss as TRL's RewardTrainer computes it.
    public struct RMSection: Equatable, Sendable {
        /// Subtracted from every pair's reward difference: `-log sigmoid(r_c - r_r - margin)`.
        public var margin = 0.0
        /// nil: none; otherwise `coefficient * mean((r_c + r_r)^2)` is added, pulling rewards
        /// towards zero mean (TRL's `center_rewards_coefficient`).
        public var centerRewardsCoefficient: Double?

        public init() {}

        static let defaults = RMSection()
        static let keys: [RecipeKey<Self>] = [
            .number("margin", \.margin, .nonNegative),
            .number("center_rewards_coefficient", \.centerRewardsCoefficient, .nonNegative),
        ]
    }

    public struct OutputSection: Equatable, Sendable {
        public var dir: String
        /// nil: only the final checkpoint is written.
        public var saveEverySteps: Int? = 100
        public var keepLast = 3
        public var logEverySteps = 1

        public init(dir: String) { self.dir = dir }

        static let defaults = OutputSection(dir: "")
        static let keys: [RecipeKey<Self>] = [
            .requiredText("dir", \.dir),
            .integer("save_every_steps", \.saveEverySteps, atLeast: 1),
            .integer("keep_last", \.keepLast, atLeast: 1),
            .integer("log_every_steps", \.logEverySteps, atLeast: 1),
        ]
    }

    public var stage: Stage
    public var model: ModelSection
    /// nil: full fine-tuning.
    public var lora: LoRASection?
    public var data: DataSection
    public var train: TrainSection
    public var dpo: DPOSection
    public var orpo: ORPOSection
    public var rm: RMSection
    public var output: OutputSection
    /// Where the recipe came from (its file), for errors; not part of what the recipe says.
    public var source = "recipe"

    public static func == (a: Recipe, b: Recipe) -> Bool {
        a.stage == b.stage && a.model == b.model && a.lora == b.lora && a.data == b.data && a.train == b.train && a.dpo == b.dpo
            && a.orpo == b.orpo && a.rm == b.rm && a.output == b.output
    }

    public init(
        stage: Stage, model: ModelSection, lora: LoRASection? = nil, data: DataSection, train: TrainSection = TrainSection(),
        dpo: DPOSection = DPOSection(), orpo: ORPOSection = ORPOSection(), rm: RMSection = RMSection(), output: OutputSection
    ) {
        self.stage = stage
        self.model = model
        self.lora = lora
        self.data = data
        self.train = train
        self.dpo = dpo
        self.orpo = orpo
        self.rm = rm
        self.output = output
    }

    /// Reads and validates a recipe file; `overrides` are `--set` arguments like `train.learning_rate=1e-4`.
    public static func load(_ url: URL, overrides: [String] = []) throws -> Recipe {
        let source = url.relativePath
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RecipeError(source: source, "recipe file does not exist")
        }
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            throw RecipeError(source: source, "recipe file is not readable UTF-8 text")
        }
        return try Recipe(yaml: text, source: source, overrides: overrides)
    }

    /// Length of the linear warmup: `warmup_steps`, or `ceil(warmup_ratio * totalSteps)` computed
    /// in floating point as transformers does (0.07 of 100 steps is 8).
    public func warmupSteps(totalSteps: Int) -> Int {
        if let ratio = train.warmupRatio { return Int((Double(totalSteps) * ratio).rounded(.up)) }
        return train.warmupSteps ?? 0
    }
}
