import ArgumentParser
import Evaluation
import Model
import Training

/// `--temperature --top-p --repetition-penalty --max-new-tokens --seed --paper-sampling`, for
/// `generate` and bench answers. Greedy decoding unless told otherwise.
struct SamplingArguments: ParsableArguments {
    @Option(help: "Stop after this many new tokens (default: the command's).") var maxNewTokens: Int?
    @Option(help: "Sampling temperature; 0 is greedy decoding (the default).") var temperature: Float?
    @Option(help: "Nucleus sampling threshold (default 1).") var topP: Float?
    @Option(help: "HF repetition penalty over prompt and answer: positive logits of seen tokens divided by it, negative ones multiplied (default 1: none).")
    var repetitionPenalty: Float?
    @Option(help: "Random seed for sampling.") var seed: UInt64 = 0
    @Flag(help: "The paper's sampling: temperature 1.0, top-p 0.9, repetition penalty 1.03, 1024 new tokens (an option given too overrides its value).")
    var paperSampling = false

    func validate() throws {
        if let maxNewTokens, maxNewTokens <= 0 { throw ValidationError("--max-new-tokens must be positive") }
        if let temperature, temperature < 0 || !temperature.isFinite { throw ValidationError("--temperature must not be negative") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty.isFinite) {
            throw ValidationError("--repetition-penalty must be positive")
        }
    }

    /// - Parameter sampledByDefault: take the paper's temperature, top-p and repetition penalty
    ///   unless told otherwise (best-of-n, where greedy answers would all be one).
    func options(defaultMaxNewTokens: Int, sampledByDefault: Bool = false) -> SamplingOptions {
        var options = paperSampling ? SamplingOptions.paper(seed: seed) : SamplingOptions(maxNewTokens: defaultMaxNewTokens, seed: seed)
        if sampledByDefault && !paperSampling {
            let paper = SamplingOptions.paper()
            (options.temperature, options.topP, options.repetitionPenalty) = (paper.temperature, paper.topP, paper.repetitionPenalty)
        }
        if let maxNewTokens { options.maxNewTokens = maxNewTokens }
        if let temperature { options.temperature = temperature }
        if let topP { options.topP = topP }
        if let repetitionPenalty { options.repetitionPenalty = repetitionPenalty }
        return options
    }
}

/// `--best-of N --reward RM.h5`: N sampled answers per prompt, the one the reward model scores
/// highest kept.
struct BestOfArguments: ParsableArguments {
    @Option(help: "Sample this many answers per prompt (one pass over the prompt, its KV cache shared) and keep the one --reward scores highest; sampling defaults to the paper's.")
    var bestOf: Int?
    @Option(help: "The reward model's checkpoint (from `train rm`, on the same --model) that chooses among --best-of answers.")
    var reward: String?

    func validate() throws {
        if let bestOf, bestOf < 1 { throw ValidationError("--best-of must be at least 1") }
        if (bestOf == nil) != (reward == nil) { throw ValidationError("--best-of and --reward go together") }
    }

    /// The reward model on `model`, or nil without --best-of; refuses greedy `sampling`. The
    /// reward model scores the policy's prompts as they are, so both must use one template:
    /// `template` when given, else the two checkpoints' templates must agree (`policy` being the
    /// policy's).
    func load(_ model: ModelOptions, sampling: SamplingOptions, template: TemplateOptions, policy: ChatTemplate.Kind) throws -> BestOfN? {
        guard let bestOf, let reward else { return nil }
        guard sampling.temperature > 0 else { throw ValidationError("--best-of needs sampled answers: --temperature must be above 0") }
        let scorer = try loadRewardScorer(model, checkpoint: reward, template: template)
        guard scorer.template == policy else {
            throw ValidationError("the reward model \(reward) was trained with the \(scorer.template.rawValue) template but the policy answers in \(policy.rawValue); give --template")
        }
        return BestOfN(reward: scorer, samples: bestOf)
    }
}
