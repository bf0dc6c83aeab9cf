extension Tensor {
    /// Same storage, new shape; one dimension may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            require(known > 0 && count % known == 0, "reshape: cannot reshape \(shape) to \(newShape)")
            resolved[unknown] = count / known
        }
        require(resolved.reduce(1, *) == count, "reshape: cannot reshape \(shape) to \(newShape)")
        let out = Tensor(shape: resolved, storage: storage)
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer()
            parallelChunks(count, minimumChunk: 1 << 15) { range in
                for i in range { g[i] += dy[i] }
            }
        }
    }

    /// Dimensions reordered: result dimension d is input dimension `dims[d]`.
    public func permuted(_ dims: [Int]) -> Tensor {
        require(
            dims.count == rank && Set(dims) == Set(0..<rank),
            "permute: \(dims) is not a permutation of the dimensions of \(shape)")
        let out = Tensor(uninitialized: dims.map { shape[$0] })
        permuteForward(out.data, data, inShape: shape, dims: dims, accumulate: false)
        var inverse = [Int](repeating: 0, count: rank)
        for (d, source) in dims.enumerated() { inverse[source] = d }
        let outShape = out.shape
        return out.recorded(from: [self]) { [self] dy in
            permuteForward(gradBuffer(), dy, inShape: outShape, dims: inverse, accumulate: true)
        }
    }

    /// Swaps two dimensions (a copy).
    public func transposed(_ first: Int, _ second: Int) -> Tensor {
        var dims = Array(0..<rank)
        dims.swapAt(normalizedAxis(first), normalizedAxis(second))
        return permuted(dims)
    }

    /// The elements with index in `range` along `axis` (a copy).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        require(
            range.lowerBound >= 0 && range.upperBound <= shape[a],
            "slice: range \(range) is out of bounds for axis \(axis) of shape \(shape)")
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = range.count
        let out = Tensor(uninitialized: outShape)
        let (rowIn, rowOut, start) = (shape[a] * inner, range.count * inner, range.lowerBound * inner)
        for o in 0..<outer { (out.data + o * rowOut).update(from: data + o * rowIn + start, count: rowOut) }
        return out.recorded(from: [self]) { [self] dy in
            let g = gradBuffer()
            for o in 0..<outer {
                let dst = g + o * rowIn + start, src = dy + o * rowOut
                for i in 0..<rowOut { dst[i] += src[i] }
            }
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concatenated(_ parts: [Tensor], axis: Int) -> Tensor {
        require(!parts.isEmpty, "concat: no tensors")
        let first = parts[0]
        let a = first.normalizedAxis(axis)
        for part in parts {
            var expected = first.shape, actual = part.shape
            require(part.rank == first.rank, "concat: shapes \(first.shape) and \(part.shape) differ in rank")
            expected[a] = 0
            actual[a] = 0
            require(expected == actual, "concat: shapes \(first.shape) and \(part.shape) differ outside axis \(axis)")
        }
        let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
        var outShape = first.shape
        outShape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(uninitialized: outShape)
        let rowOut = outShape[a] * inner
        var offsets = [Int]()
        var offset = 0
        for part in parts {
            offsets.append(offset)
            let row = part.shape[a] * inner
            for o in 0..<outer { (out.data + o * rowOut + offset).update(from: part.data + o * row, count: row) }
            offset += row
        }
        return out.recorded(from: parts) { dy in
            for (part, start) in zip(parts, offsets) where part.needsGrad {
                let g = part.gradBuffer(), row = part.shape[a] * inner
                for o in 0..<outer {
                    let dst = g + o * row, src = dy + o * rowOut + start
                    for i in 0..<row { dst[i] += src[i] }
                }
            }
        }
    }
}
