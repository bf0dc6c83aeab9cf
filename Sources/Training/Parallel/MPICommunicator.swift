import Foundation

/// Open MPI 4 (`libmpi.so.40`), loaded at run time like OpenBLAS and oneDNN. Its handles
/// (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, ...) are the addresses of global objects of the
/// library, found with dlsym like its functions.
struct MPILibrary: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias InitFunction = @convention(c) (UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32
    typealias CommIntFunction = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    typealias AllreduceFunction = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle) -> Int32
    typealias AbortFunction = @convention(c) (Handle, Int32) -> Int32
    typealias FinalizeFunction = @convention(c) () -> Int32
    typealias VersionFunction = @convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32

    static let fileName = "libmpi.so.40"

    let initialize: InitFunction
    let commRank: CommIntFunction
    let commSize: CommIntFunction
    let allreduce: AllreduceFunction
    let abort: AbortFunction
    let finalize: FinalizeFunction
    let libraryVersion: VersionFunction
    let world: Handle
    let float: Handle
    let double: Handle
    let sum: Handle

    /// The library, or why it cannot be used here.
    static let loaded: Result<MPILibrary, ParallelError> = load()

    private static func load() -> Result<MPILibrary, ParallelError> {
        // Global symbols: Open MPI's own plugins (mca_*.so) resolve against libmpi.
        guard let handle = dlopen(fileName, RTLD_NOW | RTLD_GLOBAL) else {
            return .failure(ParallelError("Open MPI could not be loaded (\(fileName)): install openmpi-bin (`make deps`)"))
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let initialize = symbol("MPI_Init", as: InitFunction.self),
              let commRank = symbol("MPI_Comm_rank", as: CommIntFunction.self),
              let commSize = symbol("MPI_Comm_size", as: CommIntFunction.self),
              let allreduce = symbol("MPI_Allreduce", as: AllreduceFunction.self),
              let abort = symbol("MPI_Abort", as: AbortFunction.self),
              let finalize = symbol("MPI_Finalize", as: FinalizeFunction.self),
              let libraryVersion = symbol("MPI_Get_library_version", as: VersionFunction.self),
              let world = dlsym(handle, "ompi_mpi_comm_world"), let float = dlsym(handle, "ompi_mpi_float"),
              let double = dlsym(handle, "ompi_mpi_double"), let sum = dlsym(handle, "ompi_mpi_op_sum")
        else {
            return .failure(ParallelError("the loaded \(fileName) is not Open MPI: it lacks the MPI functions or ompi_mpi_* handles"))
        }
        return .success(MPILibrary(
            initialize: initialize, commRank: commRank, commSize: commSize, allreduce: allreduce, abort: abort, finalize: finalize,
            libraryVersion: libraryVersion, world: world, float: float, double: double, sum: sum))
    }

    /// The name and version `MPI_Get_library_version` starts with, e.g. "Open MPI v4.1.4".
    var version: String {
        var text = [CChar](repeating: 0, count: 8192)
        var length: Int32 = 0
        _ = libraryVersion(&text, &length)
        return String(cString: text).split(whereSeparator: { $0 == "," || $0 == "\n" }).first.map(String.init) ?? "unknown"
    }
}

/// A data-parallel error: MPI missing or failing.
public struct ParallelError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}

/// The ranks of `MPI_COMM_WORLD`. MPI is initialized once per process, by the first instance.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let localSize: Int
    private let library: MPILibrary

    /// Open MPI's version, or why it cannot be loaded; loading does not start MPI.
    public static var availability: Result<String, ParallelError> { MPILibrary.loaded.map(\.version) }

    init() throws {
        library = try MPILibrary.loaded.get()
        try Self.check(library.initialize(nil, nil), "MPI_Init")
        var value: Int32 = 0
        try Self.check(library.commRank(library.world, &value), "MPI_Comm_rank")
        rank = Int(value)
        try Self.check(library.commSize(library.world, &value), "MPI_Comm_size")
        size = Int(value)
        // Set by Open MPI's mpirun; other launchers: one process per machine unless --threads says.
        localSize = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
    }

    private static func check(_ status: Int32, _ call: String) throws {
        guard status == 0 else { throw ParallelError("\(call) failed with MPI error \(status)") }
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, stride: MemoryLayout<Float>.stride, type: library.float)
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, stride: MemoryLayout<Double>.stride, type: library.double)
    }

    /// In place (`MPI_IN_PLACE` is the address 1 in Open MPI), in pieces that fit MPI's Int32 count.
    private func allreduce(_ base: UnsafeMutableRawPointer?, count: Int, stride: Int, type: MPILibrary.Handle) {
        guard let base, count > 0 else { return }
        let inPlace = UnsafeRawPointer(bitPattern: 1)
        let piece = 1 << 30
        for start in Swift.stride(from: 0, to: count, by: piece) {
            let status = library.allreduce(inPlace, base + start * stride, Int32(min(piece, count - start)), type, library.sum, library.world)
            // Open MPI's default error handler aborts the job before returning an error; this is a guard.
            if status != 0 { abort(status: 1) }
        }
    }

    public func abort(status: Int32) -> Never {
        _ = library.abort(library.world, status)
        exit(status)
    }

    public func finish() {
        _ = library.finalize()
    }
}
