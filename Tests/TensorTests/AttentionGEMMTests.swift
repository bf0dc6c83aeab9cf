import Foundation
@testable import Tensor
import TestSupport
import XCTest

/// Attention's AVX-512 GEMMs (CVectorMath, operands read in place) against OpenBLAS's sgemm:
/// the kernel alone on every kind of tail, then whole attention passes on both paths.
final class AttentionGEMMTests: XCTestCase {
    private func requireAVX512() throws {
        guard vectorMathUsesAVX512 else { throw XCTSkip("this CPU has no AVX-512F") }
    }

    /// Rows past a 6-row tile, columns past a 16-lane vector and a 64-column tile, depth past a
    /// 128-deep chunk; A plain or transposed; strides wider than the matrices; beta 0 (C's NaN
    /// must be overwritten), 1 and another value.
    func testKernelMatchesSgemm() throws {
        try requireAVX512()
        var generator = RandomGenerator(seed: 21)
        for (m, n, k) in [(1, 1, 1), (6, 16, 64), (7, 17, 5), (13, 64, 129), (64, 70, 300), (5, 130, 257), (70, 24, 64)] {
            for transA in [false, true] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.125, 1), (-2, 0.5)] {
                    let lda = (transA ? m : k) + 3, ldb = n + 5, ldc = n + 2
                    let a = Tensor.normal([(transA ? k : m) * lda], generator: &generator)
                    let b = Tensor.normal([k * ldb], generator: &generator)
                    let start = Tensor.normal([m * ldc], generator: &generator).scalars
                    let expected = Tensor(start, shape: [m * ldc]), actual = Tensor(start, shape: [m * ldc])
                    if beta == 0 { actual.data.update(repeating: .nan, count: m * ldc) }
                    BLAS.sgemm(transA: transA, transB: false, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda,
                               b: b.data, ldb: ldb, beta: beta, c: expected.data, ldc: ldc)
                    avx512GEMM(m: m, n: n, k: k, alpha: alpha, a: a.data, aRowStride: transA ? 1 : lda,
                               aDepthStride: transA ? lda : 1, b: b.data, ldb: ldb, beta: beta, c: actual.data, ldc: ldc)
                    // Only the m x n block is written: the padding of each row keeps its value.
                    if beta == 0 {
                        for i in 0..<m { for j in n..<ldc { actual.data[i * ldc + j] = expected.data[i * ldc + j] } }
                    }
                    assertClose(actual, expected, atol: 1e-5 * Float(k).squareRoot(), "\(m)x\(n)x\(k) transA \(transA) beta \(beta)")
                }
            }
        }
    }

    private func attentionOnBothPaths(
        batch: Int, queryTokens: Int, keyTokens: Int, queryHeads: Int, kvHeads: Int, headDim: Int,
        window: Int? = nil, segments: [Int32]? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let q = randomTensor([batch, queryTokens, queryHeads, headDim], seed: 31)
        let k = randomTensor([batch, keyTokens, kvHeads, headDim], seed: 32)
        let v = randomTensor([batch, keyTokens, kvHeads, headDim], seed: 33)
        let dOut = randomTensor(q.shape, seed: 34)
        var results = [[Tensor]]()
        for gemm in [AttentionGEMM.openBLAS, .avx512] {
            let geometry = AttentionGeometry(
                batch: batch, queryTokens: queryTokens, keyTokens: keyTokens, queryHeads: queryHeads, keyValueHeads: kvHeads,
                headDim: headDim, slidingWindow: window, segmentIds: segments, gemm: gemm)
            let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [batch, queryHeads, queryTokens])
            let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
            attentionForward(out.data, lse.data, q.data, k.data, v.data, geometry)
            attentionBackward(dq: dq.data, dk: dk.data, dv: dv.data, dOut.data, out.data, lse.data, q.data, k.data, v.data, geometry)
            results.append([out, lse, dq, dk, dv])
        }
        for (name, (blas, avx)) in zip(["out", "lse", "dq", "dk", "dv"], zip(results[0], results[1])) {
            assertClose(avx, blas, atol: 2e-5, rtol: 1e-5, "attention \(name)", file: file, line: line)
        }
    }

    func testAttentionAgreesOnBothGEMMPaths() throws {
        try requireAVX512()
        // Several 64-row blocks, four query heads per KV head, a head of one and a half vectors.
        attentionOnBothPaths(batch: 2, queryTokens: 150, keyTokens: 150, queryHeads: 8, kvHeads: 2, headDim: 24)
        // A head wider than one 64-column tile; queries after cached keys.
        attentionOnBothPaths(batch: 1, queryTokens: 70, keyTokens: 93, queryHeads: 2, kvHeads: 1, headDim: 80)
        attentionOnBothPaths(batch: 1, queryTokens: 130, keyTokens: 130, queryHeads: 3, kvHeads: 3, headDim: 8, window: 50)
        let segments = (0..<(2 * 77)).map { Int32($0 % 77 / 20) }
        attentionOnBothPaths(batch: 2, queryTokens: 77, keyTokens: 77, queryHeads: 4, kvHeads: 2, headDim: 16, segments: segments)
    }
}
