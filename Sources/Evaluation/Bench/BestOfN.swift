import Foundation
import Model
import Training

/// Best-of-n sampling (as JANUS used Janus-RM): `samples` answers to a prompt, continuing one
/// pass over it (`Mistral.generateSamples`), and the one the reward model scores highest.
public struct BestOfN {
    public let reward: RewardScorer
    public let samples: Int

    public init(reward: RewardScorer, samples: Int) {
        self.reward = reward
        self.samples = samples
    }

    /// The sampled answers with their rewards and the index of the kept one (the first of
    /// equal best).
    public struct Choice: Sendable {
        public let answers: [[Int32]]
        public let rewards: [Float]
        public let best: Int

        public var answer: [Int32] { answers[best] }
    }

    /// `policy`'s answers to each of `prompts` (ids with BOS) under its `options`, all sampled
    /// as one batch and scored as the chat template ends a response: an answer cut at the token
    /// limit is scored with an EOS appended. A prompt's choice does not depend on the others.
    public func choose(policy: Mistral, prompts: [[Int32]], options: [SamplingOptions]) -> [Choice] {
        let answers = policy.generateSamples(prompts: prompts, count: samples, options: options)
        let eos = reward.tokenizer.eosId
        let examples = zip(prompts, answers).flatMap { prompt, answers in
            answers.map { TokenizedExample(promptIds: prompt, responseIds: $0.last == eos ? $0 : $0 + [eos]) }
        }
        let rewards = reward.rewards(examples)
        return answers.indices.map { p in
            let rewards = Array(rewards[(p * samples)..<((p + 1) * samples)])
            let best = rewards.indices.max { rewards[$0] < rewards[$1] || (rewards[$0] == rewards[$1] && $0 > $1) } ?? 0
            return Choice(answers: answers[p], rewards: rewards, best: best)
        }
    }
}
