import ArgumentParser
import Foundation
import Tensor

struct SpeedBenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Time causal attention forward + backward and report peak memory.")

    @Option(help: "Sequence length.") var seq = 4096
    @Option(help: "Query heads.") var heads = 32
    @Option(help: "Key/value heads.") var kvHeads = 8
    @Option(help: "Head dimension.") var headDim = 128
    @Option(help: "Timed repetitions after one warm-up.") var steps = 1
    @Option(name: .customLong("compute-dtype"), help: "How the block products are multiplied: float32 | bfloat16 (bfloat16 needs AVX512_BF16, as under model.compute_dtype: bfloat16).")
    var computeDType = DType.float32
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard seq > 0, heads > 0, kvHeads > 0, headDim > 0, steps > 0, heads % kvHeads == 0 else {
            throw ValidationError("sizes must be positive and --heads a multiple of --kv-heads")
        }
        if computeDType == .bfloat16 && !causalAttentionHasBFloat16Products {
            throw ValidationError("--compute-dtype bfloat16: this CPU has no AVX512_BF16 instructions (with AVX512BW and AVX512VL)")
        }
    }

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            var generator = RandomGenerator(seed: 0)
            let q = Tensor.normal([1, seq, heads, headDim], generator: &generator)
            let k = Tensor.normal([1, seq, kvHeads, headDim], generator: &generator)
            let v = Tensor.normal([1, seq, kvHeads, headDim], generator: &generator)
            for t in [q, k, v] { t.requiresGrad = true }
            let baseline = ProcessMemory.residentBytes ?? 0
            var times = [Double]()
            for step in 0...steps {
                let start = DispatchTime.now().uptimeNanoseconds
                causalAttention(query: q, key: k, value: v, computeDType: computeDType).sum().backward()
                if step > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            }
            let peak = ProcessMemory.peakResidentBytes ?? 0
            let gib = 1024.0 * 1024 * 1024
            let fullScores = Double(seq) * Double(seq) * 4 * Double(heads) / gib
            let median = times.sorted()[times.count / 2]
            if json {
                print(#"{"seq": \#(seq), "heads": \#(heads), "kv_heads": \#(kvHeads), "head_dim": \#(headDim), "compute_dtype": "\#(computeDType.rawValue)", "step_s_median": \#(median), "peak_rss_gib": \#(Double(peak) / gib), "inputs_rss_gib": \#(Double(baseline) / gib)}"#)
            } else {
                print("attention T=\(seq), \(heads) heads of \(headDim), \(kvHeads) KV heads, forward + backward, products in \(computeDType.rawValue)")
                print(String(format: "time (median of %d): %.2f s", steps, median))
                print(String(format: "peak RSS: %.2f GiB (%.2f GiB before the first step)", Double(peak) / gib, Double(baseline) / gib))
                print(String(format: "T x T scores for every head at once would take %.2f GiB", fullScores))
            }
        }
    }
}
