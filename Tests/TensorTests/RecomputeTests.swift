import Tensor
import TestSupport
import XCTest

final class RecomputeTests: XCTestCase {
    /// A recomputed block gives the same output and the same gradients (into its input and
    /// into parameters it uses) as the plain one.
    func testRecomputedBlockMatchesThePlainOne() {
        let x = randomTensor([3, 4], seed: 1), w = randomTensor([5, 4], seed: 2), v = randomTensor([5], seed: 3)
        func block(_ input: Tensor) -> Tensor { (matmul(input, w, transposeB: true) + v).silu().sum(axis: 1) }
        let (plain, plainGrads) = forwardBackward([x, w, v]) { block(x * 2) }
        let (replayed, replayedGrads) = forwardBackward([x, w, v]) { recomputed(x * 2, parameters: [w, v], block) }
        assertClose(replayed, plain, atol: 0, "recomputed forward")
        for (a, b) in zip(replayedGrads, plainGrads) { assertClose(a, b, atol: 1e-6, "recomputed gradient") }
    }

    func testFrozenInputStillTrainsTheParameters() {
        let x = randomTensor([2, 4], seed: 4), w = randomTensor([3, 4], seed: 5)
        w.requiresGrad = true
        recomputed(x, parameters: [w]) { matmul($0, w, transposeB: true) }.sum().backward()
        XCTAssertNotNil(w.grad)
        XCTAssertNil(x.grad)
        let expected = x.sum(axis: 0).scalars
        for row in 0..<3 { XCTAssertEqual(Array(w.grad!.scalars[(row * 4)..<(row * 4 + 4)]), expected) }
    }
}
