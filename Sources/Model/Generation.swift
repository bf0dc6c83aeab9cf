import Foundation
import Tensor

public struct SamplingOptions: Sendable {
    public var maxNewTokens: Int
    /// 0 means greedy decoding.
    public var temperature: Float
    /// Nucleus sampling: keep the most likely tokens whose probabilities add up to `topP`.
    public var topP: Float
    /// HF's repetition penalty over the prompt and the tokens generated so far: a seen token's
    /// positive logit is divided by it, a negative one multiplied; 1 leaves the logits alone.
    public var repetitionPenalty: Float
    public var seed: UInt64

    public init(maxNewTokens: Int = 256, temperature: Float = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// How the paper's models answered Multifaceted Bench (the JANUS repository's
    /// `SAMPLING_PARAMS`): temperature 1.0, top-p 0.9, repetition penalty 1.03, 1024 new tokens.
    public static func paper(seed: UInt64 = 0) -> SamplingOptions {
        SamplingOptions(maxNewTokens: 1024, temperature: 1, topP: 0.9, repetitionPenalty: 1.03, seed: seed)
    }
}

extension Mistral {
    /// Continues `prompt` token by token with a KV cache until EOS or `maxNewTokens`. `onToken`
    /// sees each new id as it is chosen (EOS included) and may return false to stop. Returns
    /// the new ids.
    @discardableResult
    public func generate(prompt: [Int32], options: SamplingOptions, onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
        require(!prompt.isEmpty, "generate: empty prompt")
        return withoutGradients {
            let (cache, scores) = prefill(prompt, capacity: prompt.count + options.maxNewTokens)
            var generator = RandomGenerator(seed: options.seed)
            return decode(prompt: prompt, cache: cache, scores: scores, options: options, generator: &generator, onToken: onToken)
        }
    }

    /// `count` answers to `prompt` (best-of-n), all continuing one pass over the prompt: each
    /// starts from a copy of its KV cache. Answer i samples from seed `options.seed + i * phi`
    /// (answer 0 is what `generate` gives).
    public func generateSamples(prompt: [Int32], count: Int, options: SamplingOptions) -> [[Int32]] {
        require(!prompt.isEmpty, "generate: empty prompt")
        return withoutGradients {
            let (cache, scores) = prefill(prompt, capacity: prompt.count + options.maxNewTokens)
            return (0..<count).map { index in
                var generator = RandomGenerator(seed: options.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
                return decode(prompt: prompt, cache: cache.copy(), scores: scores, options: options, generator: &generator) { _ in true }
            }
        }
    }

    /// The prompt's keys and values in a fresh cache, and the logits of its last position.
    private func prefill(_ prompt: [Int32], capacity: Int) -> (KVCache, [Float]) {
        let cache = KVCache(config: config, capacity: capacity)
        return (cache, nextLogits(TokenBatch(ids: prompt, batch: 1, tokens: prompt.count), cache: cache))
    }

    private func nextLogits(_ step: TokenBatch, cache: KVCache) -> [Float] {
        let hidden = hiddenStates(step, cache: cache)
        return logits(hidden.slice(axis: 1, (step.tokens - 1)..<step.tokens).reshaped([1, config.hiddenSize])).scalars
    }

    /// Samples tokens after the cached prompt, `scores` being the logits of its last position.
    private func decode(
        prompt: [Int32], cache: KVCache, scores: [Float], options: SamplingOptions, generator: inout RandomGenerator,
        onToken: (Int32) -> Bool
    ) -> [Int32] {
        var produced = [Int32]()
        var seen = Set(prompt)
        var scores = scores
        while produced.count < options.maxNewTokens {
            Self.penalizeRepetition(&scores, seen: seen, penalty: options.repetitionPenalty)
            let next = Self.sample(scores, options: options, generator: &generator)
            produced.append(next)
            seen.insert(next)
            if !onToken(next) || next == config.eosTokenId || produced.count == options.maxNewTokens { break }
            scores = nextLogits(TokenBatch(ids: [next], batch: 1, tokens: 1, positions: [Int32(cache.length)]), cache: cache)
        }
        return produced
    }

    /// HF's `RepetitionPenaltyLogitsProcessor`: each token in `seen` has its logit divided by
    /// `penalty` when positive and multiplied by it otherwise.
    public static func penalizeRepetition(_ logits: inout [Float], seen: Set<Int32>, penalty: Float) {
        guard penalty != 1 else { return }
        for id in seen where Int(id) < logits.count {
            let value = logits[Int(id)]
            logits[Int(id)] = value < 0 ? value * penalty : value / penalty
        }
    }

    static func sample(_ logits: [Float], options: SamplingOptions, generator: inout RandomGenerator) -> Int32 {
        if options.temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let scaled = logits.map { $0 / options.temperature }
        let maxLogit = scaled.max() ?? 0
        var probabilities = scaled.map { Foundation.exp($0 - maxLogit) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
        var kept = [Int](), mass: Float = 0
        for index in order {
            kept.append(index)
            mass += probabilities[index]
            if mass >= options.topP { break }
        }
        var draw = generator.nextUniform() * mass
        for index in kept {
            draw -= probabilities[index]
            if draw <= 0 { return Int32(index) }
        }
        return Int32(kept[kept.count - 1])
    }
}
