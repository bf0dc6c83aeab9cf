import ArgumentParser
import Foundation
import Model

@main
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune Mistral-style models on CPU to follow preference system messages.",
        subcommands: [Demo.self, SFT.self, DPO.self, ORPO.self, RM.self, Ablate.self, Eval.self, Score.self, InitModel.self, Generate.self, Tokenize.self, Export.self, Inspect.self, SpeedBench.self, Doctor.self, Report.self, SynthCommand.self, Serve.self])
}

struct SpeedBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: one LoRA training step of a model (default), attention alone, or the data-parallel allreduce.",
        subcommands: [SpeedBenchStep.self, SpeedBenchAttention.self, SpeedBenchAllreduce.self], defaultSubcommand: SpeedBenchStep.self)
}

/// Runs `body`, turning any error into one readable line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        throw reported(error)
    }
}

/// `reportingErrors` for async commands.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        throw reported(error)
    }
}

/// Prints `error` as one line on stderr and returns exit code 1 (an `ExitCode` passes through).
private func reported(_ error: Error) -> Error {
    if error is ExitCode { return error }
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    return ExitCode.failure
}
