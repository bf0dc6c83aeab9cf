/// Elementwise kernels. Binary ops broadcast trailing dimensions: the shorter operand has
/// `period` elements and repeats over the longer one's `n`.

enum BinaryKind {
    case add, subtract, multiply, divide
}

// out: (n) = a op b, where a and b each have n or `period` elements
func binaryForward(
    _ kind: BinaryKind, _ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, aCount: Int,
    _ b: UnsafePointer<Float>, bCount: Int
) {
    let n = max(aCount, bCount)
    // Equal sizes run as rows of a fixed width so that they split across threads too.
    let period = aCount == bCount ? rowWidth(n) : min(aCount, bCount)
    let aStep = aCount == n ? 1 : 0, bStep = bCount == n ? 1 : 0
    parallelChunks(n / period, minimumChunk: max(1, (1 << 15) / period)) { rows in
        for r in rows {
            let o = r * period
            let ar = a + o * aStep, br = b + o * bStep, y = out + o
            switch kind {
            case .add: for j in 0..<period { y[j] = ar[j] + br[j] }
            case .subtract: for j in 0..<period { y[j] = ar[j] - br[j] }
            case .multiply: for j in 0..<period { y[j] = ar[j] * br[j] }
            case .divide: for j in 0..<period { y[j] = ar[j] / br[j] }
            }
        }
    }
}

/// The gradient of one operand of a binary op: dx (count) += sum over repeats of
/// dy * d(out)/d(x), where `other` is the other operand (n or `otherCount` elements).
func binaryBackward(
    _ kind: BinaryKind, operandIsA: Bool, _ dx: UnsafeMutablePointer<Float>, count: Int,
    _ dy: UnsafePointer<Float>, n: Int, x: UnsafePointer<Float>, other: UnsafePointer<Float>, otherCount: Int
) {
    let period = count == otherCount ? rowWidth(n) : min(count, otherCount)
    let xStep = count == n ? 1 : 0, otherStep = otherCount == n ? 1 : 0
    let rows = n / period
    // Repeats of a short operand are summed in a fixed order (columns split across threads).
    let byColumns = count < n
    parallelChunks(byColumns ? period : rows, minimumChunk: byColumns ? 256 : max(1, (1 << 15) / period)) { range in
        let (rowRange, columns) = byColumns ? (0..<rows, range) : (range, 0..<period)
        for r in rowRange {
            let o = r * period
            let d = dy + o, g = dx + o * xStep, xr = x + o * xStep, yr = other + o * otherStep
            switch (kind, operandIsA) {
            case (.add, _), (.subtract, true): for j in columns { g[j] += d[j] }
            case (.subtract, false): for j in columns { g[j] -= d[j] }
            case (.multiply, _): for j in columns { g[j] += d[j] * yr[j] }
            case (.divide, true): for j in columns { g[j] += d[j] / yr[j] }
            case (.divide, false): for j in columns { g[j] -= d[j] * yr[j] / (xr[j] * xr[j]) }
            }
        }
    }
}

/// A divisor of n near 4096, so that same-size operands can be walked as rows.
private func rowWidth(_ n: Int) -> Int {
    var width = min(n, 4096)
    while width > 1 && n % width != 0 { width -= 1 }
    return max(width, 1)
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
