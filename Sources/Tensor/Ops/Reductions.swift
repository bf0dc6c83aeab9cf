extension Tensor {
    /// Sum of all elements (accumulated in Double), shape [].
    public func sum() -> Tensor {
        let x = data
        var total = 0.0
        for i in 0..<count { total += Double(x[i]) }
        let out = Tensor([Float(total)], shape: [])
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer(), d = dy[0]
            for i in 0..<count { g[i] += d }
        }
    }

    public func mean() -> Tensor {
        require(count > 0, "mean: tensor of shape \(shape) is empty")
        return sum() * (1 / Float(count))
    }

    /// Sum over `axis`, which is removed from the shape.
    public func sum(axis: Int) -> Tensor {
        let a = normalizedAxis(axis)
        let outer = shape[..<a].reduce(1, *), size = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape.remove(at: a)
        let out = Tensor(zeros: outShape)
        let x = data, y = out.data
        parallelChunks(outer, minimumChunk: max(1, 4096 / max(size * inner, 1))) { rows in
            for o in rows {
                for k in 0..<size {
                    let src = x + (o * size + k) * inner, dst = y + o * inner
                    for i in 0..<inner { dst[i] += src[i] }
                }
            }
        }
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer()
            parallelChunks(outer, minimumChunk: max(1, 4096 / max(size * inner, 1))) { rows in
                for o in rows {
                    for k in 0..<size {
                        let dst = g + (o * size + k) * inner, src = dy + o * inner
                        for i in 0..<inner { dst[i] += src[i] }
                    }
                }
            }
        }
    }

    public func mean(axis: Int) -> Tensor {
        let n = size(axis)
        require(n > 0, "mean: axis \(axis) of shape \(shape) is empty")
        return sum(axis: axis) * (1 / Float(n))
    }
}
