/// Binary elementwise loops with trailing broadcasting: `a` has `aCount` elements and `b` has
/// `bCount`; the longer one's count `n` is a multiple of the shorter one's, which repeats.

// out: (n), a: (aCount), b: (bCount)
@inline(__always)
func binaryForward(
    _ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ aCount: Int,
    _ b: UnsafePointer<Float>, _ bCount: Int, _ op: (Float, Float) -> Float
) {
    let n = max(aCount, bCount)
    if aCount == bCount {
        parallelChunks(n, minimumChunk: 1 << 15) { range in
            for i in range { out[i] = op(a[i], b[i]) }
        }
    } else if bCount < aCount {
        parallelChunks(n / bCount, minimumChunk: max(1, (1 << 15) / bCount)) { rows in
            for r in rows {
                let o = r * bCount
                for j in 0..<bCount { out[o + j] = op(a[o + j], b[j]) }
            }
        }
    } else {
        parallelChunks(n / aCount, minimumChunk: max(1, (1 << 15) / aCount)) { rows in
            for r in rows {
                let o = r * aCount
                for j in 0..<aCount { out[o + j] = op(a[j], b[o + j]) }
            }
        }
    }
}

/// grad: (count) += sum over the repeats of value(i) for i in 0..<n, where grad[i % count].
@inline(__always)
func accumulateBroadcast(
    _ grad: UnsafeMutablePointer<Float>, _ count: Int, _ n: Int, _ value: (Int) -> Float
) {
    if count == n {
        parallelChunks(n, minimumChunk: 1 << 15) { range in
            for i in range { grad[i] += value(i) }
        }
        return
    }
    // The repeats of a short operand are summed serially per element to keep the order fixed.
    parallelChunks(count, minimumChunk: 256) { columns in
        for r in 0..<(n / count) {
            let o = r * count
            for j in columns { grad[j] += value(o + j) }
        }
    }
}

/// out: (n) = f(x)
@inline(__always)
func unaryForward(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ f: (Float) -> Float
) {
    parallelChunks(n, minimumChunk: 1 << 14) { range in
        for i in range { out[i] = f(x[i]) }
    }
}

/// dx: (n) += dy * df(x, y)
@inline(__always)
func unaryBackward(
    _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
    _ y: UnsafePointer<Float>, _ n: Int, _ df: (Float, Float) -> Float
) {
    parallelChunks(n, minimumChunk: 1 << 14) { range in
        for i in range { dx[i] += dy[i] * df(x[i], y[i]) }
    }
}
