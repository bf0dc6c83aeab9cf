import CVectorMath
import Foundation
@testable import Tensor
import TestSupport
import XCTest

/// Attention's bfloat16 products (CVectorMath's AVX512_BF16 kernel): the packing and the kernel
/// against sgemm on the same bfloat16 values, whole attention passes against the same
/// arithmetic in Double, and against the float32 path within a stated tolerance.
final class AttentionBFloat16Tests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(AttentionGEMM.cpuHasBFloat16Products, "this CPU has no AVX512_BF16 (with AVX512BW, AVX512VL)")
    }

    private func rounded(_ x: Float) -> Float { floatFromBFloat16(bfloat16FromFloat(x)) }

    func testPackingRoundsToNearestEven() {
        let (rows, cols, lds) = (5, 37, 41)
        var values = randomTensor([rows * lds], seed: 41).scalars
        // Ties: 1 + 2^-8 rounds down to 1, 1 + 3 * 2^-8 up to 1 + 2^-6.
        values[0] = Float(bitPattern: 0x3F80_8000)
        values[1] = Float(bitPattern: 0x3F81_8000)
        let scales: [Float] = [1, 0.5, 3, -1, 0.125]
        var packed = [UInt16](repeating: 0xFFFF, count: rows * 40)
        facet_bf16_pack_rows(&packed, 40, values, lds, scales, rows, cols)
        for i in 0..<rows {
            for j in 0..<cols {
                XCTAssertEqual(packed[i * 40 + j], bfloat16FromFloat(values[i * lds + j] * scales[i]), "row \(i), column \(j)")
            }
            XCTAssertEqual(packed[i * 40 + cols], 0, "the padding column of row \(i)")
            XCTAssertEqual(packed[i * 40 + cols + 1], 0xFFFF, "past the padded row \(i)")
        }
        XCTAssertEqual(packed[0], 0x3F80)
        XCTAssertEqual(packed[1], 0x3F82)

        var pairs = [UInt32](repeating: 0xFFFF_FFFF, count: 3 * 39)
        facet_bf16_pack_row_pairs(&pairs, 39, values, lds, rows, cols)
        for i in 0..<3 {
            for j in 0..<cols {
                let first = bfloat16FromFloat(values[2 * i * lds + j])
                let second = 2 * i + 1 < rows ? bfloat16FromFloat(values[(2 * i + 1) * lds + j]) : 0
                XCTAssertEqual(pairs[i * 39 + j], UInt32(first) | UInt32(second) << 16, "pair row \(i), column \(j)")
            }
            XCTAssertEqual(pairs[i * 39 + cols], 0xFFFF_FFFF, "past the columns of pair row \(i)")
        }

        var transposed = [UInt32](repeating: 0, count: cols * 4)
        facet_transpose_pairs(&transposed, 4, pairs, 39, 3, cols)
        for i in 0..<3 { for j in 0..<cols { XCTAssertEqual(transposed[j * 4 + i], pairs[i * 39 + j]) } }
    }

    /// Rows past a 6-row tile, columns past a vector and a 64-column tile, odd depths and depths
    /// past one 128-pair chunk, strides wider than the matrices; beta 0 (C's NaN must be
    /// overwritten), 1 and another value.
    func testKernelMatchesSgemmOnTheSameBFloat16Values() {
        var generator = RandomGenerator(seed: 42)
        for (m, n, k) in [(1, 1, 1), (6, 16, 2), (7, 17, 5), (13, 64, 129), (64, 70, 300), (5, 130, 257), (70, 24, 64), (3, 33, 513)] {
            for (alpha, beta) in [(Float(1), Float(0)), (0.125, 1), (-2, 0.5)] {
                let lda = k + k % 2 + 4, ldb = n + 3, ldc = n + 2
                let a = Tensor.normal([m * k], generator: &generator), b = Tensor.normal([k * n], generator: &generator)
                var aPacked = [UInt16](repeating: 0, count: m * lda), bPacked = [UInt32](repeating: 0, count: (k + 1) / 2 * ldb)
                facet_bf16_pack_rows(&aPacked, lda, a.data, k, nil, m, k)
                facet_bf16_pack_row_pairs(&bPacked, ldb, b.data, n, k, n)
                let start = Tensor.normal([m * ldc], generator: &generator).scalars
                let expected = Tensor(start, shape: [m * ldc]), actual = Tensor(start, shape: [m * ldc])
                if beta == 0 { actual.data.update(repeating: .nan, count: m * ldc) }
                let (aRounded, bRounded) = (a.narrowedToBFloat16().widened(), b.narrowedToBFloat16().widened())
                BLAS.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, a: aRounded.data, lda: k,
                           b: bRounded.data, ldb: n, beta: beta, c: expected.data, ldc: ldc)
                facet_bf16_gemm(actual.data, ldc, aPacked, lda, bPacked, ldb, m, n, (k + 1) / 2, alpha, beta)
                // Only the m x n block is written: the padding of each row keeps its value.
                if beta == 0 {
                    for i in 0..<m { for j in n..<ldc { actual.data[i * ldc + j] = expected.data[i * ldc + j] } }
                }
                assertClose(actual, expected, atol: 1e-5 * Float(k).squareRoot(), rtol: 1e-5, "\(m)x\(n)x\(k) beta \(beta)")
            }
        }
    }

    private struct Case {
        var batch = 1, queryTokens: Int, keyTokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int
        var window: Int? = nil, segments: [Int32]? = nil
        var name: String

        func geometry(_ gemm: AttentionGEMM) -> AttentionGeometry {
            AttentionGeometry(
                batch: batch, queryTokens: queryTokens, keyTokens: keyTokens, queryHeads: queryHeads, keyValueHeads: kvHeads,
                headDim: headDim, slidingWindow: window, segmentIds: segments, gemm: gemm)
        }
    }

    private var cases: [Case] {
        [
            // Several 64-row blocks, four query heads per KV head, a head of one and a half vectors.
            Case(batch: 2, queryTokens: 150, keyTokens: 150, queryHeads: 8, kvHeads: 2, headDim: 24, name: "GQA"),
            // Queries after cached keys (an odd number of them), a head wider than one 64-column tile.
            Case(queryTokens: 70, keyTokens: 93, queryHeads: 2, kvHeads: 1, headDim: 80, name: "KV cache"),
            // A window whose first visible key is odd, an odd head dimension.
            Case(queryTokens: 131, keyTokens: 131, queryHeads: 3, kvHeads: 3, headDim: 7, window: 51, name: "sliding window"),
            Case(batch: 2, queryTokens: 77, keyTokens: 77, queryHeads: 4, kvHeads: 2, headDim: 16,
                 segments: (0..<(2 * 77)).map { Int32($0 % 77 / 20) }, name: "packed segments"),
        ]
    }

    /// The kernels' forward and backward (out, lse, dq, dk, dv) on one geometry.
    private func run(_ c: Case, _ gemm: AttentionGEMM, q: Tensor, k: Tensor, v: Tensor, dOut: Tensor) -> [Tensor] {
        let g = c.geometry(gemm)
        let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [c.batch, c.queryHeads, c.queryTokens])
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        attentionForward(out.data, lse.data, q.data, k.data, v.data, g)
        attentionBackward(dq: dq.data, dk: dk.data, dv: dv.data, dOut.data, out.data, lse.data, q.data, k.data, v.data, g)
        return [out, lse, dq, dk, dv]
    }

    /// The bfloat16 path's arithmetic in Double: Q, K, V, the probabilities, dOut and the score
    /// gradients rounded to bfloat16 where they enter a product, everything else exact.
    private func roundedReference(_ c: Case, q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, out kernelOut: Tensor) -> [Tensor] {
        let g = c.geometry(.avx512BFloat16), d = c.headDim
        let (qs, ks, vs, dOuts, outs) = (q.scalars, k.scalars, v.scalars, dOut.scalars, kernelOut.scalars)
        var out = [Double](repeating: 0, count: q.count), lse = [Double](repeating: 0, count: c.batch * c.queryHeads * c.queryTokens)
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count), dv = dk
        let r = { (x: Float) in Double(self.rounded(x)) }
        for b in 0..<c.batch {
            for h in 0..<c.queryHeads {
                for i in 0..<c.queryTokens {
                    let position = c.keyTokens - c.queryTokens + i, qo = g.queryOffset(b, i, h)
                    let keys = (0..<c.keyTokens).filter { g.allowed(batch: b, position: position, key: $0) }
                    let scores = keys.map { j in (0..<d).reduce(0.0) { $0 + r(qs[qo + $1]) * r(ks[g.keyOffset(b, j, h) + $1]) } * Double(g.scale) }
                    let top = scores.max()!
                    let logSum = top + Foundation.log(scores.reduce(0.0) { $0 + Foundation.exp($1 - top) })
                    lse[g.rowIndex(b, h, i)] = logSum
                    let p = scores.map { Foundation.exp($0 - logSum) }
                    let rowDot = (0..<d).reduce(0.0) { $0 + Double(dOuts[qo + $1]) * Double(outs[qo + $1]) }
                    for (p, j) in zip(p, keys) {
                        let ko = g.keyOffset(b, j, h)
                        let dp = (0..<d).reduce(0.0) { $0 + r(dOuts[qo + $1]) * r(vs[ko + $1]) }
                        let ds = r(Float(p * (dp - rowDot) * Double(g.scale)))
                        for e in 0..<d {
                            out[qo + e] += r(Float(p)) * r(vs[ko + e])
                            dq[qo + e] += ds * r(ks[ko + e])
                            dk[ko + e] += ds * r(qs[qo + e])
                            dv[ko + e] += r(Float(p)) * r(dOuts[qo + e])
                        }
                    }
                }
            }
        }
        return zip([out, lse, dq, dk, dv], [q.shape, [c.batch, c.queryHeads, c.queryTokens], q.shape, k.shape, v.shape]).map {
            Tensor($0.map(Float.init), shape: $1)
        }
    }

    private func inputs(_ c: Case) -> (Tensor, Tensor, Tensor, Tensor) {
        (randomTensor([c.batch, c.queryTokens, c.queryHeads, c.headDim], seed: 51),
         randomTensor([c.batch, c.keyTokens, c.kvHeads, c.headDim], seed: 52),
         randomTensor([c.batch, c.keyTokens, c.kvHeads, c.headDim], seed: 53),
         randomTensor([c.batch, c.queryTokens, c.queryHeads, c.headDim], seed: 54))
    }

    private func largest(_ t: Tensor) -> Float { t.scalars.map(abs).max() ?? 0 }

    /// Stated tolerance: 0.2% of each tensor's largest element (measured: 1e-7 where no rounding
    /// goes the other way, 6e-4 at most). Each side rounds a probability or a score gradient to
    /// bfloat16 from its own float32 or Double value, so an element near a rounding boundary may
    /// go the other way (2^-8 of that one term).
    func testAttentionMatchesTheSameArithmeticInDouble() {
        for c in cases {
            let (q, k, v, dOut) = inputs(c)
            let actual = run(c, .avx512BFloat16, q: q, k: k, v: v, dOut: dOut)
            let expected = roundedReference(c, q: q, k: k, v: v, dOut: dOut, out: actual[0])
            for (name, (a, e)) in zip(["out", "lse", "dq", "dk", "dv"], zip(actual, expected)) {
                assertClose(a, e, atol: 2e-3 * largest(e), "\(c.name): \(name)")
            }
        }
    }

    /// Stated tolerance against the float32 path: 2% of each tensor's largest element (bfloat16
    /// keeps 8 significant bits of each operand; measured: 0.03-0.25% for lse, 0.2-0.65% for the
    /// outputs and gradients), and a difference that shows the products really ran in bfloat16.
    func testAttentionInBFloat16IsCloseToFloat32() {
        for c in cases {
            let (q, k, v, dOut) = inputs(c)
            let bfloat16 = run(c, .avx512BFloat16, q: q, k: k, v: v, dOut: dOut)
            let float32 = run(c, .preferred, q: q, k: k, v: v, dOut: dOut)
            for (name, (a, e)) in zip(["out", "lse", "dq", "dk", "dv"], zip(bfloat16, float32)) {
                let difference = assertClose(a, e, atol: 2e-2 * largest(e), "\(c.name): \(name)")
                XCTAssertGreaterThan(difference, 1e-4 * largest(e), "\(c.name): \(name) was computed in bfloat16")
            }
        }
    }

    /// `causalAttention(computeDType:)` chooses the path: bfloat16 runs the kernels above, float32
    /// stays bit for bit what it was.
    func testComputeDTypeSelectsThePath() {
        let c = cases[0]
        let (q, k, v, _) = inputs(c)
        let (bfloat16, bfloat16Grads) = forwardBackward([q, k, v]) { causalAttention(query: q, key: k, value: v, computeDType: .bfloat16) }
        let (float32, float32Grads) = forwardBackward([q, k, v]) { causalAttention(query: q, key: k, value: v) }
        let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [c.batch, c.queryHeads, c.queryTokens])
        attentionForward(out.data, lse.data, q.data, k.data, v.data, c.geometry(.avx512BFloat16))
        XCTAssertEqual(bfloat16.scalars, out.scalars)
        attentionForward(out.data, lse.data, q.data, k.data, v.data, c.geometry(.preferred))
        XCTAssertEqual(float32.scalars, out.scalars)
        for (a, b) in zip(bfloat16Grads, float32Grads) { assertClose(a, b, atol: 2e-2 * largest(b), "gradients") }
    }
}
