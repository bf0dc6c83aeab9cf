import Tensor

/// A bias-free linear layer `y = x W^T`, W: [out, in] in HF layout, named by its HF module
/// path (e.g. `model.layers.0.self_attn.q_proj`).
public final class Linear {
    public let name: String
    public var weight: Tensor

    public init(name: String, weight: Tensor) {
        self.name = name
        self.weight = weight
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    // x: (..., in) -> (..., out)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        matmul(x, weight, transposeB: true)
    }
}
