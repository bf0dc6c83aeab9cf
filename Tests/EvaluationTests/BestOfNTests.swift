import Evaluation
import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// Best-of-n on the tiny model with a random reward head: the answers that share one pass over
/// the prompt are the answers generated one by one, and the kept one has the highest reward.
final class BestOfNTests: XCTestCase {
    private func tinyModel() throws -> (Mistral, Tokenizer) {
        let folder = try Fixtures.tinyMistralFolder(self)
        return (try Mistral.load(directory: folder), try Tokenizer.load(modelDirectory: folder))
    }

    func testSamplesSharingThePromptCacheEqualSeparateGenerations() throws {
        let (model, tokenizer) = try tinyModel()
        let prompt = ChatTemplate.promptIds(system: "You answer briefly.", prompt: "Is 7 a prime number?", tokenizer: tokenizer)
        let options = SamplingOptions(maxNewTokens: 12, temperature: 1, topP: 0.9, repetitionPenalty: 1.03, seed: 7)
        let shared = model.generateSamples(prompts: [prompt], count: 4, options: [options])[0]
        XCTAssertEqual(Set(shared).count, 4, "four different answers")
        for (index, answer) in shared.enumerated() {
            var alone = options
            alone.seed = options.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
            XCTAssertEqual(answer, model.generate(prompt: prompt, options: alone), "answer \(index)")
        }
    }

    func testBestOfNKeepsTheAnswerWithTheHighestReward() throws {
        let (policy, tokenizer) = try tinyModel()
        let (rewardModel, _) = try tinyModel()
        XCTAssertThrowsError(try RewardScorer(model: rewardModel, tokenizer: tokenizer, source: "plain.h5")) { error in
            XCTAssertEqual("\(error)", "plain.h5 is not a reward model (it has no /reward_head): train one with `train rm`")
        }
        rewardModel.rewardHead = RewardHead(hiddenSize: rewardModel.config.hiddenSize, seed: 3)
        let scorer = try RewardScorer(model: rewardModel, tokenizer: tokenizer, source: "rm.h5")
        let prompt = ChatTemplate.promptIds(system: "s", prompt: "Name a colour.", tokenizer: tokenizer)
        let options = SamplingOptions(maxNewTokens: 8, temperature: 1, topP: 0.9, seed: 11)
        let choice = BestOfN(reward: scorer, samples: 5).choose(policy: policy, prompts: [prompt], options: [options])[0]
        XCTAssertEqual(choice.answers, policy.generateSamples(prompts: [prompt], count: 5, options: [options])[0])
        for (answer, reward) in zip(choice.answers, choice.rewards) {
            let ended = answer.last == tokenizer.eosId ? answer : answer + [tokenizer.eosId]
            XCTAssertEqual(reward, scorer.rewards([TokenizedExample(promptIds: prompt, responseIds: ended)])[0], accuracy: 1e-5)
        }
        XCTAssertEqual(choice.rewards[choice.best], choice.rewards.max())
        XCTAssertEqual(Set(choice.rewards).count, 5)
    }

    func testChoicesForSeveralPromptsAreThoseMadeOneAtATime() throws {
        let (policy, tokenizer) = try tinyModel()
        let (rewardModel, _) = try tinyModel()
        rewardModel.rewardHead = RewardHead(hiddenSize: rewardModel.config.hiddenSize, seed: 3)
        let chooser = BestOfN(reward: try RewardScorer(model: rewardModel, tokenizer: tokenizer, source: "rm.h5"), samples: 3)
        let prompts = ["Name a colour.", "Is 7 a prime number?", "Say hi."].map {
            ChatTemplate.promptIds(system: "s", prompt: $0, tokenizer: tokenizer)
        }
        let options = [4, 9, 6].enumerated().map { SamplingOptions(maxNewTokens: $1, temperature: 1, topP: 0.9, seed: UInt64($0)) }
        let together = chooser.choose(policy: policy, prompts: prompts, options: options)
        XCTAssertEqual(together.count, 3)
        for p in prompts.indices {
            let alone = chooser.choose(policy: policy, prompts: [prompts[p]], options: [options[p]])[0]
            XCTAssertEqual(together[p].answers, alone.answers, "prompt \(p)")
            XCTAssertEqual(together[p].best, alone.best, "prompt \(p)")
            for (a, b) in zip(together[p].rewards, alone.rewards) { XCTAssertEqual(a, b, accuracy: 1e-4, "prompt \(p)") }
        }
    }
}
