import ArgumentParser
import Model

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

    func options(defaultMaxNewTokens: Int) -> SamplingOptions {
        var options = paperSampling ? SamplingOptions.paper(seed: seed) : SamplingOptions(maxNewTokens: defaultMaxNewTokens, seed: seed)
        if let maxNewTokens { options.maxNewTokens = maxNewTokens }
        if let temperature { options.temperature = temperature }
        if let topP { options.topP = topP }
        if let repetitionPenalty { options.repetitionPenalty = repetitionPenalty }
        return options
    }
}
