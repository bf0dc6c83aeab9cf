import Tensor
import TestSupport
import XCTest

final class ElementwiseTests: XCTestCase {
    func testHandComputedArithmeticWithTrailingBroadcast() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([10, 20, 30], shape: [3])
        XCTAssertEqual((a + b).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((b - a).scalars, [9, 18, 27, 6, 15, 24])
        XCTAssertEqual((a * b).scalars, [10, 40, 90, 40, 100, 180])
        XCTAssertEqual((b / a).shape, [2, 3])
        XCTAssertEqual((a * 2 + 1).scalars, [3, 5, 7, 9, 11, 13])
        XCTAssertEqual((1 - a).scalars, [0, -1, -2, -3, -4, -5])
        XCTAssertEqual((a * Tensor.scalar(3)).scalars, [3, 6, 9, 12, 15, 18])
    }

    func testBinaryGradients() {
        for (shapeA, shapeB) in [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([4], [2, 3, 4]), ([2, 3], [])] {
            let a = randomTensor(shapeA, seed: 1), b = randomTensor(shapeB, seed: 2) + 3
            checkGradients([a, b]) { a + b }
            checkGradients([a, b]) { a - b }
            checkGradients([a, b]) { a * b }
            checkGradients([a, b]) { a / b }
        }
    }

    func testUnaryGradients() {
        let x = randomTensor([3, 5], seed: 3)
        let positive = randomTensor([3, 5], seed: 4).squared() + 0.5
        checkGradients([x]) { x.exp() }
        checkGradients([positive]) { positive.log() }
        checkGradients([positive]) { positive.squareRoot() }
        checkGradients([x]) { x.squared() }
        checkGradients([x]) { x.sigmoid() }
        checkGradients([x]) { x.logSigmoid() }
        checkGradients([x]) { x.silu() }
        checkGradients([x]) { -x * 3 + 2 }
        checkGradients([x]) { 1 - x / 4 }
        let awayFromKink = Tensor([-2, -1, -0.5, 0.5, 1, 2], shape: [6])
        checkGradients([awayFromKink]) { awayFromKink.relu() }
    }

    func testLogSigmoidIsStableForLargeInputs() {
        let x = Tensor([-200, -20, 0, 20, 200], shape: [5])
        let y = x.logSigmoid().scalars
        XCTAssertEqual(y[0], -200, accuracy: 1e-4)
        XCTAssertEqual(y[2], -Float(M_LN2), accuracy: 1e-6)
        XCTAssertEqual(y[4], 0, accuracy: 1e-6)
        XCTAssertTrue(y.allSatisfy { $0.isFinite })
    }

    func testReductions() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(x.sum().item, 21)
        XCTAssertEqual(x.mean().item, 3.5)
        XCTAssertEqual(x.sum(axis: 0).scalars, [5, 7, 9])
        XCTAssertEqual(x.sum(axis: -1).scalars, [6, 15])
        XCTAssertEqual(x.mean(axis: 1).scalars, [2, 5])
        let y = randomTensor([2, 3, 4], seed: 5)
        checkGradients([y]) { y.sum() }
        checkGradients([y]) { y.mean() }
        for axis in 0..<3 {
            checkGradients([y]) { y.sum(axis: axis) }
            checkGradients([y]) { y.mean(axis: axis) }
        }
    }

    func testSoftmaxFamily() {
        let x = Tensor([0, Float(M_LN2), 1, 1], shape: [2, 2])
        let p = x.softmax().scalars
        XCTAssertEqual(p[0], 1.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(p[1], 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(p[2], 0.5, accuracy: 1e-6)
        XCTAssertEqual(x.logSoftmax().scalars[1], Float(Foundation.log(2.0 / 3)), accuracy: 1e-6)
        let y = randomTensor([3, 7], seed: 6, scale: 3)
        checkGradients([y]) { y.softmax() }
        checkGradients([y]) { y.logSoftmax() }
    }

    func testDropoutKeepsExpectationAndGradientMask() {
        let x = Tensor.ones([10000])
        var generator = RandomGenerator(seed: 7)
        let y = x.dropout(0.25, generator: &generator)
        let zeros = y.scalars.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 10000, 0.25, accuracy: 0.02)
        XCTAssertEqual(y.mean().item, 1, accuracy: 0.03)
        let z = randomTensor([4, 5], seed: 8)
        checkGradients([z]) {
            var g = RandomGenerator(seed: 9)
            return z.dropout(0.5, generator: &g)
        }
    }

    func testWithoutGradientsRecordsNothing() {
        let w = randomTensor([3], seed: 10)
        w.requiresGrad = true
        let y = withoutGradients { (w * 2).sum() }
        XCTAssertFalse(y.needsGrad)
        let frozen = randomTensor([3], seed: 11)
        XCTAssertFalse((frozen * 2).needsGrad, "ops on frozen tensors must not record a graph")
        let z = (w * frozen).sum()
        z.backward()
        XCTAssertNil(frozen.grad)
        XCTAssertEqual(w.grad!.scalars, frozen.scalars)
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let w = Tensor([1, 2], shape: [2])
        w.requiresGrad = true
        (w * 3).sum().backward()
        (w * 3).sum().backward()
        XCTAssertEqual(w.grad!.scalars, [6, 6])
    }

    func testSharedInputAccumulatesBothPaths() {
        let x = randomTensor([4], seed: 12)
        checkGradients([x]) { x * x + x.exp() * x }
    }
}
