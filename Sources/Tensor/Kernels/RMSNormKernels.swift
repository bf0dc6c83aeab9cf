import Foundation

// y: (rows, dim) = x * rstd * weight; rstd: (rows) saved for backward
func rmsNormForward(
    _ y: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
    _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float
) {
    parallelChunks(rows, minimumChunk: max(1, 4096 / max(dim, 1))) { range in
        for r in range {
            let xr = x + r * dim, yr = y + r * dim
            var sumSquares: Float = 0
            for i in 0..<dim { sumSquares += xr[i] * xr[i] }
            let s = 1 / (sumSquares / Float(dim) + eps).squareRoot()
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
