import Foundation

/// Inverse frequencies theta^(-2i/D) in float32, computed as transformers does.
func ropeInverseFrequencies(headDim: Int, theta: Float) -> [Float] {
    (0..<(headDim / 2)).map { i in 1 / Foundation.pow(theta, Float(2 * i) / Float(headDim)) }
}

/// Rotates each head vector of x: (tokens, heads, headDim) by its token's position, in the
/// "rotate half" layout: pairs are (i, i + headDim/2). With `inverse`, rotates back (the
/// backward pass) and accumulates into `y`.
func ropeApply(
    _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, positions: [Int32], inverseFrequencies: [Float],
    heads: Int, headDim: Int, inverse: Bool
) {
    let half = headDim / 2
    positions.withUnsafeBufferPointer { pos in
        inverseFrequencies.withUnsafeBufferPointer { freq in
            parallelChunks(pos.count, minimumChunk: 16) { tokens in
                var cosines = [Float](repeating: 0, count: half), sines = cosines
                for t in tokens {
                    let p = Float(pos[t])
                    for i in 0..<half {
                        let angle = p * freq[i]
                        cosines[i] = Foundation.cos(angle)
                        sines[i] = inverse ? -Foundation.sin(angle) : Foundation.sin(angle)
                    }
                    for h in 0..<heads {
                        let offset = (t * heads + h) * headDim
                        let xr = x + offset, yr = y + offset
                        for i in 0..<half {
                            let a = xr[i], b = xr[i + half]
                            let ra = a * cosines[i] - b * sines[i], rb = b * cosines[i] + a * sines[i]
                            if inverse {
                                yr[i] += ra
                                yr[i + half] += rb
                            } else {
                                yr[i] = ra
                                yr[i + half] = rb
                            }
                        }
                    }
                }
            }
        }
    }
}
