import CVectorMath

/// SwiGLU, silu(g) u with silu(g) = g sigmoid(g), on the vectorized e^x of VectorMath.swift: a
/// scalar `expf` per element was a few percent of a bfloat16 training step.

// out: (n) = silu(gate) * up; gate, up: (n)
func swiGLUForward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    parallelChunks(n, minimumChunk: 1 << 14) { range in
        let o = range.lowerBound
        if vectorMathUsesAVX512 {
            facet_swiglu_forward_avx512(out + o, gate + o, up + o, range.count)
        } else {
            portableSwiGLUForward(out + o, gate + o, up + o, range.count)
        }
    }
}

// dGate, dUp: (n) += the pullback of dy: (n) (nil when that input needs no gradient)
func swiGLUBackward(
    dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?, _ dy: UnsafePointer<Float>,
    _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int
) {
    parallelChunks(n, minimumChunk: 1 << 14) { range in
        let o = range.lowerBound
        if vectorMathUsesAVX512 {
            facet_swiglu_backward_avx512(dGate.map { $0 + o }, dUp.map { $0 + o }, dy + o, gate + o, up + o, range.count)
        } else {
            portableSwiGLUBackward(dGate: dGate.map { $0 + o }, dUp: dUp.map { $0 + o }, dy + o, gate + o, up + o, range.count)
        }
    }
}

/// As `swiGLUForward` on one thread over 4-wide vectors: the same values, bit for bit, as
/// CVectorMath's AVX-512 version.
func portableSwiGLUForward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
    forEachQuad(n) { i, lanes in
        let g = load(gate + i, lanes)
        store(g * sigmoid4(g) * load(up + i, lanes), out + i, lanes)
    }
}

/// As `swiGLUBackward` on one thread, bit for bit as CVectorMath's version.
func portableSwiGLUBackward(
    dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?, _ dy: UnsafePointer<Float>,
    _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int
) {
    forEachQuad(n) { i, lanes in
        let g = load(gate + i, lanes), d = load(dy + i, lanes), s = sigmoid4(g)
        if let dUp { store(load(dUp + i, lanes) + d * g * s, dUp + i, lanes) }
        if let dGate { store(load(dGate + i, lanes) + d * load(up + i, lanes) * s * (1 + g * (1 - s)), dGate + i, lanes) }
    }
}

@inline(__always)
private func sigmoid4(_ g: SIMD4<Float>) -> SIMD4<Float> { 1 / (1 + exp4(-g)) }

/// Calls `body(i, lanes)` for i = 0, 4, 8, ... below n, lanes = min(4, n - i).
@inline(__always)
private func forEachQuad(_ n: Int, _ body: (Int, Int) -> Void) {
    for i in stride(from: 0, to: n, by: 4) { body(i, min(4, n - i)) }
}

/// The first `lanes` of p, zeros after them.
@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ lanes: Int) -> SIMD4<Float> {
    guard lanes < 4 else { return UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self) }
    var v = SIMD4<Float>(repeating: 0)
    for l in 0..<lanes { v[l] = p[l] }
    return v
}

@inline(__always)
private func store(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    guard lanes < 4 else { return UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self) }
    for l in 0..<lanes { p[l] = v[l] }
}
