import Foundation
@testable import Tensor
import TestSupport
import XCTest

/// LoRA's rank-r products (`thinGEMM`) against OpenBLAS's sgemm, on the shapes of every product
/// of `loraLinear`: C split by rows and by 16-column strips, ranks that are not a multiple of
/// 16, a transposed A and B, and the same result on one thread as on all of them.
final class ThinGEMMTests: XCTestCase {
    func testMatchesSgemmOnEveryLoRAProduct() throws {
        guard vectorMathUsesAVX512 else { throw XCTSkip("this CPU has no AVX-512F: thinGEMM is OpenBLAS's sgemm") }
        var generator = RandomGenerator(seed: 41)
        for (rows, inFeatures, outFeatures, rank) in [(300, 260, 700, 16), (97, 130, 45, 5), (64, 1000, 33, 24)] {
            // (transA, transB, m, n, k, lda, ldb): A and B as loraLinear stores them.
            let products: [(Bool, Bool, Int, Int, Int, Int, Int)] = [
                (false, true, rows, rank, inFeatures, inFeatures, inFeatures),  // d A^T
                (false, true, rows, outFeatures, rank, rank, rank),  // mid B^T
                (true, false, outFeatures, rank, rows, outFeatures, rank),  // dy^T mid
                (false, false, rows, rank, outFeatures, outFeatures, rank),  // dy B
                (true, false, rank, inFeatures, rows, rank, inFeatures),  // dMid^T d
                (false, false, rows, inFeatures, rank, rank, inFeatures),  // dMid A
            ]
            for (transA, transB, m, n, k, lda, ldb) in products {
                let a = Tensor.normal([m * k], generator: &generator), b = Tensor.normal([k * n], generator: &generator)
                let start = Tensor.normal([m * n], generator: &generator).scalars
                for beta in [Float(0), 1] {
                    let expected = Tensor(start, shape: [m * n])
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda, b: b.data, ldb: ldb,
                               beta: beta, c: expected.data, ldc: n)
                    var results = [Tensor]()
                    for threads in [1, kernelThreadCount] {
                        let actual = Tensor(start, shape: [m * n])
                        if beta == 0 { actual.data.update(repeating: .nan, count: m * n) }
                        withKernelThreads(threads) {
                            thinGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda, b: b.data,
                                     ldb: ldb, beta: beta, c: actual.data, ldc: n)
                        }
                        results.append(actual)
                    }
                    let shape = "\(m)x\(n)x\(k) transA \(transA) transB \(transB) beta \(beta)"
                    assertClose(results[0], expected, atol: 1e-5 * Float(k).squareRoot(), shape)
                    XCTAssertEqual(results[0].scalars, results[1].scalars, "\(shape): one thread and \(kernelThreadCount) differ")
                }
            }
        }
    }

    private func withKernelThreads(_ count: Int, _ body: () -> Void) {
        let saved = kernelThreadCount
        setComputeThreads(count)
        defer { setComputeThreads(saved) }
        body()
    }
}
