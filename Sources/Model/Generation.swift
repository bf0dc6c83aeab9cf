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
        generate(prompts: [prompt], options: [options]) { _, id in onToken(id) }[0]
    }

    /// Answers several prompts together (batched decoding): each step runs the next token of
    /// every unfinished answer through the model at once, so each weight read serves all of
    /// them, while attention stays per sequence over its own KV cache (no padding; see
    /// `CachedRows`). Answer i follows `options[i]` (its own seed, temperature and token limit)
    /// and leaves the batch at its EOS or limit, so it is the answer `generate(prompt:)` gives
    /// alone. `onToken(i, id)` sees each new id of answer i and may return false to end it.
    public func generate(
        prompts: [[Int32]], options: [SamplingOptions], onToken: (_ row: Int, Int32) -> Bool = { _, _ in true }
    ) -> [[Int32]] {
        decodeAnswers(prompts: prompts, count: 1, options: options, onToken: onToken)
    }

    /// `count` answers to each of `prompts` (best-of-n), decoded together: each prompt is run
    /// through the model once and its answers continue copies of its KV cache. Answer i of a
    /// prompt samples from seed `options.seed + i * phi` (answer 0 is what `generate` gives), so
    /// the answers do not depend on which prompts share the batch.
    public func generateSamples(prompts: [[Int32]], count: Int, options: [SamplingOptions]) -> [[[Int32]]] {
        let answers = decodeAnswers(prompts: prompts, count: count, options: options) { _, _ in true }
        return prompts.indices.map { p in Array(answers[(p * count)..<((p + 1) * count)]) }
    }

    /// Runs each prompt through the model once and decodes `count` answers to each, all
    /// together: answer i of prompt p (row `p * count + i`) samples from seed
    /// `options[p].seed + i * phi` and continues the prompt's KV cache (a copy of it when there
    /// are several answers).
    private func decodeAnswers(
        prompts: [[Int32]], count: Int, options: [SamplingOptions], onToken: (_ row: Int, Int32) -> Bool
    ) -> [[Int32]] {
        require(prompts.count == options.count, "generate: \(prompts.count) prompts but \(options.count) sampling options")
        require(!prompts.contains(where: \.isEmpty), "generate: empty prompt")
        guard !prompts.isEmpty else { return [] }
        return withoutGradients {
            let caches = zip(prompts, options).map { KVCache(config: config, capacity: $0.count + $1.maxNewTokens) }
            let scores = nextLogits(prompts, caches: caches)
            var rows = prompts.indices.flatMap { p in
                (0..<count).map { index in
                    DecodingRow(prompt: prompts[p], cache: count == 1 ? caches[p] : caches[p].copy(), scores: scores[p], options: options[p],
                                generator: RandomGenerator(seed: options[p].seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
                }
            }
            decode(&rows, onToken: onToken)
            return rows.map(\.produced)
        }
    }

    /// The logits after the last token of each sequence, whose new `tokens` (laid end to end)
    /// continue `caches` at their current lengths.
    private func nextLogits(_ tokens: [[Int32]], caches: [KVCache]) -> [[Float]] {
        let counts = tokens.map(\.count)
        let positions = zip(tokens, caches).flatMap { ids, cache in (0..<ids.count).map { Int32(cache.length + $0) } }
        let total = counts.reduce(0, +)
        let hidden = hiddenStates(
            TokenBatch(ids: tokens.flatMap { $0 }, batch: 1, tokens: total, positions: positions),
            rows: CachedRows(caches: caches, tokens: counts))
        var end = 0
        let lasts = counts.map { count -> Int32 in
            end += count
            return Int32(end - 1)
        }
        // [sequences, hidden]: the hidden state of each sequence's last token.
        let last = hidden.reshaped([total, config.hiddenSize]).embedding(lasts)
        let scores = logits(last).scalars
        let vocab = config.vocabSize
        return counts.indices.map { Array(scores[($0 * vocab)..<(($0 + 1) * vocab)]) }
    }

    /// Samples every row until each ends (EOS, its token limit, or `onToken` returning false),
    /// running the rows still going through the model together at each step.
    private func decode(_ rows: inout [DecodingRow], onToken: (Int, Int32) -> Bool) {
        var active = rows.indices.filter { rows[$0].options.maxNewTokens > 0 }
        while !active.isEmpty {
            active = active.filter { i in
                Self.penalizeRepetition(&rows[i].scores, seen: rows[i].seen, penalty: rows[i].options.repetitionPenalty)
                let next = Self.sample(rows[i].scores, options: rows[i].options, generator: &rows[i].generator)
                rows[i].produced.append(next)
                rows[i].seen.insert(next)
                return onToken(i, next) && next != config.eosTokenId && rows[i].produced.count < rows[i].options.maxNewTokens
            }
            guard !active.isEmpty else { return }
            let scores = nextLogits(active.map { [rows[$0].produced.last!] }, caches: active.map { rows[$0].cache })
            for (i, row) in zip(active, scores) { rows[i].scores = row }
        }
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
        let (kept, mass) = nucleus(probabilities, topP: options.topP)
        var draw = generator.nextUniform() * mass
        for index in kept {
            draw -= probabilities[index]
            if draw <= 0 { return Int32(index) }
        }
        return Int32(kept[kept.count - 1])
    }

    /// The most probable tokens in decreasing probability (equal ones by index) until their
    /// mass reaches `topP`, and that mass: what sorting the whole vocabulary gives, found by
    /// sorting only the tokens above a threshold that falls until they hold the mass.
    static func nucleus(_ probabilities: [Float], topP: Float) -> (kept: [Int], mass: Float) {
        var threshold = (probabilities.max() ?? 0) / 64
        while true {
            let candidates = probabilities.indices.filter { probabilities[$0] >= threshold }.sorted {
                probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
            }
            var kept = [Int](), mass: Float = 0
            for index in candidates {
                kept.append(index)
                mass += probabilities[index]
                if mass >= topP { return (kept, mass) }
            }
            // Every token is a candidate once the threshold is 0 (rounding may keep the mass below 1).
            if threshold == 0 { return (kept, mass) }
            threshold = threshold > 1e-30 ? threshold / 64 : 0
        }
    }
}

/// One answer being decoded: its cache, the logits of its next token, and what it has produced.
private struct DecodingRow {
    let cache: KVCache
    var scores: [Float]
    let options: SamplingOptions
    var generator: RandomGenerator
    var seen: Set<Int32>
    var produced = [Int32]()

    init(prompt: [Int32], cache: KVCache, scores: [Float], options: SamplingOptions, generator: RandomGenerator) {
        self.cache = cache
        self.scores = scores
        self.options = options
        self.generator = generator
        seen = Set(prompt)
    }
}
