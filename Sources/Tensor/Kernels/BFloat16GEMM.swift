import COpenBLAS
import Foundation

/// bfloat16 x bfloat16 -> float32 GEMMs on the CPU's bfloat16 instructions (AVX512_BF16, AMX),
/// through oneDNN, the library PyTorch uses on CPU. Like OpenBLAS it is loaded at run time, so
/// a machine without oneDNN or without those instructions still runs every float32 path.
public enum BFloat16GEMM {
    private typealias GemmFunction = @convention(c) (
        CChar, CChar, Int64, Int64, Int64, Float, UnsafePointer<UInt16>?, Int64, UnsafePointer<UInt16>?, Int64,
        Float, UnsafeMutablePointer<Float>?, Int64
    ) -> Int32

    private struct Library: @unchecked Sendable {
        let gemm: GemmFunction
    }

    private static let library: Result<Library, BLAS.LoadError> = load()

    /// Whether the CPU has bfloat16 dot-product instructions (AVX512_BF16) or AMX tiles.
    public static var cpuHasBFloat16Instructions: Bool { facet_cpu_has_avx512_bf16() != 0 || facet_cpu_has_amx_bf16() != 0 }

    private static func load() -> Result<Library, BLAS.LoadError> {
        guard cpuHasBFloat16Instructions else {
            return .failure(BLAS.LoadError(description: "this CPU has no bfloat16 instructions (AVX512_BF16 or AMX)"))
        }
        // oneDNN runs on OpenMP, whose idle threads spin by default and would take the cores
        // from the kernels that run between GEMMs.
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0)
        guard let handle = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL) ?? dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL) else {
            return .failure(BLAS.LoadError(description: "oneDNN could not be loaded (libdnnl.so.2): install libdnnl-dev (`make deps`)"))
        }
        // Exported by oneDNN 2.x with the same row-major convention as its documented
        // dnnl_sgemm, though its header does not declare it.
        guard let symbol = dlsym(handle, "dnnl_gemm_bf16bf16f32") else {
            return .failure(BLAS.LoadError(description: "the loaded oneDNN lacks dnnl_gemm_bf16bf16f32"))
        }
        return .success(Library(gemm: unsafeBitCast(symbol, to: GemmFunction.self)))
    }

    /// Why the bfloat16 path is not available here, or nil when it is.
    public static var unavailableReason: String? {
        if case .failure(let error) = library { return error.description }
        return nil
    }

    public static var isAvailable: Bool { unavailableReason == nil }

    /// How weights stored as `storage` are multiplied: `requested`, or by default bfloat16 for
    /// bfloat16 weights where this machine can, float32 otherwise.
    public static func computeDType(requested: DType?, storage: DType) throws -> DType {
        switch (requested, storage) {
        case (.bfloat16, .float32):
            throw BLAS.LoadError(description: "bfloat16 compute multiplies bfloat16 weights; store the weights as bfloat16")
        case (.bfloat16, .bfloat16):
            if let unavailableReason { throw BLAS.LoadError(description: "bfloat16 compute is not available: \(unavailableReason)") }
            return .bfloat16
        case (nil, .bfloat16):
            return isAvailable ? .bfloat16 : .float32
        default:
            return .float32
        }
    }

    /// Row-major C = alpha * op(A) * op(B) + beta * C with bfloat16 A and B, float32 C;
    /// op(A): m x k, op(B): k x n.
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<UInt16>, lda: Int,
        b: UnsafePointer<UInt16>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else { return scaleByBeta(c, m: m, n: n, ldc: ldc, beta: beta) }
        guard case .success(let lib) = library else { fatalError("BFloat16GEMM: \(unavailableReason ?? "")") }
        let flag = { (transposed: Bool) in CChar(UInt8(ascii: transposed ? "T" : "N")) }
        let status = lib.gemm(
            flag(transA), flag(transB), Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        require(status == 0, "BFloat16GEMM: oneDNN returned status \(status) for \(m)x\(k) by \(k)x\(n)")
    }

    /// Measured throughput in GFLOP/s, as `BLAS.measureThroughput` for sgemm: the best of
    /// `repeats` products of (m x k) by (k x n) bfloat16 matrices after one warm-up.
    public static func measureThroughput(m: Int = 512, n: Int = 4096, k: Int = 4096, repeats: Int = 3) -> Double {
        var generator = RandomGenerator(seed: 0)
        let a = Tensor.uniform([m, k], low: -1, high: 1, generator: &generator).narrowedToBFloat16()
        let b = Tensor.uniform([k, n], low: -1, high: 1, generator: &generator).narrowedToBFloat16()
        let c = Tensor(zeros: [m, n])
        return bestThroughput(m: m, n: n, k: k, repeats: repeats) {
            gemm(transA: false, transB: false, m: m, n: n, k: k, a: a.storage.bfloat16s, lda: k, b: b.storage.bfloat16s, ldb: n,
                 beta: 0, c: c.data, ldc: n)
        }
    }
}

/// GFLOP/s of the fastest of `repeats` runs of an (m x k) by (k x n) product, after one warm-up.
func bestThroughput(m: Int, n: Int, k: Int, repeats: Int, _ product: () -> Void) -> Double {
    var best = Double.infinity
    for run in 0...repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        product()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if run > 0 { best = min(best, seconds) }
    }
    return 2 * Double(m) * Double(n) * Double(k) / best / 1e9
}
