import Foundation
import Model

/// What a run will hold in memory, from config.json and the recipe alone, so that a run that
/// cannot fit stops before loading gigabytes of weights (and `--dry-run` prints the same number).
public struct MemoryEstimate: Sendable {
    public let bytes: Int

    /// Weights in their storage dtype, four float32 copies of what is trained (value, gradient,
    /// two moments), and the activations a step keeps for backward: about 34 floats per token
    /// and hidden unit per layer (4 per intermediate unit) plus one chunk of logits; with
    /// activation recomputation only each layer's input is kept, and one layer's activations
    /// exist at a time.
    public init(_ c: MistralConfig, recipe: Recipe) {
        let all = c.parameterCount
        let trainable = recipe.lora.map { lora in
            c.numHiddenLayers * c.linearShapes
                .filter { shape in lora.targetModules.contains { shape.module.hasSuffix(".\($0)") } }
                .reduce(0) { $0 + lora.r * ($1.out + $1.in) }
        } ?? all
        let weightBytes = recipe.lora == nil ? 0 : all * (recipe.model.dtype == .bfloat16 ? 2 : 4)
        let tokens = recipe.train.microBatchSize * recipe.data.maxSeqLen
        let perLayer = tokens * (34 * c.hiddenSize + 4 * c.intermediateSize) * 4
        let activations = recipe.train.activationCheckpointing
            ? c.numHiddenLayers * tokens * c.hiddenSize * 4 + perLayer
            : c.numHiddenLayers * perLayer
        bytes = weightBytes + 16 * trainable + activations + 64 * c.vocabSize * 4
    }

    /// Refuses a run whose estimate exceeds the memory the kernel says is available
    /// (`MemAvailable` in /proc/meminfo; no check where that file does not exist).
    public func check(meminfo: URL = URL(fileURLWithPath: "/proc/meminfo")) throws {
        guard let available = Self.availableBytes(meminfo: meminfo), bytes > available else { return }
        func gib(_ bytes: Int) -> String { String(format: "%.2f GiB", Double(bytes) / 1_073_741_824) }
        throw ModelError("not enough memory: this run needs about \(gib(bytes)) (the --dry-run estimate) and \(meminfo.path) "
            + "reports \(gib(available)) available; lower train.micro_batch_size or data.max_seq_len, set "
            + "train.activation_checkpointing: true, or train LoRA over model.dtype: bfloat16 weights")
    }

    static func availableBytes(meminfo: URL) -> Int? {
        guard let text = try? String(contentsOf: meminfo, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kib * 1024
    }
}
