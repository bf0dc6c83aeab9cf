import Foundation
import Model
import Tensor

/// What a training run holds in memory, from config.json and the recipe alone, so that a run
/// that cannot fit stops before loading gigabytes of weights (and `--dry-run` prints the same
/// number): frozen weights in their storage dtype, four float32 copies of what is trained
/// (value, gradient, two moments), and the activations a step keeps for backward.
public struct MemoryEstimate: Sendable {
    public let weightBytes: Int
    public let trainingStateBytes: Int
    public let activationBytes: Int
    /// Whether the estimate is for activation recomputation.
    public let recompute: Bool

    public var bytes: Int { weightBytes + trainingStateBytes + activationBytes }

    /// - Parameters:
    ///   - tokens: tokens of one micro-batch (rows x sequence length).
    ///   - recompute: activation recomputation: only each layer's input is kept, and one layer's
    ///     activations while it is recomputed.
    public init(config c: MistralConfig, storage: DType, lora: LoRAConfig?, tokens: Int, recompute: Bool) {
        let all = c.parameterCount
        let trainable = lora.map { lora in
            c.numHiddenLayers * c.linearShapes
                .filter { shape in lora.targetModules.contains { shape.module.hasSuffix(".\($0)") } }
                .reduce(0) { $0 + lora.rank * ($1.out + $1.in) }
        } ?? all
        weightBytes = lora == nil ? 0 : all * storage.byteSize
        trainingStateBytes = 16 * trainable
        // What backward keeps of a layer, per token: about 11 hidden-sized vectors (norm inputs
        // and outputs, query, attention output, projection outputs, residuals), 3 key/value-sized
        // (key before and after RoPE, value) and 3 intermediate-sized (gate, up, their product);
        // measured 22.2k floats per token and layer on the small preset (this formula: 21.8k).
        // Plus one chunk of logits.
        let perLayer = tokens * (11 * c.hiddenSize + 3 * c.numKeyValueHeads * c.headDim + 3 * c.intermediateSize) * 4
        let layers = recompute ? c.numHiddenLayers * tokens * c.hiddenSize * 4 + perLayer : c.numHiddenLayers * perLayer
        activationBytes = layers + 64 * c.vocabSize * 4
        self.recompute = recompute
    }

    /// A recipe's run; `train.activation_checkpointing: auto` decided by `recomputes`.
    public init(_ c: MistralConfig, recipe: Recipe) {
        let tokens = recipe.train.microBatchSize * recipe.data.maxSeqLen, lora = recipe.lora?.config
        let recompute = Self.recomputes(
            requested: recipe.train.activationCheckpointing, config: c, storage: recipe.model.dtype, lora: lora, tokens: tokens)
        self.init(config: c, storage: recipe.model.dtype, lora: lora, tokens: tokens, recompute: recompute)
    }

    /// Activation recomputation for a run: `requested`, or by default only when the run would
    /// not fit in 90% of the memory available now without it.
    public static func recomputes(
        requested: Bool?, config: MistralConfig, storage: DType, lora: LoRAConfig?, tokens: Int,
        meminfo: URL = URL(fileURLWithPath: "/proc/meminfo")
    ) -> Bool {
        if let requested { return requested }
        let keepingAll = MemoryEstimate(config: config, storage: storage, lora: lora, tokens: tokens, recompute: false)
        guard let available = availableBytes(meminfo: meminfo) else { return false }
        return Double(keepingAll.bytes) > 0.9 * Double(available)
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
