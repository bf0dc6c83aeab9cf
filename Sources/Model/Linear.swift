import Tensor

/// A bias-free linear layer `y = x W^T`, W: [out, in] in HF layout, named by its HF module
/// path (e.g. `model.layers.0.self_attn.q_proj`), with an optional trained LoRA adapter and an
/// optional frozen one (the earlier stages' adapters, stacked).
public final class Linear {
    public let name: String
    public var weight: Tensor
    /// The adapter this stage trains.
    public var adapter: LoRAAdapter?
    /// Earlier stages' adapters, applied in float32 on every forward and never trained: folded
    /// into a bf16 weight, W + s B A would be rounded to bf16's ~0.4% step and most of the
    /// update lost (`Mistral.attachFrozen`).
    public internal(set) var frozenAdapter: LoRAAdapter?
    /// Off for the reference passes of DPO (`Mistral.withTrainedAdaptersDisabled`); the frozen
    /// adapter stays on, so the reference is the model the stage started from.
    var adapterEnabled = true

    public init(name: String, weight: Tensor) {
        self.name = name
        self.weight = weight
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
    /// The last component of the module path: `q_proj`, `down_proj`, ...
    public var kind: String { String(name.split(separator: ".").last ?? "") }

    // x: (..., in) -> (..., out)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y: Tensor
        if let adapter, adapterEnabled {
            y = loraLinear(x, weight: weight, adapterInput: adapter.input(x), a: adapter.a, b: adapter.b, scale: adapter.scale)
        } else {
            y = matmul(x, weight, transposeB: true)
        }
        guard let frozen = frozenAdapter else { return y }
        return y + matmul(matmul(x, frozen.a, transposeB: true), frozen.b, transposeB: true, alpha: frozen.scale)
    }

    /// W plus every adapter's update, in float32 (a merged export narrows it once, at the end).
    public var mergedWeight: Tensor {
        [frozenAdapter, adapter].compactMap { $0 }.reduce(weight.widened()) { $0 + $1.delta() }
    }
}
