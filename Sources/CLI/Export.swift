import ArgumentParser
import Foundation
import Model
import Tensor
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint as a PEFT adapter, a merged HF model folder or a merged GGUF file.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case peft, merged, gguf
    }

    @Argument(help: "The checkpoint (.h5); a merged or gguf export of a plain --model needs none.") var checkpoint: String?
    @Option(help: "peft: adapter_config.json + adapter_model.safetensors; merged: an HF folder with the adapters folded in; gguf: one GGUF file (llama.cpp's Llama conventions, F16 matrices).")
    var format: Format
    @Option(help: "Output folder, or file for gguf (must not exist yet).") var out: String
    @Option(help: "Base model folder or GGUF file (default: the checkpoint's base_model).") var model: String?

    func validate() throws {
        if checkpoint == nil && (format == .peft || model == nil) {
            throw ValidationError("give a checkpoint (or, for --format merged or gguf, a --model to convert)")
        }
    }

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            let loaded = try checkpoint.map { try Checkpoint.read(URL(fileURLWithPath: $0)) }
            let output = URL(fileURLWithPath: out)
            guard !FileManager.default.fileExists(atPath: output.path) else {
                throw ValidationError("\(out) already exists; export never writes over it")
            }
            guard let base = model ?? loaded?.baseModel else { throw ValidationError("give a checkpoint or --model") }
            if format == .peft, let loaded {
                guard loaded.rewardHead == nil else {
                    throw ValidationError("\(checkpoint ?? "") is a reward model, whose score head a PEFT adapter does not carry: use --format merged")
                }
                guard !loaded.adapters.isEmpty, loaded.baseWeights.isEmpty else {
                    throw ValidationError("\(checkpoint ?? "") holds full fine-tuned weights (its own or of the stage it continued from), which an adapter cannot carry: use --format merged")
                }
                try PEFTAdapter.write(loaded.baseAdapters + loaded.adapters, baseModel: base, to: output)
                print("wrote PEFT adapter (\(loaded.adapters.count) modules) to \(out)")
                return
            }
            if format == .gguf, loaded?.rewardHead != nil {
                throw ValidationError("\(checkpoint ?? "") is a reward model, whose score head GGUF's llama architecture cannot carry: use --format merged")
            }
            let source = try ModelSource(path: base)
            // A reward model stays float32: merged into bf16 weights, the tiny model's rewards moved by up to 8e-3.
            let adaptersOnly = loaded.map { $0.weights.isEmpty && $0.baseWeights.isEmpty && $0.rewardHead == nil } ?? true
            let savedDType = try source.config().savedDType
            let dtype: DType = format == .merged && adaptersOnly && savedDType == "bfloat16" ? .bfloat16 : .float32
            let mistral = try source.load(dtype: dtype)
            try loaded?.apply(to: mistral)
            if format == .gguf {
                if case .gguf(let url) = source {
                    try GGUFExport.write(mistral, type: .f16, carrying: try GGUFFile(url: url), to: output)
                } else {
                    try GGUFExport.write(mistral, type: .f16, carrying: nil, to: output)
                }
                print("wrote merged F16 GGUF model to \(out)")
            } else {
                // A GGUF source has no tokenizer files to copy (the URL names a file, not a folder).
                try MergedExport.write(mistral, sourceDirectory: source.url, to: output)
                print("wrote merged \(dtype.rawValue) model to \(out)")
            }
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a checkpoint.")

    @Argument(help: "The checkpoint (.h5).") var checkpoint: String

    func run() throws {
        try reportingErrors {
            let c = try Checkpoint.read(URL(fileURLWithPath: checkpoint))
            print("checkpoint:   \(c.url.path)")
            print("stage:        \(c.stage.rawValue), step \(c.globalStep), epoch \(c.epoch), next micro-batch \(c.nextMicroBatch)")
            print("created:      \(c.created)")
            print("base model:   \(c.baseModel)")
            if let from = c.startedFrom { print("started from: \(from)") }
            func describe(_ adapters: [StoredAdapter]) -> String {
                let ranks = Set(adapters.map(\.rank)).sorted().map(String.init).joined(separator: ",")
                let alphas = Set(adapters.map(\.alpha)).sorted().map { String(format: "%g", $0) }.joined(separator: ",")
                let count = adapters.reduce(0) { $0 + $1.a.count + $1.b.count }
                return "\(adapters.count) modules, r=\(ranks), alpha=\(alphas), \(count) parameters"
            }
            if !c.adapters.isEmpty { print("adapter:      \(describe(c.adapters))") }
            if !c.baseAdapters.isEmpty { print("base adapter: \(describe(c.baseAdapters)) (frozen, from the earlier stage)") }
            if let head = c.rewardHead { print("reward head:  \(RewardHead.name) \(head.shape)") }
            if !c.weights.isEmpty {
                print("weights:      \(c.weights.count) tensors, \(c.weights.values.reduce(0) { $0 + $1.count }) parameters (full fine-tuning)")
            }
            print("optimizer:    adamw, step \(c.optimizerStep), \(c.expAvg.count) moment tensors")
            print("recipe:")
            for line in c.recipeYAML.split(separator: "\n", omittingEmptySubsequences: false) { print("  \(line)") }
        }
    }
}
