import Tensor

/// A bias-free linear layer `y = x W^T`, W: [out, in] in HF layout, named by its HF module
/// path (e.g. `model.layers.0.self_attn.q_proj`), with an optional LoRA adapter.
public final class Linear {
    public let name: String
    public var weight: Tensor
    public var adapter: LoRAAdapter?
    /// Off for the reference passes of DPO (`Mistral.withAdaptersDisabled`).
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
        guard let adapter, adapterEnabled else { return matmul(x, weight, transposeB: true) }
        return loraLinear(x, weight: weight, adapterInput: adapter.input(x), a: adapter.a, b: adapter.b, scale: adapter.scale)
    }

    /// Folds the adapter into the weight (`W + scale B A`, stored as the weight's dtype) and
    /// removes it.
    public func mergeAdapter() {
        guard let adapter else { return }
        let merged = weight.widened() + adapter.delta()
        let computeDType = weight.computeDType
        weight = weight.dtype == .bfloat16 ? merged.narrowedToBFloat16() : merged
        weight.computeDType = computeDType
        self.adapter = nil
    }
}
