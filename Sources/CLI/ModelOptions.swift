import ArgumentParser
import Foundation
import Model
import Tensor
import Tokenizer
import Training

/// `--model DIR`: an HF folder with config.json, safetensors and a tokenizer.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "HF model folder (config.json, *.safetensors, tokenizer.model or tokenizer.json).")
    var model: String

    var directory: URL { URL(fileURLWithPath: model) }

    func loadTokenizer() throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("model folder \(model) does not exist")
        }
        return try Tokenizer.load(modelDirectory: directory)
    }

    func loadModel() throws -> Mistral {
        try BLAS.ensureLoaded()
        return try Mistral.load(directory: directory)
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
