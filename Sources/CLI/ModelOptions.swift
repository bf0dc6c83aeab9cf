import ArgumentParser
import Foundation
import Model
import Tensor
import Tokenizer
import Training

/// `--model DIR|FILE.gguf`: an HF folder with config.json, safetensors and a tokenizer, or a GGUF file.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "HF model folder (config.json, *.safetensors, tokenizer.model or tokenizer.json) or a GGUF file.")
    var model: String

    func source() throws -> ModelSource { try ModelSource(path: model) }

    func loadTokenizer() throws -> Tokenizer { try source().tokenizer() }

    func loadModel() throws -> Mistral {
        try BLAS.ensureLoaded()
        return try source().load()
    }
}

/// `--checkpoint CKPT.h5 | --adapter DIR`: the trained policy on top of `--model`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "A Facet checkpoint (.h5) to apply to the model.") var checkpoint: String?
    @Option(help: "A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors).") var adapter: String?

    func validate() throws {
        if checkpoint != nil && adapter != nil { throw ValidationError("give --checkpoint or --adapter, not both") }
    }

    func load(_ model: ModelOptions) throws -> Mistral {
        let mistral = try model.loadModel()
        if let checkpoint { try Checkpoint.read(URL(fileURLWithPath: checkpoint)).apply(to: mistral) }
        if let adapter { try mistral.attachFrozen(try PEFTAdapter.read(URL(fileURLWithPath: adapter))) }
        return mistral
    }
}
