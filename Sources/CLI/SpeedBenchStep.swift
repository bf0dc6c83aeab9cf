import ArgumentParser
import Foundation
import Model
import Tensor
import Training

struct SpeedBenchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time one LoRA SFT step (forward, backward, AdamW) on random weights of a preset's shapes, or on a model (HF folder or GGUF file).")

    @Option(help: "\(MistralConfig.presetNames.joined(separator: " | "))") var preset: String?
    @Option(help: "An HF model folder or GGUF file instead of a preset.") var model: String?
    @Option(help: "Tokens in the sequence.") var seq = 512
    @Option(help: "Timed steps after one warm-up.") var steps = 3
    @Flag(inversion: .prefixedNo, help: "Recompute layers in backward (default: only when the step would not fit in memory otherwise).")
    var activationCheckpointing: Bool?
    @Option(help: "Storage of the frozen weights: float32 | bfloat16 (default: bfloat16 for 7b-shape and --model, else float32).")
    var dtype: DType?
    @Option(name: .customLong("compute-dtype"), help: "How bfloat16 weights are multiplied: float32 | bfloat16 (default: bfloat16 where the CPU has bfloat16 instructions).")
    var computeDType: DType?
    @Option(help: "Compute threads of this process (default: the machine's cores divided by the ranks of an MPI job on it).")
    var threads: Int?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard (preset == nil) != (model == nil) else { throw ValidationError("give --preset or --model") }
        if let preset, SpeedBenchmarkPreset.named(preset) == nil { throw ValidationError("unknown preset '\(preset)' (\(MistralConfig.presetNames.joined(separator: ", ")))") }
        guard seq >= 8, steps >= 1 else { throw ValidationError("--seq must be at least 8 and --steps at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let parallelism = try Parallelism.start(threads: threads)
            try parallelism.run { try run(parallelism) }
        }
    }

    /// Every rank runs its step; rank 0 measures the GEMM peak and prints.
    private func run(_ parallelism: Parallelism) throws {
        let mistral: Mistral
        let name: String
        let checkpointing: Bool
        if let preset, let chosen = SpeedBenchmarkPreset.named(preset) {
            checkpointing = SpeedBenchmark.recomputes(requested: activationCheckpointing, config: chosen.config, storage: dtype ?? chosen.dtype, sequenceLength: seq)
            mistral = try Mistral.randomlyInitialized(config: chosen.config, dtype: dtype ?? chosen.dtype, seed: 1)
            name = preset
        } else {
            let source = try ModelSource(path: model!)
            checkpointing = SpeedBenchmark.recomputes(requested: activationCheckpointing, config: try source.config(), storage: dtype ?? .bfloat16, sequenceLength: seq)
            mistral = try source.load(dtype: dtype ?? .bfloat16)
            name = model!
        }
        mistral.computeDType = try BFloat16GEMM.computeDType(requested: computeDType, storage: mistral.lmHead.dtype)
        let result = SpeedBenchmark.run(
            model: mistral, sequenceLength: seq, steps: steps, recomputeActivations: checkpointing, communicator: parallelism.communicator)
        guard parallelism.communicator.isMain else { return }
        let peak = BLAS.measureThroughput()
        let c = mistral.config
        let gib = Double(result.peakResidentBytes) / 1_073_741_824
        if json {
            let object: [String: Any] = [
                "preset": name, "seq": seq, "steps": steps, "hidden": c.hiddenSize, "intermediate": c.intermediateSize,
                "layers": c.numHiddenLayers, "heads": c.numAttentionHeads, "kv_heads": c.numKeyValueHeads, "vocab": c.vocabSize,
                "dtype": mistral.lmHead.dtype.rawValue, "compute_dtype": mistral.computeDType.rawValue, "activation_checkpointing": checkpointing,
                "step_s_median": result.medianStepSeconds, "step_s": result.stepSeconds, "tokens_per_s": result.tokensPerSecond,
                "gflops": result.gigaflopsPerSecond, "gemm_peak_gflops": peak, "peak_rss_gib": gib, "openblas_core": BLAS.activeCore,
                "ranks": parallelism.communicator.size, "threads": parallelism.threads, "allreduce_s_median": result.medianAllreduceSeconds,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("bench \(name): hidden \(c.hiddenSize), intermediate \(c.intermediateSize), \(c.numHiddenLayers) layers, "
                  + "\(c.numAttentionHeads) heads (\(c.numKeyValueHeads) KV), vocab \(c.vocabSize), \(mistral.lmHead.dtype.rawValue) frozen weights multiplied in \(mistral.computeDType.rawValue)")
            print("LoRA r 16 on 7 projections, seq \(seq), loss on the last 3/4, activation recomputation \(checkpointing ? "on" : "off"), openblas core \(BLAS.activeCore)")
            print("\(parallelism.description), each rank a sequence of \(seq)")
            print(String(format: "step time (median of %d): %.3f s (allreduce %.3f s)   %.0f tokens/s", steps, result.medianStepSeconds,
                         result.medianAllreduceSeconds, result.tokensPerSecond))
            print(String(format: "achieved %.1f GFLOP/s = %.0f%% of the measured GEMM peak (%.1f GFLOP/s)",
                         result.gigaflopsPerSecond, 100 * result.gigaflopsPerSecond / peak, peak))
            print(String(format: "peak RSS: %.2f GiB", gib))
        }
    }
}

extension DType: ExpressibleByArgument {}
