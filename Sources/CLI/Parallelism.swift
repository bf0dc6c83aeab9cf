import ArgumentParser
import Foundation
import Tensor
import Training

/// The data-parallel job this `train` process is part of (one process unless an MPI launcher
/// started it) and the threads it computes with: the machine's cores shared by the job's
/// processes on it, unless `--threads` says.
struct Parallelism {
    let communicator: Communicator
    let threads: Int

    /// Loads OpenBLAS, joins the job and sets the threads of every compute library.
    static func start(threads requested: Int?) throws -> Parallelism {
        try BLAS.ensureLoaded()
        let communicator = try Launcher.communicator()
        let threads = requested ?? max(1, ProcessInfo.processInfo.activeProcessorCount / communicator.localSize)
        // Alone on a machine, the libraries keep their own defaults (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS).
        if requested != nil || communicator.localSize > 1 { setComputeThreads(threads) }
        return Parallelism(communicator: communicator, threads: threads)
    }

    /// "2 ranks x 1 thread per rank" for the log headers.
    var description: String {
        let size = communicator.size
        return "\(size) \(size == 1 ? "rank" : "ranks") x \(threads) \(threads == 1 ? "thread" : "threads") per rank"
    }

    /// Runs `body` and leaves the job. In a job of several processes, an error on one of them
    /// (printed with its rank) ends them all: the others would wait for it in the next allreduce.
    func run(_ body: () throws -> Void) throws {
        do {
            try body()
            communicator.finish()
        } catch let exit as ExitCode {
            communicator.finish()
            throw exit
        } catch where communicator.size > 1 {
            FileHandle.standardError.write(Data("error (rank \(communicator.rank) of \(communicator.size)): \(error)\n".utf8))
            communicator.abort(status: 1)
        }
    }
}
