import ArgumentParser
import Evaluation
import Foundation

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a small synthetic Multifaceted Collection and Bench for the CPU demo.",
        discussion: """
        Writes train.jsonl, pairs.jsonl, pairs-heldout.jsonl, eval.jsonl and bench.jsonl into the \
        folder (overwriting those five files, leaving any other file alone). Benchmark instructions \
        and preference combinations never occur in training.
        """)

    @Option(help: "Output folder (created if needed).") var out: String
    @Option(help: "Training instructions (three system messages each).") var instructions = SynthOptions().instructions
    @Option(help: "Benchmark instructions (three held-out system messages each).") var benchInstructions = SynthOptions().benchInstructions
    @Option(help: "Random seed.") var seed: UInt64 = SynthOptions().seed

    func validate() throws {
        guard instructions >= 1 else { throw ValidationError("--instructions must be at least 1, found \(instructions)") }
        guard benchInstructions >= 1 else {
            throw ValidationError("--bench-instructions must be at least 1, found \(benchInstructions)")
        }
    }

    func run() throws {
        try reportingErrors {
            let options = SynthOptions(instructions: instructions, benchInstructions: benchInstructions, seed: seed)
            let dataset = Synth.generate(options)
            try Synth.write(dataset, to: URL(fileURLWithPath: out))
            print("wrote \(Synth.fileNames.joined(separator: ", ")) to \(out)")
            print("train: \(dataset.train.count) records (\(dataset.trainInstructions) instructions x \(Synth.systemMessagesPerInstruction) system messages), \(dataset.pairs.count) pairs")
            print("bench: \(dataset.bench.count) records (\(dataset.benchInstructions) unseen instructions), \(dataset.heldOutPairs.count) held-out pairs")
            print("preference combinations: \(dataset.trainingCombinations.count) in training, \(dataset.heldOutCombinations.count) held out for the bench")
        }
    }
}
