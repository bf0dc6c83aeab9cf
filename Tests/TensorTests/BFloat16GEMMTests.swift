import Tensor
import TestSupport
import XCTest

/// The bfloat16 GEMM path: rounding of activations and the choice of the compute dtype (on every
/// CPU), oneDNN's products against sgemm on the same bfloat16 values, and matmul's forward and
/// input gradient through a bfloat16-compute weight (where the CPU has bfloat16 instructions).
final class BFloat16GEMMTests: XCTestCase {
    private func skipWithoutBFloat16GEMM() throws {
        if BFloat16GEMM.cpuHasBFloat16Instructions {
            XCTAssertNil(BFloat16GEMM.unavailableReason, "this CPU has bfloat16 instructions, so oneDNN must load (`make deps`)")
        }
        try XCTSkipUnless(BFloat16GEMM.isAvailable, "no bfloat16 GEMM here: \(BFloat16GEMM.unavailableReason ?? "")")
    }

    /// bfloat16 weights are multiplied in bfloat16 by default only where the CPU can; asking for
    /// it elsewhere, or for float32 weights, is an error that says why.
    func testComputeDTypeFollowsTheCPU() throws {
        let available = BFloat16GEMM.isAvailable
        XCTAssertEqual(try BFloat16GEMM.computeDType(requested: nil, storage: .bfloat16), available ? .bfloat16 : .float32)
        XCTAssertEqual(try BFloat16GEMM.computeDType(requested: nil, storage: .float32), .float32)
        XCTAssertEqual(try BFloat16GEMM.computeDType(requested: .float32, storage: .bfloat16), .float32)
        XCTAssertThrowsError(try BFloat16GEMM.computeDType(requested: .bfloat16, storage: .float32)) { error in
            XCTAssertTrue("\(error)".contains("store the weights as bfloat16"), "\(error)")
        }
        if available {
            XCTAssertEqual(try BFloat16GEMM.computeDType(requested: .bfloat16, storage: .bfloat16), .bfloat16)
        } else {
            XCTAssertThrowsError(try BFloat16GEMM.computeDType(requested: .bfloat16, storage: .bfloat16)) { error in
                XCTAssertTrue("\(error)".contains(BFloat16GEMM.unavailableReason!), "\(error)")
            }
        }
    }

    func testRoundingMatchesTheScalarConversion() {
        var values = randomTensor([1000], seed: 11).scalars.map { $0 * 1e3 }
        // Subnormals, a negative NaN and a count that leaves a partial 16-lane vector.
        values += [.leastNonzeroMagnitude, -Float(bitPattern: 0x0000_8000), Float(bitPattern: 0xFFC0_0001)]
        values += [0, -0, .infinity, -.infinity, .nan, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), .greatestFiniteMagnitude]
        var rounded = [UInt16](repeating: 0, count: values.count)
        narrowToBFloat16(&rounded, values, values.count)
        for (value, bits) in zip(values, rounded) {
            XCTAssertEqual(bits, bfloat16FromFloat(value), "\(value)")
        }
        XCTAssertEqual(rounded[values.count - 3], 0x3F80, "a tie rounds to even (down)")
        XCTAssertEqual(rounded[values.count - 2], 0x3F82, "a tie rounds to even (up)")
        XCTAssertTrue(floatFromBFloat16(rounded[values.count - 4]).isNaN)
    }

    func testProductsEqualSgemmOnTheSameBFloat16Values() throws {
        try skipWithoutBFloat16GEMM()
        let (m, n, k) = (37, 53, 70)
        let x = randomTensor([m, k], seed: 1).narrowedToBFloat16()
        let w = randomTensor([n, k], seed: 2).narrowedToBFloat16()
        let dy = randomTensor([m, n], seed: 3).narrowedToBFloat16()
        let (xf, wf, dyf) = (x.widened(), w.widened(), dy.widened())
        // y = 0.5 x w^T
        let y = Tensor(zeros: [m, n]), expectedY = Tensor(zeros: [m, n])
        BFloat16GEMM.gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 0.5, a: x.storage.bfloat16s, lda: k,
                          b: w.storage.bfloat16s, ldb: k, beta: 0, c: y.data, ldc: n)
        BLAS.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 0.5, a: xf.data, lda: k, b: wf.data, ldb: k,
                   beta: 0, c: expectedY.data, ldc: n)
        assertClose(y, expectedY, atol: 1e-5, rtol: 1e-5, "x w^T")
        // dx = 1 + dy w, accumulated into ones
        let dx = Tensor.ones([m, k]), expectedDx = Tensor.ones([m, k])
        BFloat16GEMM.gemm(transA: false, transB: false, m: m, n: k, k: n, a: dy.storage.bfloat16s, lda: n,
                          b: w.storage.bfloat16s, ldb: k, beta: 1, c: dx.data, ldc: k)
        BLAS.sgemm(transA: false, transB: false, m: m, n: k, k: n, a: dyf.data, lda: n, b: wf.data, ldb: k,
                   beta: 1, c: expectedDx.data, ldc: k)
        assertClose(dx, expectedDx, atol: 1e-5, rtol: 1e-5, "dy w accumulated")
    }

    func testMatmulWithABFloat16ComputeWeight() throws {
        try skipWithoutBFloat16GEMM()
        let x = randomTensor([2, 5, 24], seed: 4), w = randomTensor([40, 24], seed: 5).narrowedToBFloat16()
        w.computeDType = .bfloat16
        x.requiresGrad = true
        let dy = randomTensor([2, 5, 40], seed: 6)
        let out = matmul(x, w, transposeB: true, alpha: 2)
        out.backward(seed: dy)
        // The same arithmetic in float32: x and dy rounded to bfloat16 first.
        let wf = w.widened()
        let expected = matmul(x.narrowedToBFloat16().widened(), wf, transposeB: true, alpha: 2)
        assertClose(out, expected, atol: 1e-5, rtol: 1e-5, "forward")
        let expectedGradient = matmul(dy.narrowedToBFloat16().widened(), wf, alpha: 2)
        assertClose(try! XCTUnwrap(x.grad), expectedGradient, atol: 1e-5, rtol: 1e-5, "input gradient")
        let widenedPath = matmul(x.detached(), wf, transposeB: true, alpha: 2)
        XCTAssertGreaterThan(zip(out.scalars, widenedPath.scalars).map { abs($0 - $1) }.max()!, 1e-4, "x was rounded")
    }
}
