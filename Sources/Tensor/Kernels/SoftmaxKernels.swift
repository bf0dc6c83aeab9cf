import Foundation

// y: (rows, width) = softmax or log-softmax of x along each row
func softmaxForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, width: Int, log: Bool) {
    parallelChunks(rows, minimumChunk: max(1, 8192 / max(width, 1))) { range in
        for r in range {
            let xr = x + r * width, yr = y + r * width
            let maxValue = maximum(xr, width)
            let total = sumOfExponentials(xr, width, shift: maxValue)
            if log {
                let logTotal = Foundation.log(total) + maxValue
                for i in 0..<width { yr[i] = xr[i] - logTotal }
            } else {
                scaledExponentials(yr, xr, width, shift: maxValue, scale: 1 / total)
            }
        }
    }
}

// dx: (rows, width) += backward of softmax (y = softmax) or log-softmax (y = log-softmax)
func softmaxBackward(
    _ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, width: Int, log: Bool
) {
    parallelChunks(rows, minimumChunk: max(1, 8192 / max(width, 1))) { range in
        for r in range {
            let yr = y + r * width, dyr = dy + r * width, dxr = dx + r * width
            if log {
                var total: Float = 0
                for i in 0..<width { total += dyr[i] }
                for i in 0..<width { dxr[i] += dyr[i] - Foundation.exp(yr[i]) * total }
            } else {
                var dot: Float = 0
                for i in 0..<width { dot += dyr[i] * yr[i] }
                for i in 0..<width { dxr[i] += yr[i] * (dyr[i] - dot) }
            }
        }
    }
}
