import Foundation

extension BLAS {
    /// Measured single-precision GEMM throughput in GFLOP/s: the best of `repeats` products
    /// of an (m x k) by (k x n) matrix, after one warm-up.
    public static func measureThroughput(m: Int = 512, n: Int = 4096, k: Int = 4096, repeats: Int = 3) -> Double {
        var generator = RandomGenerator(seed: 0)
        let a = Tensor.uniform([m, k], low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([k, n], low: -1, high: 1, generator: &generator)
        let c = Tensor(zeros: [m, n])
        return bestThroughput(m: m, n: n, k: k, repeats: repeats) {
            sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
        }
    }
}
