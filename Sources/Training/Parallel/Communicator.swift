import Foundation

/// The processes of one data-parallel job and the collective the trainer needs: a sum over
/// every process. The trainer has one code path; a job of one process is `SingleProcess`.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size; rank 0 alone prints, logs and saves.
    var rank: Int { get }
    var size: Int { get }
    /// Processes of the job on this machine, which share its cores.
    var localSize: Int { get }
    /// Replaces `buffer` on every process by its elementwise sum over all processes.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Ends every process of the job with `status`: one failing process must not leave the
    /// others waiting in a collective.
    func abort(status: Int32) -> Never
    /// Leaves the job after the last collective.
    func finish()
}

extension Communicator {
    public var isMain: Bool { rank == 0 }

    /// Returns once every process has called it.
    public func barrier() {
        _ = allreduceSum([0])
    }

    /// The sums of `values` over every process.
    public func allreduceSum(_ values: [Double]) -> [Double] {
        var sums = values
        sums.withUnsafeMutableBufferPointer { allreduceSum($0) }
        return sums
    }
}

/// A job of one process: every reduction is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localSize: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func abort(status: Int32) -> Never { exit(status) }
    public func finish() {}
}

/// How this process was started: alone, or by an MPI launcher (`mpirun`, `srun`), which says so
/// in the environment. Only then is the MPI library loaded, so a machine without MPI runs as one
/// process and needs no MPI library at build or run time.
public enum Launcher {
    /// Variables set by Open MPI's mpirun (OMPI_*), PMIx launchers (srun, prterun) and PMI-1/2.
    static let environmentKeys = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// The launcher variable this process was started with, if any.
    public static var variable: String? {
        let environment = ProcessInfo.processInfo.environment
        return environmentKeys.first { environment[$0] != nil }
    }

    /// The job this process belongs to: `MPICommunicator` under a launcher, else `SingleProcess`.
    public static func communicator() throws -> Communicator {
        guard variable != nil else { return SingleProcess() }
        return try MPICommunicator()
    }
}

extension Communicator {
    /// Seconds of each of `repeats` allreduces of `count` floats (after one warm-up): the cost
    /// a gradient of that size adds to every optimizer step.
    public func timeAllreduce(floats count: Int, repeats: Int) -> [Double] {
        var buffer = [Float](repeating: 1, count: count)
        return buffer.withUnsafeMutableBufferPointer { flat in
            (0...repeats).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                allreduceSum(flat)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }.dropFirst().map { $0 }
        }
    }
}
