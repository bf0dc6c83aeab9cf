extension Tensor {
    public func softmax() -> Tensor { softmaxFamily(log: false) }

    public func logSoftmax() -> Tensor { softmaxFamily(log: true) }

    /// Along the last axis.
    private func softmaxFamily(log: Bool) -> Tensor {
        let width = shape.last ?? 1
        let rows = count / max(width, 1)
        let out = Tensor(uninitialized: shape)
        softmaxForward(out.data, data, rows: rows, width: width, log: log)
        let y = out.storage
        return out.recorded(from: [self]) { [self] dy in
            softmaxBackward(gradBuffer(), dy, y.floats, rows: rows, width: width, log: log)
        }
    }

    /// Zeroes each element with probability `p` and scales the rest by 1 / (1 - p).
    public func dropout(_ p: Float, generator: inout RandomGenerator) -> Tensor {
        require(p >= 0 && p < 1, "dropout: probability \(p) is outside [0, 1)")
        if p == 0 { return self }
        let scale = 1 / (1 - p)
        let mask = Tensor(uninitialized: shape)
        for i in 0..<count { mask.data[i] = generator.nextUniform() >= p ? scale : 0 }
        return self * mask
    }
}
