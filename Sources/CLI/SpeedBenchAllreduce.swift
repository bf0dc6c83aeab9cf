import ArgumentParser
import Foundation
import Training

struct SpeedBenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time the gradient allreduce of a data-parallel job (run it under mpirun) for a gradient of --floats float32 values.")

    @Option(help: "Floats in the buffer (a 7B LoRA r16 on all seven projections: 40M).") var floats = 40_000_000
    @Option(help: "Timed allreduces after one warm-up.") var repeats = 5
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard floats >= 1, repeats >= 1 else { throw ValidationError("--floats and --repeats must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let parallelism = try Parallelism.start(threads: nil)
            try parallelism.run {
                let seconds = parallelism.communicator.timeAllreduce(floats: floats, repeats: repeats)
                guard parallelism.communicator.isMain else { return }
                let median = seconds.sorted()[seconds.count / 2]
                // Bus bandwidth as NCCL's tests define it for allreduce: 2 (n-1)/n of the buffer per process.
                let size = Double(parallelism.communicator.size)
                let busGBs = 2 * (size - 1) / size * Double(floats * 4) / median / 1e9
                if json {
                    let object: [String: Any] = ["ranks": parallelism.communicator.size, "floats": floats, "allreduce_s_median": median, "allreduce_s": seconds, "bus_gb_per_s": busGBs]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print(String(format: "allreduce of %d floats (%.0f MB) over %@: median %.3f s of %d, bus bandwidth %.2f GB/s",
                                 floats, Double(floats * 4) / 1e6, parallelism.description, median, repeats, busGBs))
                }
            }
        }
    }
}
