import Foundation
import Tensor
import XCTest

/// Fails unless `actual` and `expected` have the same shape and every element satisfies
/// |actual - expected| <= atol + rtol * |expected| (NaN or infinity in either never does).
/// The failure names the tensor, gives the max abs difference and the first mismatching
/// indices with both values. Returns the max abs difference (infinity on a shape mismatch).
@discardableResult
public func assertClose(
    _ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float = 0, _ name: String,
    file: StaticString = #filePath, line: UInt = #line
) -> Float {
    guard actual.shape == expected.shape else {
        XCTFail("\(name): shape \(actual.shape) differs from expected \(expected.shape)", file: file, line: line)
        return .infinity
    }
    let a = actual.scalars, e = expected.scalars
    var maxDifference: Float = 0
    var maxIndex = 0
    var mismatches = [Int]()
    var mismatchCount = 0
    for i in 0..<a.count {
        let difference = abs(a[i] - e[i])
        let ok = difference.isFinite && difference <= atol + rtol * abs(e[i])
        if difference.isNaN || difference > maxDifference {
            if !maxDifference.isNaN {
                maxDifference = difference
                maxIndex = i
            }
        }
        if !ok {
            mismatchCount += 1
            if mismatches.count < 5 { mismatches.append(i) }
        }
    }
    if mismatchCount > 0 {
        let shape = actual.shape
        let listed = mismatches.map { i in
            "\(multiIndex(i, shape)): \(a[i]) vs \(e[i]) (diff \(abs(a[i] - e[i])))"
        }
        XCTFail(
            "\(name) \(shape): \(mismatchCount) of \(a.count) elements differ beyond atol \(atol), rtol \(rtol); "
                + "max abs diff \(maxDifference) at \(multiIndex(maxIndex, shape)); "
                + "first mismatches (actual vs expected): " + listed.joined(separator: "; "),
            file: file, line: line)
    }
    return maxDifference
}

/// The row-major multi-index of flat element `flat` in `shape`, as "[i, j, k]".
private func multiIndex(_ flat: Int, _ shape: [Int]) -> String {
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return "[" + index.map(String.init).joined(separator: ", ") + "]"
}
