import COpenBLAS
import Foundation

/// OpenBLAS, loaded at run time. Debian's OpenBLAS 0.3.21 reads `OPENBLAS_CORETYPE` once, when
/// the library initialises, and on CPUs it does not know it falls back to slow SSE3 kernels.
/// Loading it with dlopen after choosing the core from the CPU's features gives every process
/// (the CLI, the tests, any program using this package) the fast kernels. A value the user
/// set explicitly is honoured.
public enum BLAS {
    public enum CoreChoice: Sendable, Equatable {
        case userSet(String)
        case detected(String)
        case libraryDefault
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    private typealias SgemmFunction = @convention(c) (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32,
        Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
    private typealias CoreNameFunction = @convention(c) () -> UnsafeMutablePointer<CChar>?
    private typealias GetThreadsFunction = @convention(c) () -> Int32
    private typealias SetThreadsFunction = @convention(c) (Int32) -> Void

    private struct Library: @unchecked Sendable {
        let sgemm: SgemmFunction
        let coreName: CoreNameFunction
        let threadCount: GetThreadsFunction
        let setThreadCount: SetThreadsFunction
        let choice: CoreChoice
    }

    private static let library: Result<Library, LoadError> = load()

    private static func load() -> Result<Library, LoadError> {
        let choice: CoreChoice
        if let userValue = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            choice = .userSet(userValue)
        } else if facet_cpu_has_avx512f() != 0 {
            choice = .detected("SkylakeX")
        } else if facet_cpu_has_avx2() != 0 {
            choice = .detected("Haswell")
        } else {
            choice = .libraryDefault
        }
        if case .detected(let core) = choice { setenv("OPENBLAS_CORETYPE", core, 1) }
        // OpenBLAS's idle threads spin (sched_yield) for 2^28 cycles after each GEMM by default,
        // taking the cores from the kernels that run between GEMMs; 2^20 (~0.4 ms) is enough.
        setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0)
        guard let handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libopenblas.so", RTLD_NOW | RTLD_GLOBAL)
        else {
            return .failure(LoadError(description: "OpenBLAS could not be loaded (libopenblas.so.0): install libopenblas-dev (`make deps`)"))
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let sgemm = symbol("cblas_sgemm", as: SgemmFunction.self),
              let coreName = symbol("openblas_get_corename", as: CoreNameFunction.self),
              let threads = symbol("openblas_get_num_threads", as: GetThreadsFunction.self),
              let setThreads = symbol("openblas_set_num_threads", as: SetThreadsFunction.self)
        else {
            return .failure(LoadError(description: "the loaded libopenblas lacks cblas_sgemm or its openblas_* functions"))
        }
        return .success(Library(sgemm: sgemm, coreName: coreName, threadCount: threads, setThreadCount: setThreads, choice: choice))
    }

    /// Loads OpenBLAS now, so a missing library is a readable error rather than a trap later.
    public static func ensureLoaded() throws {
        _ = try library.get()
    }

    private static var loaded: Library {
        switch library {
        case .success(let lib): return lib
        case .failure(let error): fatalError(error.description)
        }
    }

    /// The kernel core OpenBLAS is running (`openblas_get_corename`).
    public static var activeCore: String {
        loaded.coreName().map { String(cString: $0) } ?? "unknown"
    }

    public static var coreChoice: CoreChoice { loaded.choice }
    public static var threadCount: Int { Int(loaded.threadCount()) }

    static func setThreadCount(_ count: Int) { loaded.setThreadCount(Int32(count)) }

    /// Runs `body`, which calls GEMMs from several threads at once, with each GEMM on its
    /// calling thread only; OpenBLAS's thread count is restored afterwards.
    public static func withSingleThreadedGEMMs(_ body: () -> Void) {
        let threads = loaded.threadCount()
        loaded.setThreadCount(1)
        defer { loaded.setThreadCount(threads) }
        body()
    }

    /// Row-major C = alpha * op(A) * op(B) + beta * C, with op(A): m x k, op(B): k x n.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else { return scaleByBeta(c, m: m, n: n, ldc: ldc, beta: beta) }
        loaded.sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// C = beta * C for a product with nothing to sum (k = 0), which the libraries would not touch.
func scaleByBeta(_ c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, beta: Float) {
    guard beta != 1 else { return }
    for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
}
