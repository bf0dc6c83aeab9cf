import Foundation
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
}
