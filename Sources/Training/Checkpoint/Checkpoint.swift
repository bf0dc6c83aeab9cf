import Foundation
import Model
import Tensor

/// What a run adds to every checkpoint besides its training state.
public struct CheckpointContext {
    public var stage: Recipe.Stage
    public var baseModel: String
    /// The checkpoint this stage started from (`--from`), if any.
    public var startedFrom: String?
    /// Adapters of the stage this one continued from, frozen on the model (`Linear.frozenAdapter`).
    public var baseAdapters: [StoredAdapter]
    /// Full weights of the stage this one continued from (a fully fine-tuned SFT), by HF name.
    public var baseWeights: [String: Tensor]

    public init(
        stage: Recipe.Stage, baseModel: String, startedFrom: String? = nil, baseAdapters: [StoredAdapter] = [],
        baseWeights: [String: Tensor] = [:]
    ) {
        self.stage = stage
        self.baseModel = baseModel
        self.startedFrom = startedFrom
        self.baseAdapters = baseAdapters
        self.baseWeights = baseWeights
    }
}

struct CheckpointContents {
    let context: CheckpointContext
    let recipeYAML: String
    let globalStep: Int
    let epoch: Int
    let nextMicroBatch: Int
    let seed: UInt64
    let model: Mistral
    let parameters: [Parameter]
    let optimizer: AdamW
    let learningRate: Double
    let schedule: LRSchedule
    let dropoutGeneratorState: [UInt64]
}

/// A checkpoint read back from disk.
public struct LoadedCheckpoint {
    public let url: URL
    public let stage: Recipe.Stage
    public let globalStep: Int
    public let epoch: Int
    public let nextMicroBatch: Int
    public let recipeYAML: String
    public let baseModel: String
    public let startedFrom: String?
    public let created: String
    public let adapters: [StoredAdapter]
    public let baseAdapters: [StoredAdapter]
    /// Full weights of the stage this one continued from, by HF name.
    public let baseWeights: [String: Tensor]
    /// Full fine-tuning weights by HF name.
    public let weights: [String: Tensor]
    /// The scalar head of a reward model ([1, hidden]).
    public let rewardHead: Tensor?
    public let optimizerStep: Int
    public let expAvg: [String: Tensor]
    public let expAvgSq: [String: Tensor]
    public let dropoutGeneratorState: [UInt64]
    /// The schedule and data order the run was on.
    public let totalSteps: Int
    public let warmupSteps: Int
    public let seed: Int

    /// Makes `model` the policy (or reward model) this checkpoint describes: the full weights of
    /// the stage it continued from and its own, then its base and trained adapters as frozen
    /// adapters, and its reward head.
    public func apply(to model: Mistral) throws {
        try model.load(weights: baseWeights.merging(weights, uniquingKeysWith: { $1 }), source: url.path)
        try model.attachFrozen(baseAdapters + adapters)
        if let rewardHead {
            guard rewardHead.shape == [1, model.config.hiddenSize] else {
                throw CheckpointError(url, "/reward_head has shape \(rewardHead.shape), the model's hidden size needs [1, \(model.config.hiddenSize)]")
            }
            model.rewardHead = RewardHead(weight: rewardHead.widened())
        }
    }

    /// Copies the stored values of every trained tensor into `parameters`.
    public func restoreParameters(into parameters: [Parameter]) throws {
        var stored = weights
        if let rewardHead { stored[RewardHead.name] = rewardHead }
        for adapter in adapters {
            stored["\(adapter.module).lora_A"] = adapter.a
            stored["\(adapter.module).lora_B"] = adapter.b
        }
        guard Set(stored.keys) == Set(parameters.map(\.name)) else {
            throw CheckpointError(url, "holds different trained tensors than this recipe trains (check lora.r, lora.target_modules, full fine-tuning)")
        }
        for parameter in parameters {
            let value = stored[parameter.name]!
            guard value.shape == parameter.tensor.shape else {
                throw CheckpointError(url, "'\(parameter.name)' has shape \(value.shape), the model expects \(parameter.tensor.shape)")
            }
            parameter.tensor.data.update(from: value.data, count: value.count)
        }
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String

    init(_ url: URL, _ problem: String) {
        description = "\(url.path): \(problem)"
    }
}

/// HDF5 checkpoints with the layout of the README's Checkpoints section, written under a temporary name,
/// sealed with a checksum (`CheckpointChecksum`), synced and moved into place (`moveDurably`), never
/// over an existing file.
public enum Checkpoint {
    public static let format = "facet-checkpoint"
    /// Version 3 carries a checksum in its user block (`CheckpointChecksum`); version 2 stores
    /// strings as fixed-length attributes (version 1 as variable-length ones).
    public static let version = 3

    static func write(_ contents: CheckpointContents, to url: URL) throws {
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw CheckpointError(url, "already exists; a checkpoint is never overwritten")
        }
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try? FileManager.default.removeItem(at: temporary)
        do {
            let file = try HDF5File.create(temporary, userBlock: CheckpointChecksum.userBlockSize)
            try fill(file, contents)
            try file.flush()
            file.close()
            try CheckpointChecksum.seal(temporary)
            try moveDurably(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError(url, "was not saved (earlier checkpoints are kept): \(error)")
        }
    }

    private static func fill(_ file: HDF5File, _ c: CheckpointContents) throws {
        let created = ISO8601DateFormatter().string(from: Date())
        let rootAttributes: [(String, HDF5Attribute)] = [
            ("format", .string(format)), ("version", .int(version)), ("stage", .string(c.context.stage.rawValue)),
            ("global_step", .int(c.globalStep)), ("epoch", .int(c.epoch)), ("recipe", .string(c.recipeYAML)),
            ("base_model", .string(c.context.baseModel)), ("created", .string(created)),
            ("started_from", .string(c.context.startedFrom ?? "")),
        ]
        for (name, value) in rootAttributes { try file.setAttribute(name, value) }

        let adapters = c.model.linears.compactMap { linear in
            linear.adapter.map {
                StoredAdapter(module: linear.name, a: $0.a, b: $0.b, alpha: $0.alpha, useRSLoRA: $0.useRSLoRA, dropout: $0.dropout)
            }
        }
        try writeAdapters(adapters, group: "/adapter", file)
        try writeAdapters(c.context.baseAdapters, group: "/base_adapter", file)
        for (name, tensor) in c.context.baseWeights { try file.write(tensor, to: "/base_weights/\(name)") }
        if adapters.isEmpty {
            for parameter in c.parameters where parameter.name != RewardHead.name {
                try file.write(parameter.tensor, to: "/weights/\(parameter.name)")
            }
        }
        if let head = c.model.rewardHead { try file.write(head.weight, to: "/reward_head/\(RewardHead.name)") }

        try file.createGroup("/optimizer")
        let optimizer = c.optimizer
        let optimizerAttributes: [(String, HDF5Attribute)] = [
            ("type", .string("adamw")), ("lr", .double(c.learningRate)), ("beta1", .double(optimizer.beta1)),
            ("beta2", .double(optimizer.beta2)), ("eps", .double(optimizer.eps)),
            ("weight_decay", .double(optimizer.weightDecay)), ("step", .int(optimizer.step)),
        ]
        for (name, value) in optimizerAttributes { try file.setAttribute(name, value, at: "/optimizer") }
        for (name, tensor) in optimizer.expAvg { try file.write(tensor, to: "/optimizer/exp_avg/\(name)") }
        for (name, tensor) in optimizer.expAvgSq { try file.write(tensor, to: "/optimizer/exp_avg_sq/\(name)") }

        try file.createGroup("/scheduler")
        let schedulerAttributes: [(String, HDF5Attribute)] = [
            ("type", .string(c.schedule.kind.rawValue)), ("base_lr", .double(c.schedule.baseLR)),
            ("warmup_steps", .int(c.schedule.warmupSteps)), ("total_steps", .int(c.schedule.totalSteps)),
            ("last_step", .int(c.globalStep)),
        ]
        for (name, value) in schedulerAttributes { try file.setAttribute(name, value, at: "/scheduler") }

        try file.createGroup("/rng")
        try file.setAttribute("dropout", .uint64s(c.dropoutGeneratorState), at: "/rng")
        try file.createGroup("/data")
        try file.setAttribute("epoch", .int(c.epoch), at: "/data")
        try file.setAttribute("next_index", .int(c.nextMicroBatch), at: "/data")
        try file.setAttribute("seed", .int(Int(c.seed)), at: "/data")
    }

    private static func writeAdapters(_ adapters: [StoredAdapter], group: String, _ file: HDF5File) throws {
        for adapter in adapters {
            let path = "\(group)/\(adapter.module)"
            try file.write(adapter.a.widened(), to: "\(path)/lora_A")
            try file.write(adapter.b.widened(), to: "\(path)/lora_B")
            try file.setAttribute("r", .int(adapter.rank), at: path)
            try file.setAttribute("alpha", .double(Double(adapter.alpha)), at: path)
            try file.setAttribute("use_rslora", .int(adapter.useRSLoRA ? 1 : 0), at: path)
            try file.setAttribute("dropout", .double(Double(adapter.dropout)), at: path)
        }
    }

    public static func read(_ url: URL) throws -> LoadedCheckpoint {
        try CheckpointChecksum.verify(url)
        let file = try HDF5File.open(url)
        defer { file.close() }
        if let found = try? file.int("version"), found != version {
            throw CheckpointError(
                url,
                found < version
                    ? "is a version-\(found) checkpoint; `python3 scripts/upgrade_checkpoint.py \(url.path) NEW.h5` "
                        + "converts it to version \(version)"
                    : "is a version-\(found) checkpoint of a newer Facet; this one reads version \(version)")
        }
        guard (try? file.string("format")) == format else {
            throw CheckpointError(url, "is not a Facet checkpoint (no format=\"\(format)\" attribute)")
        }
        let stageName = try file.string("stage")
        guard let stage = Recipe.Stage(rawValue: stageName) else { throw CheckpointError(url, "has an unknown stage '\(stageName)'") }
        func tensors(under group: String) throws -> [String: Tensor] {
            guard file.exists(group) else { return [:] }
            var result = [String: Tensor]()
            for name in try file.members(of: group) { result[name] = try file.readTensor("\(group)/\(name)") }
            return result
        }
        func adapters(_ group: String) throws -> [StoredAdapter] {
            guard file.exists(group) else { return [] }
            return try file.members(of: group).map { module in
                let path = "\(group)/\(module)"
                let a = try file.readTensor("\(path)/lora_A"), b = try file.readTensor("\(path)/lora_B")
                guard a.rank == 2, b.rank == 2, a.shape[0] == b.shape[1] else {
                    throw CheckpointError(url, "\(path) has lora_A \(a.shape) and lora_B \(b.shape), which do not form an adapter")
                }
                return StoredAdapter(
                    module: module, a: a, b: b,
                    alpha: Float(try file.double("alpha", at: path)), useRSLoRA: try file.int("use_rslora", at: path) != 0,
                    dropout: Float(try file.double("dropout", at: path)))
            }
        }
        guard case .uint64s(let rng) = try file.attribute("dropout", at: "/rng"), rng.count == 4, rng.contains(where: { $0 != 0 }) else {
            throw CheckpointError(url, "/rng has no valid dropout generator state")
        }
        let startedFrom = try file.string("started_from")
        return LoadedCheckpoint(
            url: url, stage: stage, globalStep: try file.int("global_step"), epoch: try file.int("epoch", at: "/data"),
            nextMicroBatch: try file.int("next_index", at: "/data"), recipeYAML: try file.string("recipe"),
            baseModel: try file.string("base_model"), startedFrom: startedFrom.isEmpty ? nil : startedFrom,
            created: try file.string("created"), adapters: try adapters("/adapter"), baseAdapters: try adapters("/base_adapter"),
            baseWeights: try tensors(under: "/base_weights"), weights: try tensors(under: "/weights"),
            rewardHead: try tensors(under: "/reward_head")[RewardHead.name], optimizerStep: try file.int("step", at: "/optimizer"),
            expAvg: try tensors(under: "/optimizer/exp_avg"), expAvgSq: try tensors(under: "/optimizer/exp_avg_sq"),
            dropoutGeneratorState: rng, totalSteps: try file.int("total_steps", at: "/scheduler"),
            warmupSteps: try file.int("warmup_steps", at: "/scheduler"), seed: try file.int("seed", at: "/data"))
    }

    /// Step checkpoints in `directory`, oldest first, with their step numbers.
    public static func stepCheckpoints(in directory: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".h5"), let step = Int(name.dropFirst(5).dropLast(3)) else { return nil }
            return (step, directory.appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// The newest step checkpoint of a run folder (`--resume latest`).
    public static func latest(in directory: URL) throws -> URL {
        guard let newest = stepCheckpoints(in: directory).last else {
            throw CheckpointError(directory, "holds no step checkpoint (step-NNNNNN.h5) to resume from")
        }
        return newest.url
    }

    /// Deletes all but the newest `keepLast` step checkpoints.
    static func pruneSteps(in directory: URL, keepLast: Int) throws {
        for (_, url) in stepCheckpoints(in: directory).dropLast(keepLast) { try FileManager.default.removeItem(at: url) }
    }

    /// Refuses a run whose checkpoints would land on existing ones: a new run needs an output
    /// folder without checkpoints; a resumed one, none newer than the step it resumes from.
    public static func checkOutputDirectory(_ directory: URL, resumingFromStep step: Int?) throws {
        let existing = stepCheckpoints(in: directory)
        let final = directory.appendingPathComponent("final.h5")
        if let step {
            if let later = existing.first(where: { $0.step > step }) {
                throw CheckpointError(later.url, "is newer than the checkpoint being resumed (step \(step)); resume into another output.dir")
            }
        } else if let first = existing.first {
            throw CheckpointError(first.url, "exists: output.dir already holds a run; choose another output.dir or --resume")
        }
        if FileManager.default.fileExists(atPath: final.path) {
            throw CheckpointError(final, "exists: output.dir holds a finished run; choose another output.dir")
        }
    }
}
