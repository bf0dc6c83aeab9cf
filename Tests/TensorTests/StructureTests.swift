import Tensor
import TestSupport
import XCTest

final class StructureTests: XCTestCase {
    func testMatmulHandComputed() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2])
        let b = Tensor([5, 6, 7, 8], shape: [2, 2])
        XCTAssertEqual(matmul(a, b).scalars, [19, 22, 43, 50])
        XCTAssertEqual(matmul(a, b, transposeB: true).scalars, [17, 23, 39, 53])
        XCTAssertEqual(matmul(a, b, transposeA: true).scalars, [26, 30, 38, 44])
        XCTAssertEqual(matmul(a, b, transposeA: true, transposeB: true).scalars, [23, 31, 34, 46])
    }

    func testMatmulGradients() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let a = randomTensor(ta ? [4, 3] : [3, 4], seed: 1)
            let b = randomTensor(tb ? [5, 4] : [4, 5], seed: 2)
            checkGradients([a, b]) { matmul(a, b, transposeA: ta, transposeB: tb) }
            let batchedA = randomTensor(ta ? [2, 4, 3] : [2, 3, 4], seed: 3)
            let batchedB = randomTensor(tb ? [2, 5, 4] : [2, 4, 5], seed: 4)
            checkGradients([batchedA, batchedB]) { matmul(batchedA, batchedB, transposeA: ta, transposeB: tb) }
        }
        let x = randomTensor([2, 3, 4], seed: 5), w = randomTensor([6, 4], seed: 6)
        checkGradients([x, w]) { matmul(x, w, transposeB: true) }
        checkGradients([x, w]) { matmul(x, w, transposeB: true, alpha: 2.5) }
        let c = randomTensor([2, 4, 3], seed: 7)
        checkGradients([x, c]) { matmul(x, c, alpha: -0.5) }
        XCTAssertEqual(matmul(Tensor([1, 2, 3, 4], shape: [2, 2]), Tensor([5, 6, 7, 8], shape: [2, 2]), alpha: 2).scalars, [38, 44, 86, 100])
    }

    func testBFloat16WeightMatchesWidenedWeight() {
        let x = randomTensor([5, 300], seed: 7)
        let w = randomTensor([4000, 300], seed: 8).narrowedToBFloat16()
        let widened = w.widened()
        let (y16, g16) = forwardBackward([x]) { matmul(x, w, transposeB: true) }
        let (y32, g32) = forwardBackward([x]) { matmul(x, widened, transposeB: true) }
        assertClose(y16, y32, atol: 1e-4, rtol: 1e-5, "bf16 forward")
        assertClose(g16[0], g32[0], atol: 1e-4, rtol: 1e-5, "bf16 input gradient")
        XCTAssertNil(w.grad)
    }

    func testBFloat16RoundTripRoundsToNearestEven() {
        XCTAssertEqual(floatFromBFloat16(bfloat16FromFloat(1.0)), 1.0)
        XCTAssertEqual(floatFromBFloat16(bfloat16FromFloat(1.00390625)), 1.0)  // tie -> even
        XCTAssertEqual(floatFromBFloat16(bfloat16FromFloat(1.01171875)), 1.015625)  // tie -> even (up)
        XCTAssertTrue(floatFromBFloat16(bfloat16FromFloat(.nan)).isNaN)
    }

    func testShapeOps() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(x.reshaped([6, -1]).shape, [6, 4])
        let p = x.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(p.scalars.prefix(6), [0, 4, 8, 12, 16, 20])
        XCTAssertEqual(x.transposed(0, 2).shape, [4, 3, 2])
        XCTAssertEqual(x.slice(axis: 1, 1..<3).scalars.prefix(4), [4, 5, 6, 7])
        XCTAssertEqual(x.slice(axis: 2, 3..<4).scalars, [3, 7, 11, 15, 19, 23])
        let c = Tensor.concatenated([x.slice(axis: 1, 0..<1), x.slice(axis: 1, 1..<3)], axis: 1)
        XCTAssertEqual(c.scalars, x.scalars)

        let y = randomTensor([2, 3, 4], seed: 9)
        checkGradients([y]) { y.reshaped([4, 6]) * y.reshaped([4, 6]) }
        checkGradients([y]) { y.permuted([1, 2, 0]) }
        checkGradients([y]) { y.transposed(0, 1) }
        checkGradients([y]) { y.slice(axis: 2, 1..<3) }
        let z = randomTensor([2, 2, 4], seed: 10)
        checkGradients([y, z]) { Tensor.concatenated([y, z, y], axis: 1) }
    }

    func testEmbeddingAndGather() {
        let table = Tensor([0, 1, 10, 11, 20, 21], shape: [3, 2])
        XCTAssertEqual(table.embedding([2, 0, 2]).scalars, [20, 21, 0, 1, 20, 21])
        XCTAssertEqual(table.narrowedToBFloat16().embedding([1]).scalars, [10, 11])
        XCTAssertEqual(table.gatheringLast([1, 0, 1]).scalars, [1, 10, 21])
        let t = randomTensor([5, 3], seed: 11)
        checkGradients([t]) { t.embedding([4, 1, 4, 0]) }
        checkGradients([t]) { t.gatheringLast([0, 2, 1, 1, 0]) }
    }
}
