import COpenBLAS
import CVectorMath

/// Vectorized exp and the row reductions of softmax. The scalar `expf` call per element was the
/// largest cost outside the GEMMs (logits of a 32000-token vocabulary, attention probabilities).
/// Where the CPU has AVX-512F they run 16 lanes wide in C (CVectorMath, the same e^x bit for
/// bit); elsewhere over 4-wide SIMD registers (one SSE register each: the package builds for
/// the x86-64 baseline, on which wider Swift vectors spill).
let vectorMathUsesAVX512 = facet_cpu_has_avx512f() != 0

/// The largest of x[0..<n] (-infinity for n = 0), NaN if any element is NaN.
func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    vectorMathUsesAVX512 ? facet_maximum_avx512(x, n) : portableMaximum(x, n)
}

/// Sum of e^(x[i] - shift) over 0..<n.
func sumOfExponentials(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    vectorMathUsesAVX512
        ? facet_exponentials_and_sum_avx512(nil, x, n, shift) : portableExponentialsAndSum(nil, x, n, shift: shift)
}

/// out[i] = scale * e^(x[i] - shift) over 0..<n (out may be x).
func scaledExponentials(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float) {
    if vectorMathUsesAVX512 {
        facet_scaled_exponentials_avx512(out, x, n, shift, scale)
    } else {
        portableScaledExponentials(out, x, n, shift: shift, scale: scale)
    }
}

/// out[i] = e^(x[i] - shift) over 0..<n (out may be x); returns their sum. One exp per element
/// gives a softmax row both its normalizer and its numerators.
func exponentialsAndSum(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    vectorMathUsesAVX512
        ? facet_exponentials_and_sum_avx512(out, x, n, shift) : portableExponentialsAndSum(out, x, n, shift: shift)
}

/// e^x for each lane (Cephes' expf: x = n ln 2 + r, a degree-6 polynomial for e^r, 2^n from
/// the exponent bits), within 2 ulp over the normal float range. Outside it the lanes follow
/// IEEE as `expf` does: above ln(Float.greatestFiniteMagnitude) +infinity, below the smallest
/// normal 0 (flushed), NaN stays NaN; the clamp alone would turn an overflowed logit into a
/// finite one and NaN into ~1e-38, which made a blown-up model look like a uniform one.
@inline(__always)
func exp4(_ input: SIMD4<Float>) -> SIMD4<Float> {
    // Lane selects, not `clamped`: its pointwiseMin/Max were calls that compared lane by lane.
    let x = input.replacing(with: -87.33654, where: input .< -87.33654).replacing(with: 88.72283, where: input .> 88.72283)
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits: n as a float and,
    // from the bit pattern, as an integer, without the (scalarized) SIMD conversions.
    let shifted = x * 1.44269504088896341 + 12_582_912
    let rounded = shifted - 12_582_912
    let r = x - rounded * 0.693359375 + rounded * 2.12194440e-4
    var p = SIMD4<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    // 2^n as 2^(n/2) * 2^(n - n/2): n reaches 128 just below the overflow threshold, past the
    // largest exponent one float can hold.
    let n = unsafeBitCast(shifted, to: SIMD4<Int32>.self) &- 0x4B40_0000
    let half = n &>> 1
    let low = unsafeBitCast((half &+ 127) &<< 23, to: SIMD4<Float>.self)
    let high = unsafeBitCast((n &- half &+ 127) &<< 23, to: SIMD4<Float>.self)
    return (p * low * high)
        .replacing(with: .infinity, where: input .> 88.72283)
        .replacing(with: 0, where: input .< -87.33654)
        .replacing(with: input, where: input .!= input)
}

/// The larger of a and b, NaN if either is NaN (`Swift.max` and `pointwiseMax` drop a NaN
/// in one argument position, which hid a blown-up row's NaN from its softmax).
@inline(__always)
func maximumPropagatingNaN(_ a: Float, _ b: Float) -> Float {
    a > b || a.isNaN ? a : b
}

@inline(__always)
private func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
}

@inline(__always)
private func store4(_ value: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD4<Float>.self)
}

func portableMaximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD4<Float>(repeating: -.infinity)
    var sawNaN = SIMDMask<SIMD4<Int32>>(repeating: false)
    var i = 0
    while i + 4 <= n {
        let v = load4(x + i)
        lanes = lanes.replacing(with: v, where: v .> lanes)
        sawNaN .|= v .!= v
        i += 4
    }
    var result = any(sawNaN) ? .nan : lanes.max()
    while i < n {
        result = maximumPropagatingNaN(result, x[i])
        i += 1
    }
    return result
}

func portableScaledExponentials(
    _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, shift: Float, scale: Float
) {
    var i = 0
    while i + 4 <= n {
        store4(exp4(load4(x + i) - shift) * scale, out + i)
        i += 4
    }
    while i < n {
        out[i] = scale * exp4(SIMD4(repeating: x[i] - shift))[0]
        i += 1
    }
}

/// As `exponentialsAndSum`; with `out` nil the sum alone.
func portableExponentialsAndSum(_ out: UnsafeMutablePointer<Float>?, _ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var lanes = SIMD4<Float>(repeating: 0)
    var i = 0
    while i + 4 <= n {
        let e = exp4(load4(x + i) - shift)
        if let out { store4(e, out + i) }
        lanes += e
        i += 4
    }
    var result = lanes.sum()
    while i < n {
        let e = exp4(SIMD4(repeating: x[i] - shift))[0]
        out?[i] = e
        result += e
        i += 1
    }
    return result
}

/// c: (m, n) = alpha * A · b + beta * c on AVX-512F (CVectorMath), every operand read in place:
/// A(i, p) = a[i * aRowStride + p * aDepthStride] (a transposed A is a swap of the strides),
/// b: (k, n) with rows ldb apart, c's rows ldc apart. The caller checks `vectorMathUsesAVX512`.
func avx512GEMM(
    m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, aRowStride: Int, aDepthStride: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else { return scaleByBeta(c, m: m, n: n, ldc: ldc, beta: beta) }
    facet_gemm_avx512(c, ldc, a, aRowStride, aDepthStride, b, ldb, m, n, k, alpha, beta)
}
