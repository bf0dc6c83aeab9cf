import Foundation
@testable import Tensor
import TestSupport
import XCTest

/// Every kernel lets NaN and infinity through as IEEE arithmetic would: a NaN in an input
/// reaches the output (and the gradient) of the row it belongs to instead of being clamped,
/// skipped by a max or normalised away. The trainer's non-finite guard relies on it.
final class NonFiniteTests: XCTestCase {
    /// `x` with element `index` set to `value`.
    private func poisoned(_ shape: [Int], seed: UInt64, at index: Int = 0, _ value: Float = .nan) -> Tensor {
        let x = randomTensor(shape, seed: seed)
        x.data[index] = value
        return x
    }

    private func assertAllNaN(_ t: Tensor, _ range: Range<Int>? = nil, _ what: String, line: UInt = #line) {
        for i in range ?? 0..<t.count where !t.data[i].isNaN {
            XCTFail("\(what): element \(i) is \(t.data[i]), expected NaN", line: line)
            return
        }
    }

    private func assertHasNaN(_ t: Tensor?, _ what: String, line: UInt = #line) {
        guard let t else { return XCTFail("\(what): no gradient", line: line) }
        XCTAssertTrue((0..<t.count).contains { t.data[$0].isNaN }, "\(what) has no NaN", line: line)
    }

    func testVectorExpFollowsIEEEOutsideTheNormalRange() {
        let out = exp4(SIMD4(.nan, .infinity, -.infinity, 89))
        XCTAssertTrue(out[0].isNaN)
        XCTAssertEqual(out[1], .infinity)
        XCTAssertEqual(out[2], 0)
        XCTAssertEqual(out[3], .infinity, "e^89 overflows Float")
        XCTAssertEqual(exp4(SIMD4(repeating: 88.7))[0], Foundation.exp(88.7), accuracy: Foundation.exp(88.7) * 1e-6)
    }

    func testRowReductionsPropagateNaN() {
        for position in [0, 5, 36] {  // a full SIMD lane, another lane, the scalar tail
            var values: [Float] = (0..<37).map { Float($0 % 5) }
            values[position] = .nan
            values.withUnsafeBufferPointer { p in
                XCTAssertTrue(maximum(p.baseAddress!, 37).isNaN, "maximum with NaN at \(position)")
                XCTAssertTrue(sumOfExponentials(p.baseAddress!, 37, shift: 1).isNaN, "sum of e^x with NaN at \(position)")
            }
            var out = [Float](repeating: 0, count: 37)
            values.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { scaledExponentials($0.baseAddress!, p.baseAddress!, 37, shift: 0, scale: 1) }
            }
            XCTAssertTrue(out[position].isNaN)
        }
        let infinite: [Float] = [1, .infinity, 2, 3, 4]
        infinite.withUnsafeBufferPointer { XCTAssertEqual(maximum($0.baseAddress!, 5), .infinity) }
        XCTAssertEqual(maximumPropagatingNaN(1, 2), 2)
        XCTAssertTrue(maximumPropagatingNaN(.nan, 2).isNaN)
        XCTAssertTrue(maximumPropagatingNaN(2, .nan).isNaN)
    }

    func testSoftmaxAndLogSoftmax() {
        for log in [false, true] {
            let x = poisoned([2, 9], seed: 1, at: 4)
            let (y, grads) = forwardBackward([x]) { log ? x.logSoftmax() : x.softmax() }
            assertAllNaN(y, 0..<9, "softmax(log: \(log)) of a row with NaN")
            XCTAssertFalse(y.data[9].isNaN, "the other row is untouched")
            assertHasNaN(grads[0], "softmax(log: \(log)) gradient")
            let overflowing = poisoned([1, 9], seed: 2, at: 3, .infinity)
            assertAllNaN(withoutGradients { log ? overflowing.logSoftmax() : overflowing.softmax() }, nil, "softmax with +inf (inf - inf)")
        }
    }

    func testRMSNormPropagatesNaNAndNormalisesHugeFiniteRows() {
        let x = poisoned([2, 8], seed: 3, at: 2), w = randomTensor([8], seed: 4)
        let (y, grads) = forwardBackward([x, w]) { x.rmsNorm(weight: w, eps: 1e-5) }
        assertAllNaN(y, 0..<8, "rmsNorm of a row with NaN")
        assertHasNaN(grads[0], "rmsNorm input gradient")
        assertHasNaN(grads[1], "rmsNorm weight gradient")

        // Squares of 1e30 overflow Float; the row must still come out normalised, not zero.
        let huge = Tensor((0..<8).map { Float($0 % 2 == 0 ? 1e30 : -1e30) }, shape: [1, 8])
        let normalised = withoutGradients { huge.rmsNorm(weight: Tensor.ones([8]), eps: 1e-5) }
        for i in 0..<8 { XCTAssertEqual(normalised.data[i], i % 2 == 0 ? 1 : -1, accuracy: 1e-5) }
        let infinite = poisoned([1, 8], seed: 5, at: 1, .infinity)
        // rstd = 1/inf = 0: the infinite element becomes inf * 0 = NaN (the others 0, as in IEEE and torch).
        let withInfinity = withoutGradients { infinite.rmsNorm(weight: Tensor.ones([8]), eps: 1e-5) }
        XCTAssertTrue(withInfinity.data[1].isNaN)
    }

    func testTokenLogProbs() {
        let hidden = poisoned([3, 8], seed: 6, at: 9), weight = randomTensor([40, 8], seed: 7)
        let (logp, grads) = forwardBackward([hidden, weight]) { tokenLogProbs(hidden: hidden, weight: weight, targets: [1, 2, 3]) }
        XCTAssertTrue(logp.data[1].isNaN, "the row whose hidden state has a NaN")
        XCTAssertFalse(logp.data[0].isNaN)
        assertHasNaN(grads[0], "log-prob hidden gradient")
        assertHasNaN(grads[1], "log-prob weight gradient")

        let frozen = randomTensor([40, 8], seed: 8)
        frozen.data[5 * 8] = .infinity  // one logit of every row is infinite
        let (frozenHead, frozenGrads) = forwardBackward([hidden]) { tokenLogProbs(hidden: hidden, weight: frozen, targets: [1, 2, 3]) }
        XCTAssertTrue((0..<3).allSatisfy { frozenHead.data[$0].isNaN || frozenHead.data[$0] == -.infinity }, "\(frozenHead.data[0])")
        assertHasNaN(frozenGrads[0], "log-prob gradient computed in the forward pass (frozen head)")
    }

    func testAttention() {
        let computeDTypes: [DType] = causalAttentionHasBFloat16Products ? [.float32, .bfloat16] : [.float32]
        for (segments, computeDType) in [nil, [Int32](repeating: 0, count: 6)].flatMap({ s in computeDTypes.map { (s, $0) } }) {
            let q = poisoned([1, 6, 2, 4], seed: 9, at: 2 * 2 * 4)  // query token 2, head 0
            let k = randomTensor([1, 6, 1, 4], seed: 10), v = randomTensor([1, 6, 1, 4], seed: 11)
            let (out, grads) = forwardBackward([q, k, v]) {
                causalAttention(query: q, key: k, value: v, segmentIds: segments, computeDType: computeDType)
            }
            let which = "(segments: \(segments != nil), \(computeDType.rawValue) products)"
            assertAllNaN(out, 2 * 8..<2 * 8 + 4, "attention output of the poisoned query \(which)")
            XCTAssertFalse(out.data[0].isNaN, "earlier tokens do not see it \(which)")
            assertHasNaN(grads[0], "attention query gradient \(which)")
            assertHasNaN(grads[1], "attention key gradient \(which)")

            let key = poisoned([1, 6, 1, 4], seed: 12, at: 4 * 3, .infinity)  // key token 3
            let later = withoutGradients { causalAttention(query: q, key: key, value: v, segmentIds: segments, computeDType: computeDType) }
            XCTAssertTrue(later.data[5 * 8 + 4].isNaN || later.data[5 * 8 + 4].isInfinite, "a later token sees the infinite key \(which)")
        }
    }

    func testElementwiseFusedAndMatmul() {
        let a = poisoned([4, 6], seed: 13, at: 7), b = randomTensor([4, 6], seed: 14)
        // `inGradient`: the op's derivative depends on `a`, so the NaN must reach a's gradient too.
        let ops: [(name: String, inGradient: Bool, op: () -> Tensor)] = [
            ("add", false, { a + b }), ("multiply", false, { a * b }), ("divide", true, { b / a }), ("exp", true, { a.exp() }),
            ("relu", true, { a.relu() }), ("sigmoid", true, { a.sigmoid() }), ("logSigmoid", true, { a.logSigmoid() }),
            ("silu", true, { a.silu() }), ("swiGLU", true, { swiGLU(gate: a, up: b) }), ("sum", false, { a.sum(axis: 1) }),
            ("rope", false, { a.reshaped([1, 4, 1, 6]).rotaryEmbedding(positions: [0, 1, 2, 3], theta: 10000) }),
            ("embedding", false, { a.embedding([1, 0]) }), ("permute", false, { a.transposed(0, 1) }),
        ]
        for (name, inGradient, op) in ops {
            let (out, grads) = forwardBackward([a]) { op() }
            assertHasNaN(out, name)
            if inGradient { assertHasNaN(grads[0], "\(name) gradient") }
        }
        let w = randomTensor([6, 3], seed: 15)
        let (product, grads) = forwardBackward([a, w]) { matmul(a, w) }
        assertAllNaN(product, 3..<6, "matmul row with NaN")
        assertHasNaN(grads[1], "matmul weight gradient")
    }
}
