import ArgumentParser
import Foundation
import Model

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write an HF folder with a randomly initialized Mistral of a preset's shapes and the Mistral tokenizer.")

    @Option(help: "demo | tiny | small | 7b-shape") var preset = "demo"
    @Option(help: "Output folder (must not exist yet).") var out: String
    @Option(help: "Folder holding tokenizer.model to copy.") var tokenizer = "assets/mistral"
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func validate() throws {
        guard MistralConfig.preset(preset) != nil else {
            throw ValidationError("unknown preset '\(preset)' (\(MistralConfig.presetNames.joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors {
            let output = URL(fileURLWithPath: out)
            guard !FileManager.default.fileExists(atPath: output.path) else {
                throw ValidationError("\(out) already exists; init-model never writes over a folder")
            }
            let source = URL(fileURLWithPath: tokenizer)
            guard FileManager.default.fileExists(atPath: source.appendingPathComponent("tokenizer.model").path) else {
                throw ValidationError("\(tokenizer) has no tokenizer.model (`make assets/mistral/tokenizer.model` fetches it)")
            }
            let model = try Mistral.randomlyInitialized(config: MistralConfig.preset(preset)!, seed: seed)
            try MergedExport.write(model, sourceDirectory: source, to: output)
            let parameters = model.namedWeights.reduce(0) { $0 + $1.tensor.count }
            print("wrote a random \(preset) Mistral (\(parameters) parameters) to \(out)")
        }
    }
}
