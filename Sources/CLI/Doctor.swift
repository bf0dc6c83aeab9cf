import ArgumentParser
import Foundation
import Tensor
import Training

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the BLAS kernel core, threads, HDF5 version and measured GEMM throughput.")

    func run() throws {
        try reportingErrors {
            let parallelism = try Parallelism.start(threads: nil)
            try parallelism.run {
                if parallelism.communicator.isMain { try report(parallelism) }
            }
        }
    }

    private func report(_ parallelism: Parallelism) throws {
        let choice: String
        switch BLAS.coreChoice {
        case .userSet(let value): choice = "OPENBLAS_CORETYPE=\(value) set in the environment"
        case .detected(let value): choice = "\(value) chosen from the CPU's features"
        case .libraryDefault: choice = "OpenBLAS's own detection"
        }
        print("openblas core:    \(BLAS.activeCore) (\(choice))")
        print("openblas threads: \(BLAS.threadCount)")
        print("kernel threads:   \(kernelThreadCount)")
        switch (MPICommunicator.availability, Launcher.variable) {
        case (.success(let version), let variable?):
            print("mpi:              \(version); started by a launcher (\(variable)): \(parallelism.description), "
                  + "\(parallelism.communicator.localSize) on this machine")
        case (.success(let version), nil):
            print("mpi:              \(version) available; not started by a launcher: \(parallelism.description) (mpirun -np N train ... for more)")
        case (.failure(let error), _):
            print("mpi:              unavailable (\(error)); \(parallelism.description)")
        }
        print("hdf5:             \(HDF5Library.version)")
        let gflops = BLAS.measureThroughput()
        print(String(format: "sgemm 512x4096 by 4096x4096: %.1f GFLOP/s", gflops))
        if let reason = BFloat16GEMM.unavailableReason {
            print("bf16 gemm:        unavailable (\(reason)); bfloat16 weights are widened to float32")
        } else {
            print(String(format: "bf16 gemm 512x4096 by 4096x4096 (oneDNN): %.1f GFLOP/s", BFloat16GEMM.measureThroughput()))
        }
    }
}
