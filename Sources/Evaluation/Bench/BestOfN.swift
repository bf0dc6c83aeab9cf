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

    /// `policy`'s answers to `prompt` (ids with BOS) under `options`, scored as the chat template
    /// ends a response: an answer cut at the token limit is scored with an EOS appended.
    public func choose(policy: Mistral, prompt: [Int32], options: SamplingOptions) -> Choice {
        let answers = policy.generateSamples(prompt: prompt, count: samples, options: options)
        let eos = reward.tokenizer.eosId
        let rewards = reward.rewards(answers.map { answer in
            TokenizedExample(promptIds: prompt, responseIds: answer.last == eos ? answer : answer + [eos])
        })
        let best = rewards.indices.max { rewards[$0] < rewards[$1] || (rewards[$0] == rewards[$1] && $0 > $1) } ?? 0
        return Choice(answers: answers, rewards: rewards, best: best)
    }
}
