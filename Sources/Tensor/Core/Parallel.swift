import Foundation

/// Number of worker threads for the non-BLAS kernels.
public let kernelThreadCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

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
