import Foundation

// y: (rows, dim) = x * rstd * weight; rstd: (rows) saved for backward
func rmsNormForward(
    _ y: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
) {
    parallelChunks(rows, minimumChunk: max(1, 4096 / max(dim, 1))) { range in
        for r in range {
            let xr = x + r * dim, yr = y + r * dim
            // Squares summed in Double: in Float a row of finite values above ~1e19 overflows to
            // infinity, rstd becomes 0 and the row turns into zeros, a uniform next layer.
            var sumSquares: Double = 0
            for i in 0..<dim { sumSquares += Double(xr[i]) * Double(xr[i]) }
            let s = Float(1 / (sumSquares / Double(dim) + Double(eps)).squareRoot())
            rstd[r] = s
            for i in 0..<dim { yr[i] = weight[i] * (xr[i] * s) }
        }
    }
}

// dx: (rows, dim) += rstd * (g - xhat * mean(g * xhat)) with g = dy * weight
func rmsNormInputBackward(
    _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
    _ weight: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, rows: Int, dim: Int
) {
    parallelChunks(rows, minimumChunk: max(1, 4096 / max(dim, 1))) { range in
        for r in range {
            let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
            let s = rstd[r]
            var dot: Float = 0
            for i in 0..<dim { dot += dyr[i] * weight[i] * xr[i] * s }
            let meanDot = dot / Float(dim)
            for i in 0..<dim { dxr[i] += s * (dyr[i] * weight[i] - xr[i] * s * meanDot) }
        }
    }
}

// dweight: (dim) += sum over rows of dy * xhat
func rmsNormWeightBackward(
    _ dweight: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
    _ rstd: UnsafePointer<Float>, rows: Int, dim: Int
) {
    parallelChunks(dim, minimumChunk: 64) { columns in
        for r in 0..<rows {
            let xr = x + r * dim, dyr = dy + r * dim, s = rstd[r]
            for i in columns { dweight[i] += dyr[i] * xr[i] * s }
        }
    }
}
