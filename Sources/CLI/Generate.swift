import ArgumentParser
import Foundation
import Model
import Tokenizer
import Training

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer a prompt under a system message, streaming the text as it is produced.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var policy: PolicyOptions
    @Option(help: "System message (the user's preferences).") var system: String = ""
    @Option(help: "The instruction.") var prompt: String
    @Option(help: "Stop after this many new tokens.") var maxNewTokens = 256
    @Option(help: "Sampling temperature; 0 is greedy decoding.") var temperature: Float = 0
    @Option(help: "Nucleus sampling threshold.") var topP: Float = 1
    @Option(help: "Random seed for sampling.") var seed: UInt64 = 0

    func validate() throws {
        guard maxNewTokens > 0 else { throw ValidationError("--max-new-tokens must be positive") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        try reportingErrors {
            let tokenizer = try model.loadTokenizer()
            let mistral = try policy.load(model)
            try mistral.check(tokenizer)
            let promptIds = ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer)
            var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
            let options = SamplingOptions(maxNewTokens: maxNewTokens, temperature: temperature, topP: topP, seed: seed)
            mistral.generate(prompt: promptIds, options: options) { id in
                if id != tokenizer.eosId { writeOut(decoder.append(id)) }
                return true
            }
            writeOut(decoder.finish() + "\n")
        }
    }

    private func writeOut(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
