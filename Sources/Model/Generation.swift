import Foundation
import Tensor

public struct SamplingOptions: Sendable {
    public var maxNewTokens: Int
    /// 0 means greedy decoding.
    public var temperature: Float
    /// Nucleus sampling: keep the most likely tokens whose probabilities add up to `topP`.
    public var topP: Float
    public var seed: UInt64

    public init(maxNewTokens: Int = 256, temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
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
            let cache = KVCache(config: config, capacity: prompt.count + options.maxNewTokens)
            var generator = RandomGenerator(seed: options.seed)
            var produced = [Int32]()
            var step = TokenBatch(ids: prompt, batch: 1, tokens: prompt.count)
            while produced.count < options.maxNewTokens {
                let hidden = hiddenStates(step, cache: cache)
                let last = hidden.slice(axis: 1, (step.tokens - 1)..<step.tokens).reshaped([1, config.hiddenSize])
                let next = Self.sample(logits(last).scalars, options: options, generator: &generator)
                produced.append(next)
                if !onToken(next) || next == config.eosTokenId { break }
                step = TokenBatch(ids: [next], batch: 1, tokens: 1, positions: [Int32(cache.length)])
            }
            return produced
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
