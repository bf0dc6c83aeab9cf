extension Tensor {
    /// Rows of a [vocab, dim] table (float32 or bfloat16) for each id: [ids.count, dim].
    /// The table receives a scatter-added gradient only if it is trainable.
    public func embedding(_ ids: [Int32]) -> Tensor {
        require(rank == 2, "embedding: table must be [vocab, dim], found \(shape)")
        let (vocab, dim) = (shape[0], shape[1])
        for id in ids {
            require(id >= 0 && Int(id) < vocab, "embedding: id \(id) is outside a table of shape \(shape)")
        }
        let out = Tensor(uninitialized: [ids.count, dim])
        for (row, id) in ids.enumerated() {
            let dst = out.data + row * dim
            switch dtype {
            case .float32: dst.update(from: data + Int(id) * dim, count: dim)
            case .bfloat16: widenBFloat16(dst, storage.bfloat16s + Int(id) * dim, dim)
            }
        }
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer()
            for (row, id) in ids.enumerated() {
                let dst = g + Int(id) * dim, src = dy + row * dim
                for i in 0..<dim { dst[i] += src[i] }
            }
        }
    }

    /// Picks one element per row of the last axis: x [..., V] -> [...], out[r] = x[r, indices[r]].
    public func gatheringLast(_ indices: [Int32]) -> Tensor {
        let width = shape.last ?? 1
        let rows = count / max(width, 1)
        require(
            indices.count == rows,
            "gather: \(indices.count) indices for \(rows) rows of shape \(shape)")
        for index in indices {
            require(index >= 0 && Int(index) < width, "gather: index \(index) is outside the last axis of \(shape)")
        }
        let out = Tensor(uninitialized: Array(shape.dropLast()))
        for r in 0..<rows { out.data[r] = data[r * width + Int(indices[r])] }
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer()
            for r in 0..<rows { g[r * width + Int(indices[r])] += dy[r] }
        }
    }
}
