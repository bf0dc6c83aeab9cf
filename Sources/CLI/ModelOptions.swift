import ArgumentParser
import Foundation
import Tensor
import Train

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
