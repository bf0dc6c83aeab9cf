import ArgumentParser
import Evaluation
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
    @OptionGroup var bestOf: BestOfArguments

    func run() throws {
        try reportingErrors {
            let loaded = try policy.load(model)
            let (mistral, tokenizer) = (loaded.model, loaded.tokenizer)
            let promptIds = ChatTemplate.promptIds(system: system, prompt: prompt, tokenizer: tokenizer, template: loaded.template)
            let options = sampling.options(defaultMaxNewTokens: 256, sampledByDefault: bestOf.bestOf != nil)
            if let chooser = try bestOf.load(model, sampling: options, template: policy.template, policy: loaded.template) {
                let choice = chooser.choose(policy: mistral, prompts: [promptIds], options: [options])[0]
                let rewards = choice.rewards.map { String(format: "%.4f", $0) }.joined(separator: ", ")
                FileHandle.standardError.write(Data("best of \(chooser.samples): rewards [\(rewards)], kept answer \(choice.best + 1)\n".utf8))
                writeOut(tokenizer.decode(choice.answer.filter { $0 != tokenizer.eosId }) + "\n")
                return
            }
            var decoder = Tokenizer.StreamingDecoder(tokenizer: tokenizer)
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
