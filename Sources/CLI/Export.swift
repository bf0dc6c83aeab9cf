import ArgumentParser
import Foundation
import Model
import Tensor
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint as a PEFT adapter or as a merged HF model folder.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case peft, merged
    }

    @Argument(help: "The checkpoint (.h5).") var checkpoint: String
    @Option(help: "peft: adapter_config.json + adapter_model.safetensors; merged: full weights with the adapters folded in.")
    var format: Format
    @Option(help: "Output folder (must not exist yet).") var out: String
    @Option(help: "Base model folder (default: the checkpoint's base_model).") var model: String?

    func run() throws {
        try reportingErrors {
            try BLAS.ensureLoaded()
            let loaded = try Checkpoint.read(URL(fileURLWithPath: checkpoint))
            let output = URL(fileURLWithPath: out)
            guard !FileManager.default.fileExists(atPath: output.path) else {
                throw ValidationError("\(out) already exists; export never writes over a folder")
            }
            let base = model ?? loaded.baseModel
            switch format {
            case .peft:
                guard !loaded.adapters.isEmpty, loaded.baseWeights.isEmpty else {
                    throw ValidationError("\(checkpoint) holds full fine-tuned weights (its own or of the stage it continued from), which an adapter cannot carry: use --format merged")
                }
                try PEFTAdapter.write(loaded.baseAdapters + loaded.adapters, baseModel: base, to: output)
                print("wrote PEFT adapter (\(loaded.adapters.count) modules) to \(out)")
            case .merged:
                let baseURL = URL(fileURLWithPath: base)
                let config = try MistralConfig(contentsOf: baseURL.appendingPathComponent("config.json"))
                // A reward model stays float32: merged into bf16 weights, the tiny model's rewards moved by up to 8e-3.
                let adaptersOnly = loaded.weights.isEmpty && loaded.baseWeights.isEmpty && loaded.rewardHead == nil
                let dtype: DType = adaptersOnly && config.savedDType == "bfloat16" ? .bfloat16 : .float32
                let mistral = try Mistral.load(directory: baseURL, dtype: dtype)
                try loaded.apply(to: mistral)
                try MergedExport.write(mistral, sourceDirectory: baseURL, to: output)
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
