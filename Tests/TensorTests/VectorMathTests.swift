import Foundation
import CVectorMath
@testable import Tensor
import XCTest

final class VectorMathTests: XCTestCase {
    func testVectorExpMatchesExpToTwoUlps() {
        var worst: Float = 0
        for i in 0...20000 {
            let x = -87 + Float(i) * (175.72 / 20000)
            let expected = Foundation.exp(x)
            let actual = exp4(SIMD4(repeating: x))[0]
            worst = max(worst, abs(actual - expected) / expected)
        }
        XCTAssertLessThan(worst, 2.5e-7, "largest relative error of exp4")
        XCTAssertLessThan(exp4(SIMD4(repeating: -200))[0], 1e-37)
    }

    func testRowReductionsIncludeTheTail() {
        let values: [Float] = (0..<37).map { Float(($0 * 7) % 11) - 3.5 }
        values.withUnsafeBufferPointer { p in
            XCTAssertEqual(maximum(p.baseAddress!, 37), 6.5)
            let expected = values.reduce(Float(0)) { $0 + Foundation.exp($1 - 1) }
            XCTAssertEqual(sumOfExponentials(p.baseAddress!, 37, shift: 1), expected, accuracy: expected * 1e-6)
        }
        var out = [Float](repeating: 0, count: 37)
        values.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { scaledExponentials($0.baseAddress!, p.baseAddress!, 37, shift: 2, scale: -3) }
        }
        for (value, result) in zip(values, out) { XCTAssertEqual(result, -3 * Foundation.exp(value - 2), accuracy: 1e-5 * abs(result)) }
    }

    /// The AVX-512 kernels (CVectorMath) against the portable Swift ones, on every length up to
    /// 70 (all tails of a 16-lane register) and on values over the whole range, including
    /// overflow, underflow, infinities and NaN: e^x bit for bit, sums to float rounding.
    func testAVX512KernelsAgreeWithThePortableOnes() throws {
        guard vectorMathUsesAVX512 else { throw XCTSkip("this CPU has no AVX-512F") }
        var generator = RandomGenerator(seed: 5)
        let specials: [Float] = [.nan, .infinity, -.infinity, 89, -88, 88.72283, -87.33654, 0, -0.0, 1e-30]
        for n in 0...70 {
            var values = (0..<n).map { _ in (generator.nextUniform() - 0.5) * 200 }
            if n > 20 { values[n / 2] = specials[n % specials.count] }
            values.withUnsafeBufferPointer { x in
                let p = x.baseAddress!
                let shift = n > 0 ? values[0] : 0
                XCTAssertEqual(facet_maximum_avx512(p, n).bitPattern, portableMaximum(p, n).bitPattern, "maximum, n = \(n)")
                var fast = [Float](repeating: 7, count: n), portable = [Float](repeating: 7, count: n)
                let fastSum = facet_exponentials_and_sum_avx512(&fast, p, n, shift)
                let portableSum = portableExponentialsAndSum(&portable, p, n, shift: shift)
                XCTAssertEqual(fast.map(\.bitPattern), portable.map(\.bitPattern), "e^x, n = \(n)")
                XCTAssertEqual(facet_exponentials_and_sum_avx512(nil, p, n, shift).bitPattern, fastSum.bitPattern)
                if portableSum.isFinite {
                    XCTAssertEqual(fastSum, portableSum, accuracy: abs(portableSum) * 1e-6, "sum, n = \(n)")
                } else {
                    XCTAssertEqual(fastSum.isNaN, portableSum.isNaN, "sum, n = \(n)")
                }
                facet_scaled_exponentials_avx512(&fast, p, n, shift, -0.25)
                portableScaledExponentials(&portable, p, n, shift: shift, scale: -0.25)
                XCTAssertEqual(fast.map(\.bitPattern), portable.map(\.bitPattern), "scaled e^x, n = \(n)")
            }
        }
    }

    /// SwiGLU's AVX-512 kernels against the portable ones, bit for bit, on every length up to 40
    /// (tails of both vector widths), large gates of both signs, infinities and NaN, with and
    /// without each gradient.
    func testSwiGLUKernelsAgreeWithThePortableOnes() throws {
        guard vectorMathUsesAVX512 else { throw XCTSkip("this CPU has no AVX-512F") }
        var generator = RandomGenerator(seed: 6)
        let specials: [Float] = [.nan, .infinity, -.infinity, 100, -100, 0]
        for n in 0...40 {
            var gate = (0..<n).map { _ in (generator.nextUniform() - 0.5) * 30 }
            if n > 10 { gate[n / 2] = specials[n % specials.count] }
            let up = (0..<n).map { _ in generator.nextUniform() - 0.5 }
            let dy = (0..<n).map { _ in generator.nextUniform() - 0.5 }
            var fast = [Float](repeating: 0, count: n), portable = fast
            facet_swiglu_forward_avx512(&fast, gate, up, n)
            portableSwiGLUForward(&portable, gate, up, n)
            XCTAssertEqual(fast.map(\.bitPattern), portable.map(\.bitPattern), "forward, n = \(n)")
            for (withGate, withUp) in [(true, true), (true, false), (false, true)] {
                var fastGate = dy, fastUp = up, portableGate = dy, portableUp = up
                fastGate.withUnsafeMutableBufferPointer { g in
                    fastUp.withUnsafeMutableBufferPointer { u in
                        facet_swiglu_backward_avx512(withGate ? g.baseAddress : nil, withUp ? u.baseAddress : nil, dy, gate, up, n)
                    }
                }
                portableGate.withUnsafeMutableBufferPointer { g in
                    portableUp.withUnsafeMutableBufferPointer { u in
                        portableSwiGLUBackward(
                            dGate: withGate ? g.baseAddress : nil, dUp: withUp ? u.baseAddress : nil, dy, gate, up, n)
                    }
                }
                XCTAssertEqual(fastGate.map(\.bitPattern), portableGate.map(\.bitPattern), "gate gradient, n = \(n)")
                XCTAssertEqual(fastUp.map(\.bitPattern), portableUp.map(\.bitPattern), "up gradient, n = \(n)")
            }
        }
    }
}
