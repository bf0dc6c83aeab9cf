import Foundation
import Synchronization

private let kernelThreads = Atomic<Int>(max(1, ProcessInfo.processInfo.activeProcessorCount))

/// Number of worker threads for the non-BLAS kernels (all cores unless `setComputeThreads` said).
public var kernelThreadCount: Int { kernelThreads.load(ordering: .relaxed) }

/// Threads of every compute library in this process: Facet's parallel loops, OpenBLAS (loaded
/// first with `BLAS.ensureLoaded`) and oneDNN's OpenMP (read when oneDNN loads). Processes that
/// share a machine (ranks of a data-parallel job) each take their share of the cores.
public func setComputeThreads(_ count: Int) {
    let count = max(1, count)
    kernelThreads.store(count, ordering: .relaxed)
    setenv("OMP_NUM_THREADS", String(count), 1)
    BLAS.setThreadCount(count)
}

/// Runs `body` over contiguous chunks of `0..<count` on all cores. Work smaller than
/// `minimumChunk` items per thread runs on the calling thread.
@inline(__always)
public func parallelChunks(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = min(kernelThreadCount, max(1, count / max(minimumChunk, 1)))
    if chunks == 1 {
        body(0..<count)
        return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        body(start..<end)
    }
}
