/// Vectorized exp and the row reductions of softmax over 16-wide SIMD registers. The scalar
/// `expf` call per element was the largest cost outside the GEMMs (logits of a 32000-token
/// vocabulary, attention probabilities).

/// e^x for each lane (Cephes' expf: x = n ln 2 + r, a degree-6 polynomial for e^r, 2^n from
/// the exponent bits), within 2 ulp over the float range; inputs below -87.3 give ~1e-38.
@inline(__always)
func exp16(_ input: SIMD16<Float>) -> SIMD16<Float> {
    let x = input.clamped(lowerBound: SIMD16(repeating: -87.33654), upperBound: SIMD16(repeating: 88.72283))
    let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    let exponent = (SIMD16<Int32>(n, rounding: .towardZero) &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: SIMD16<Float>.self)
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func store16(_ value: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD16<Float>.self)
}

/// The largest of x[0..<n] (-infinity for n = 0).
func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD16<Float>(repeating: -.infinity)
    var i = 0
    while i + 16 <= n {
        lanes = pointwiseMax(lanes, load16(x + i))
        i += 16
    }
    var result = lanes.max()
    while i < n {
        result = max(result, x[i])
        i += 1
    }
    return result
}

/// Sum of e^(x[i] - shift) over 0..<n.
func sumOfExponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var lanes = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        lanes += exp16(load16(x + i) - shift)
        i += 16
    }
    var result = lanes.sum()
    while i < n {
        result += exp16(SIMD16(repeating: x[i] - shift))[0]
        i += 1
    }
    return result
}

/// out[i] = scale * e^(x[i] - shift) over 0..<n (out may be x).
func scaledExponentials(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float) {
    var i = 0
    while i + 16 <= n {
        store16(exp16(load16(x + i) - shift) * scale, out + i)
        i += 16
    }
    while i < n {
        out[i] = scale * exp16(SIMD16(repeating: x[i] - shift))[0]
        i += 1
    }
}
