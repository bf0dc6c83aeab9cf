import Tensor

/// A model tensor with its HF name, as checkpoints and exports store it.
public struct Parameter {
    public let name: String
    public let tensor: Tensor

    public init(name: String, tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}
