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

/// `--template janus|chatml`: how prompts are rendered at inference.
struct TemplateOptions: ParsableArguments {
    @Option(help: "Chat template of the prompts: janus or chatml (default: the data.template of the checkpoint's recipe; without a checkpoint, chatml when the model's own chat template uses <|im_start|>, else janus).")
    var template: ChatTemplate.Kind?

    /// The template given, or the one `checkpoint` was trained with or `model` ships.
    func resolve(_ model: ModelOptions, checkpoint: LoadedCheckpoint?) throws -> ChatTemplate.Kind {
        if let template { return template }
        return try ChatTemplate.template(for: model.source(), checkpoint: checkpoint)
    }
}

extension ChatTemplate.Kind: ExpressibleByArgument {}

/// A model ready to answer: the policy, its tokenizer and the template its prompts take.
struct Policy {
    let model: Mistral
    let tokenizer: Tokenizer
    let template: ChatTemplate.Kind
}

/// `--checkpoint CKPT.h5 | --adapter DIR` and `--template`: the trained policy on top of `--model`.
struct PolicyOptions: ParsableArguments {
    @Option(help: "A Facet checkpoint (.h5) to apply to the model.") var checkpoint: String?
    @Option(help: "A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors).") var adapter: String?
    @OptionGroup var template: TemplateOptions

    func validate() throws {
        if checkpoint != nil && adapter != nil { throw ValidationError("give --checkpoint or --adapter, not both") }
    }

    func load(_ model: ModelOptions) throws -> Policy {
        let tokenizer = try model.loadTokenizer()
        let mistral = try model.loadModel()
        try mistral.check(tokenizer)
        let trained = try checkpoint.map { try Checkpoint.read(URL(fileURLWithPath: $0)) }
        try trained?.apply(to: mistral)
        if let adapter { try mistral.attachFrozen(try PEFTAdapter.read(URL(fileURLWithPath: adapter))) }
        return Policy(model: mistral, tokenizer: tokenizer, template: try template.resolve(model, checkpoint: trained))
    }
}
