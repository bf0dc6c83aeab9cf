import Foundation
import Model
import Tensor

/// One LoRA SFT step (forward, backward, AdamW) timed on random data: the number `train bench`
/// reports and `bench/compare_torch.py` reproduces in PyTorch.
public struct SpeedBenchmarkPreset: Sendable {
    public let name: String
    public let config: MistralConfig
    public let dtype: DType

    /// The preset's shapes; 7b-shape keeps its frozen weights in bfloat16 by default.
    public static func named(_ name: String) -> SpeedBenchmarkPreset? {
        MistralConfig.preset(name).map { SpeedBenchmarkPreset(name: name, config: $0, dtype: name == "7b-shape" ? .bfloat16 : .float32) }
    }
}

public struct SpeedBenchmarkResult: Sendable {
    public let stepSeconds: [Double]
    /// The part of each step spent in the gradient allreduce of a data-parallel job (0 alone).
    public let allreduceSeconds: [Double]
    /// Tokens of one step over every process.
    public let tokens: Int
    public let scoredTokens: Int
    public let flopsPerStep: Double
    public let peakResidentBytes: Int

    public var medianStepSeconds: Double { stepSeconds.sorted()[stepSeconds.count / 2] }
    public var medianAllreduceSeconds: Double { allreduceSeconds.sorted()[allreduceSeconds.count / 2] }
    public var tokensPerSecond: Double { Double(tokens) / medianStepSeconds }
    public var gigaflopsPerSecond: Double { flopsPerStep / medianStepSeconds / 1e9 }
}

public enum SpeedBenchmark {
    /// The adapters every benchmark step trains.
    public static let lora = LoRAConfig(rank: 16, alpha: 32)

    /// Activation recomputation for a benchmark step, as a recipe's `auto` decides it.
    public static func recomputes(requested: Bool?, config: MistralConfig, storage: DType, sequenceLength: Int) -> Bool {
        MemoryEstimate.recomputes(requested: requested, config: config, storage: storage, lora: lora, tokens: sequenceLength)
    }

    /// LoRA r 16, alpha 32 on all seven projections; batch 1 of `sequenceLength` random tokens
    /// with the loss on the last 3/4 of them. In a data-parallel job each process runs its own
    /// batch and the step includes the gradient allreduce, as in training.
    public static func run(
        model: Mistral, sequenceLength: Int, steps: Int, recomputeActivations: Bool, seed: UInt64 = 0,
        communicator: Communicator = SingleProcess()
    ) -> SpeedBenchmarkResult {
        let dropout = DropoutState(seed: seed)
        model.attachLoRA(lora, seed: seed, dropoutState: dropout)
        model.recomputesActivations = recomputeActivations
        let parameters = model.trainableParameters
        for parameter in parameters { parameter.tensor.requiresGrad = true }
        let optimizer = AdamW(weightDecay: 0)
        var generator = RandomGenerator(seed: seed &+ 7)
        let vocab = UInt64(model.config.vocabSize)
        let ids = (0..<sequenceLength).map { _ in Int32(generator.next() % vocab) }
        let firstScored = sequenceLength / 4
        let targets = (0..<sequenceLength).map { i in i >= firstScored && i + 1 < sequenceLength ? ids[i + 1] : -1 }
        let batch = TokenBatch(ids: ids, batch: 1, tokens: sequenceLength)
        let scored = targets.filter { $0 >= 0 }.count
        let reduction = StepReduction(communicator: communicator, parameters: parameters, sumNames: [])
        var times = [Double](), allreduceTimes = [Double]()
        for step in 0...steps {
            let start = DispatchTime.now().uptimeNanoseconds
            let loss = model.logProbs(batch, targets: targets).sum() * (-1 / Float(scored))
            loss.backward()
            let reduceStart = DispatchTime.now().uptimeNanoseconds
            var outcome = StepOutcome(loss: Double(loss.item), tokens: sequenceLength)
            _ = reduction.reduce(&outcome, stopRequested: false)
            let reduceEnd = DispatchTime.now().uptimeNanoseconds
            optimizer.update(parameters, lr: 1e-4)
            for parameter in parameters { parameter.tensor.grad = nil }
            if step > 0 {
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                allreduceTimes.append(Double(reduceEnd - reduceStart) / 1e9)
            }
        }
        return SpeedBenchmarkResult(
            stepSeconds: times, allreduceSeconds: allreduceTimes, tokens: sequenceLength * communicator.size, scoredTokens: scored * communicator.size,
            flopsPerStep: flops(model.config, tokens: sequenceLength, scored: scored, rank: lora.rank) * Double(communicator.size),
            peakResidentBytes: ProcessMemory.peakResidentBytes ?? 0)
    }

    /// Useful floating-point work of one LoRA step: forward and input-gradient GEMMs of every
    /// frozen projection (4 per weight per token), the adapters' (6 per adapter weight per
    /// token: forward, input and weight gradients), causal attention (forward 2 GEMMs of T^2/2,
    /// backward 4), and the LM head at the scored positions (forward and input gradient).
    public static func flops(_ c: MistralConfig, tokens: Int, scored: Int, rank: Int) -> Double {
        let h = Double(c.hiddenSize), i = Double(c.intermediateSize), d = Double(c.headDim)
        let q = Double(c.numAttentionHeads) * d, kv = Double(c.numKeyValueHeads) * d
        let projection = h * q + 2 * h * kv + q * h + 3 * h * i
        let adapter = Double(rank) * (h + q + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h))
        let t = Double(tokens)
        let attention = 6 * 2 * (t * t / 2) * d * Double(c.numAttentionHeads)
        let perLayer = 4 * projection * t + 6 * adapter * t + attention
        return Double(c.numHiddenLayers) * perLayer + 4 * Double(c.vocabSize) * h * Double(scored)
    }
}
