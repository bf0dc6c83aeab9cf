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
    @OptionGroup var sampling: SamplingArguments

    func run() throws {
        try reportingErrors {
            let tokenizer = try model.loadTokenizer()
            let mistral = try policy.load(model)
            try mistral.check(tokenizer)
            let promptIds = ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer)
            var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
            mistral.generate(prompt: promptIds, options: sampling.options(defaultMaxNewTokens: 256)) { id in
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
