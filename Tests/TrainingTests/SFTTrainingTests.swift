import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training
import XCTest

/// The SFT data path and trainer invariants: accumulation, packing, selection, truncation.
final class SFTTrainingTests: XCTestCase {
    private func recipe(_ folder: URL, output: URL, train: String) throws -> Recipe {
        try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            lora: {r: 4, alpha: 8, target_modules: all-linear}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
            train: {\(train), learning_rate: 1.0e-3, lr_scheduler: constant, warmup_steps: 0, weight_decay: 0.01}
            output: {dir: \(output.path), save_every_steps: null}
            """, source: "test recipe")
    }

    /// Micro-batch 8 x 1 and 2 x 4 see the same 8 examples in their first step and must give
    /// the same loss, the same accumulated gradients and the same update.
    func testGradientAccumulationMatchesOneLargeBatch() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let directory = try Fixtures.temporaryDirectory(self)
        var results = [(loss: Double, gradients: [Tensor], parameters: [Tensor])]()
        for (micro, accumulation) in [(8, 1), (2, 4)] {
            let output = directory.appendingPathComponent("run-\(micro)x\(accumulation)")
            let run = try TrainingRun(recipe: try recipe(
                folder, output: output, train: "epochs: 1, max_steps: 1, micro_batch_size: \(micro), gradient_accumulation_steps: \(accumulation)"))
            for linear in run.model.linears {  // a nonzero B so that both matrices get gradients
                let b = linear.adapter!.b
                for i in 0..<b.count { b.data[i] = Float(i % 7) * 0.01 - 0.03 }
            }
            let outcome = run.trainer.objective.accumulate(epoch: 0, microBatches: 0..<accumulation)
            let gradients = run.trainer.parameters.map { $0.tensor.grad!.detached() }
            for parameter in run.trainer.parameters { parameter.tensor.grad = nil }
            let summary = try run.trainer.run { _ in }
            XCTAssertEqual(try XCTUnwrap(summary.finalLoss), outcome.loss, accuracy: 1e-6)
            results.append((outcome.loss, gradients, run.trainer.parameters.map { $0.tensor.detached() }))
        }
        XCTAssertEqual(results[0].loss, results[1].loss, accuracy: 1e-5)
        for (a, b) in zip(results[0].gradients, results[1].gradients) {
            assertClose(a, b, atol: 1e-4 * max(b.scalars.map(abs).max() ?? 1, 1e-3), "accumulated gradient")
        }
        for (a, b) in zip(results[0].parameters, results[1].parameters) { assertClose(a, b, atol: 1e-5, "parameter after one step") }
    }

    /// The shares of one step that the ranks of a data-parallel job run (round-robin) add up to
    /// the whole step: each share is normalized by the whole step's tokens, and the dropout
    /// masks follow the micro-batch, not the process that runs it or what it ran before.
    func testTheRanksSharesOfAStepAddUpToTheWholeStep() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let directory = try Fixtures.temporaryDirectory(self)
        let run = try TrainingRun(recipe: try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            lora: {r: 4, alpha: 8, dropout: 0.3, target_modules: all-linear}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
            train: {epochs: 1, micro_batch_size: 2, gradient_accumulation_steps: 3}
            output: {dir: \(directory.path)}
            """, source: "test recipe"))
        for linear in run.model.linears {  // a nonzero B so that both matrices get gradients
            let b = linear.adapter!.b
            for i in 0..<b.count { b.data[i] = Float(i % 7) * 0.01 - 0.03 }
        }
        let parameters = run.trainer.parameters
        func share(_ running: [Int]) -> (loss: Double, gradients: [[Float]]) {
            let outcome = run.trainer.dropoutState.training { run.trainer.objective.accumulate(epoch: 0, step: 0..<3, running: running) }
            let gradients = parameters.map { $0.tensor.grad?.scalars ?? [Float](repeating: 0, count: $0.tensor.count) }
            for parameter in parameters { parameter.tensor.grad = nil }
            return (outcome.loss, gradients)
        }
        let whole = share([0, 1, 2])
        let ranks = [share([0, 2]), share([1])]
        XCTAssertEqual(ranks[0].loss + ranks[1].loss, whole.loss, accuracy: 1e-6)
        for (index, parameter) in parameters.enumerated() {
            let sum = zip(ranks[0].gradients[index], ranks[1].gradients[index]).map { $0 + $1 }
            assertClose(Tensor(sum, shape: parameter.tensor.shape), Tensor(whole.gradients[index], shape: parameter.tensor.shape),
                        atol: 1e-6, "gradient of \(parameter.name) summed over the shares")
        }
    }

    /// Recomputing layers in backward (with LoRA dropout replayed) changes neither the loss nor
    /// the gradients.
    func testActivationRecomputationGivesTheSameGradients() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let tokenizer = try Tokenizer.load(modelDirectory: folder)
        let records = try RecordReader.sft(Fixtures.url("tiny-mistral-eval.jsonl")).records
        let batch = MicroBatch(rows: records.map { record in
            [ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer)]
        }, packed: false)
        var results = [(Float, [Tensor])]()
        for checkpointing in [false, true] {
            let model = try Mistral.load(directory: folder)
            let state = DropoutState(seed: 5)
            model.attachLoRA(LoRAConfig(rank: 4, alpha: 8, dropout: 0.3), seed: 9, dropoutState: state)
            model.recomputesActivations = checkpointing
            for linear in model.linears {
                let b = linear.adapter!.b
                for i in 0..<b.count { b.data[i] = Float(i % 5) * 0.02 - 0.04 }
            }
            let parameters = model.trainableParameters
            for parameter in parameters { parameter.tensor.requiresGrad = true }
            let loss = state.training {
                let loss = model.logProbs(batch.tokens, targets: batch.targets).sum() * (-1 / Float(batch.scoredTokens))
                loss.backward()
                return loss
            }
            results.append((loss.item, parameters.map { $0.tensor.grad! }))
        }
        XCTAssertEqual(results[0].0, results[1].0)
        for (a, b) in zip(results[0].1, results[1].1) { assertClose(b, a, atol: 1e-6, "gradient with checkpointing") }
    }

    func testPackedRowsGiveTheSameLogProbsAsSeparateRows() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let model = try Mistral.load(directory: folder)
        let tokenizer = try Tokenizer.load(modelDirectory: folder)
        let examples = try RecordReader.sft(Fixtures.url("tiny-mistral-eval.jsonl")).records.map { record in
            ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer)
        }
        let separate = MicroBatch(rows: examples.map { [$0] }, packed: false)
        let packed = MicroBatch(rows: [examples], packed: true)
        XCTAssertEqual(packed.scoredTokens, separate.scoredTokens)
        let a = model.logProbs(separate.tokens, targets: separate.targets).scalars
        let b = model.logProbs(packed.tokens, targets: packed.targets).scalars
        let scoredA = zip(a, separate.targets).filter { $0.1 >= 0 }.map(\.0)
        let scoredB = zip(b, packed.targets).filter { $0.1 >= 0 }.map(\.0)
        XCTAssertEqual(scoredA.count, scoredB.count)
        for (x, y) in zip(scoredA, scoredB) { XCTAssertEqual(x, y, accuracy: 1e-4) }
    }

    func testPackingFillsRowsUpToTheLimit() {
        let plan = BatchPlan(lengths: [50, 40, 30, 20, 10, 60], microBatchSize: 2, packing: true, maxSeqLen: 100, seed: 3)
        let batches = plan.microBatches(epoch: 0)
        let rows = batches.flatMap { $0 }
        XCTAssertEqual(rows.flatMap { $0 }.sorted(), Array(0..<6), "every example exactly once")
        for row in rows { XCTAssertLessThanOrEqual(row.reduce(0) { $0 + plan.lengths[$1] }, 100) }
        XCTAssertLessThan(rows.count, 6, "rows hold several examples")
        XCTAssertEqual(plan.microBatches(epoch: 0).map { $0 }, batches, "the plan is fixed by seed and epoch")
        XCTAssertNotEqual(plan.microBatches(epoch: 1), batches, "each epoch reshuffles")
    }

    func testFirstEpochOrderOfAFixedSeedIsPinned() {
        let plan = BatchPlan(lengths: [Int](repeating: 10, count: 10), microBatchSize: 1, packing: false, maxSeqLen: 100, seed: 42)
        XCTAssertEqual(plan.microBatches(epoch: 0).map { $0[0][0] }, [1, 6, 5, 3, 8, 7, 0, 9, 2, 4])
    }

    func testSystemMessagesPerInstructionSelection() throws {
        let prompts = ["a", "a", "a", "b", "b", "b", "c"]
        let one = InstructionSelection(prompts: prompts, k: 1, seed: 7)
        XCTAssertEqual(one.keptIndices.map { prompts[$0] }, ["a", "b", "c"])
        XCTAssertEqual(one.instructionCount, 3)
        XCTAssertEqual(InstructionSelection(prompts: prompts, k: 1, seed: 7).keptIndices, one.keptIndices, "seeded")
        let two = InstructionSelection(prompts: prompts, k: 2, seed: 7)
        XCTAssertEqual(two.keptIndices.count, 5)
        XCTAssertTrue(Set(one.keptIndices).isSubset(of: Set(InstructionSelection(prompts: prompts, k: 3, seed: 7).keptIndices)))
        XCTAssertEqual(InstructionSelection(prompts: prompts, k: 5, seed: 7).keptIndices, Array(0..<7), "K above the count keeps all")

        let tokenizer = try Tokenizer.load(modelDirectory: try Fixtures.tinyMistralFolder(self))
        let dataset = try SFTDataset.load(
            Fixtures.url("sft-sample.jsonl"), tokenizer: tokenizer, systemMessagesPerInstruction: 1, maxSeqLen: 256,
            truncation: .error, skipInvalid: false, seed: 42)
        XCTAssertEqual(dataset.recordCount, 12)
        XCTAssertEqual(dataset.instructionCount, 4)
        XCTAssertEqual(dataset.examples.count, 4, "K = 1 keeps exactly one record per instruction")
    }

    func testTruncationPolicies() throws {
        let example = TokenizedExample(promptIds: [1, 5, 6, 7], responseIds: [8, 9, 10, 2])
        XCTAssertEqual(try example.fitted(to: 6, policy: .truncate, file: "f", line: 3)?.ids, [1, 5, 6, 7, 8, 9])
        XCTAssertNil(try example.fitted(to: 6, policy: .drop, file: "f", line: 3))
        XCTAssertThrowsError(try example.fitted(to: 6, policy: .error, file: "f", line: 3)) { error in
            XCTAssertEqual("\(error)", "f:3: the example has 8 tokens, more than max_seq_len 6 (data.truncation: error)")
        }
        XCTAssertThrowsError(try example.fitted(to: 4, policy: .truncate, file: "f", line: 3)) { error in
            XCTAssertTrue("\(error)".contains("no response token fits"), "\(error)")
        }
        XCTAssertEqual(example.targets, [-1, -1, -1, 8, 9, 10, 2, -1])
    }

    func testLearningRateSchedulesMatchTransformers() {
        // get_cosine_schedule_with_warmup(warmup 2, total 10) and the linear one, at each step.
        let cosine = LRSchedule(kind: .cosine, baseLR: 1, warmupSteps: 2, totalSteps: 10)
        let expectedCosine = [0, 0.5, 1, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449, 0.5,
                              0.30865828381745514, 0.14644660940672627, 0.038060233744356624]
        for (step, value) in expectedCosine.enumerated() { XCTAssertEqual(cosine.multiplier(step), value, accuracy: 1e-12) }
        let linear = LRSchedule(kind: .linear, baseLR: 1, warmupSteps: 2, totalSteps: 10)
        XCTAssertEqual(linear.multiplier(6), 0.5, accuracy: 1e-12)
        XCTAssertEqual(LRSchedule(kind: .constant, baseLR: 1, warmupSteps: 4, totalSteps: 10).multiplier(1), 0.25)
    }

    /// `train.max_steps` overrides `train.epochs` as in HF: more steps than the epochs hold
    /// continue into further epochs, fewer stop inside the first.
    func testMaxStepsOverridesEpochs() {
        let longer = StepSchedule(epochs: 1, maxSteps: 5, accumulation: 2, microBatches: { _ in 3 })
        XCTAssertEqual(longer.stepsPerEpoch, [2, 2, 2])
        XCTAssertEqual(longer.totalSteps, 5)
        XCTAssertEqual(longer.locate(4).epoch, 2)
        XCTAssertEqual(longer.locate(4).microBatches, 0..<2)
        XCTAssertEqual(longer.position(after: 5).epoch, 3)
        let shorter = StepSchedule(epochs: 4, maxSteps: 1, accumulation: 2, microBatches: { _ in 3 })
        XCTAssertEqual(shorter.stepsPerEpoch, [2])
        XCTAssertEqual(shorter.totalSteps, 1)
        XCTAssertEqual(StepSchedule(epochs: 4, maxSteps: nil, accumulation: 2, microBatches: { _ in 3 }).totalSteps, 8)
    }
}
