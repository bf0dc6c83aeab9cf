import Foundation
import Tensor
import Training

/// How much synthetic data to make, and from which seed.
public struct SynthOptions: Sendable {
    /// Training instructions; each gets three system messages.
    public var instructions: Int
    /// Benchmark instructions, never seen in training; each gets three held-out combinations.
    public var benchInstructions: Int
    public var seed: UInt64

    public init(instructions: Int = 300, benchInstructions: Int = 40, seed: UInt64 = 0) {
        self.instructions = instructions
        self.benchInstructions = benchInstructions
        self.seed = seed
    }
}

/// One instruction answered for one system message, in the Multifaceted Collection's terms.
public struct SynthRecord: Sendable, Equatable {
    public let family: String
    public let system: String
    public let prompt: String
    /// The answer written for the system message's preferences.
    public let output: String
    /// The core answer, before any preference shaped it.
    public let answer: String
    public let preferenceSet: [Preference]
}

/// A preference pair: the answer written for this system message against one written for
/// another system message of the same instruction.
public struct SynthPair: Sendable, Equatable {
    public let system: String
    public let prompt: String
    public let chosen: String
    public let rejected: String
    public let family: String
}

/// The synthetic collection: training records and pairs, and a benchmark whose instructions
/// and preference combinations training never shows.
public struct SynthDataset: Sendable {
    /// Three records per training instruction, consecutive.
    public let train: [SynthRecord]
    /// One pair per training record.
    public let pairs: [SynthPair]
    /// Three records per benchmark instruction, each with a held-out combination.
    public let bench: [SynthRecord]
    /// One pair per benchmark record.
    public let heldOutPairs: [SynthPair]
    /// The preference combinations reserved for the benchmark.
    public let heldOutCombinations: [[Preference]]
    /// The combinations training may use.
    public let trainingCombinations: [[Preference]]

    public var trainInstructions: Int { train.count / Synth.systemMessagesPerInstruction }
    public var benchInstructions: Int { bench.count / Synth.systemMessagesPerInstruction }
}

/// A procedural stand-in for the Multifaceted Collection and Multifaceted Bench, small and
/// regular enough for a tiny model trained from scratch on a CPU to learn to follow unseen
/// system messages in minutes.
public enum Synth {
    public static let systemMessagesPerInstruction = 3

    /// The files `write` creates (and overwrites) in its folder.
    public static let fileNames = ["train.jsonl", "pairs.jsonl", "pairs-heldout.jsonl", "eval.jsonl", "bench.jsonl"]

    public static func generate(_ options: SynthOptions) -> SynthDataset {
        require(options.instructions >= 1, "Synth: instructions must be at least 1, found \(options.instructions)")
        require(options.benchInstructions >= 1, "Synth: benchInstructions must be at least 1, found \(options.benchInstructions)")
        var g = RandomGenerator(seed: options.seed)
        var usedPrompts = Set<String>()
        var taughtKeys = [SynthFamily: Set<String>]()

        let trainTasks = drawTasks(options.instructions, using: &g) { task in
            !usedPrompts.contains(task.prompt)
        } accepted: { task in
            usedPrompts.insert(task.prompt)
            taughtKeys[task.family, default: []].formUnion(task.keys)
        }
        // A knowledge question of the benchmark asks a fact that training taught, in a phrasing
        // training did not use for it; only when none is left is an untaught one asked.
        let benchTasks = drawTasks(options.benchInstructions, using: &g) { task in
            !usedPrompts.contains(task.prompt)
                && (!task.family.needsKnowledge || task.keys.allSatisfy { taughtKeys[task.family, default: []].contains($0) })
        } fallback: { task in
            !usedPrompts.contains(task.prompt)
        } accepted: { task in
            usedPrompts.insert(task.prompt)
        }

        let (train, pairs) = records(for: trainTasks, from: SynthCombination.training, using: &g)
        let (bench, heldOutPairs) = records(for: benchTasks, from: SynthCombination.heldOut, using: &g)
        return SynthDataset(
            train: train, pairs: pairs, bench: bench, heldOutPairs: heldOutPairs,
            heldOutCombinations: SynthCombination.heldOut.map(\.preferenceSet),
            trainingCombinations: SynthCombination.training.map(\.preferenceSet))
    }

    /// Writes the five JSON Lines files into `directory` (created if needed), replacing
    /// earlier versions of them and leaving every other file alone.
    public static func write(_ dataset: SynthDataset, to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError(file: directory.path, "cannot be created (\(error.localizedDescription))")
        }
        let files: [(String, [[String: Any]])] = [
            ("train.jsonl", dataset.train.map(collectionObject)),
            ("pairs.jsonl", dataset.pairs.map(pairObject)),
            ("pairs-heldout.jsonl", dataset.heldOutPairs.map(pairObject)),
            ("eval.jsonl", dataset.bench.map(collectionObject)),
            ("bench.jsonl", dataset.bench.map(benchObject)),
        ]
        for (name, objects) in files {
            let url = directory.appendingPathComponent(name)
            var data = Data()
            for object in objects {
                data += try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                data.append(UInt8(ascii: "\n"))
            }
            do {
                try data.write(to: url, options: .atomic)
            } catch {
                throw DataError(file: url.path, "cannot be written (\(error.localizedDescription))")
            }
        }
    }

    // MARK: - Drawing

    /// `count` tasks cycling through the families in shuffled rounds. A family that cannot
    /// produce an acceptable task any more (its table is used up) leaves the rotation.
    private static func drawTasks(
        _ count: Int, using g: inout RandomGenerator, accept: (SynthTask) -> Bool,
        fallback: ((SynthTask) -> Bool)? = nil, accepted: (SynthTask) -> Void
    ) -> [SynthTask] {
        var families = SynthFamily.allCases
        var round = [SynthFamily]()
        var tasks = [SynthTask]()
        while tasks.count < count && !families.isEmpty {
            if round.isEmpty { round = g.shuffled(families) }
            let family = round.removeFirst()
            guard let task = draw(family, using: &g, accept) ?? fallback.flatMap({ draw(family, using: &g, $0) }) else {
                families.removeAll { $0 == family }
                continue
            }
            accepted(task)
            tasks.append(task)
        }
        return tasks
    }

    private static func draw(_ family: SynthFamily, using g: inout RandomGenerator, _ accept: (SynthTask) -> Bool) -> SynthTask? {
        for _ in 0..<500 {
            let task = family.task(using: &g)
            if accept(task) { return task }
        }
        return nil
    }

    /// Three records per task, each for a different combination drawn from `pool`, and for
    /// each record a pair whose rejected answer was written for another of the three.
    private static func records(
        for tasks: [SynthTask], from pool: [SynthCombination], using g: inout RandomGenerator
    ) -> ([SynthRecord], [SynthPair]) {
        var records = [SynthRecord](), pairs = [SynthPair]()
        for task in tasks {
            let combinations = Array(g.shuffled(pool).prefix(systemMessagesPerInstruction))
            let group = combinations.map { combination in
                SynthRecord(
                    family: task.family.rawValue, system: combination.systemMessage(using: &g), prompt: task.prompt,
                    output: task.response(for: combination), answer: task.answer, preferenceSet: combination.preferenceSet)
            }
            for (index, record) in group.enumerated() {
                let others = group.indices.filter { $0 != index }
                let rejected = group[g.element(of: others)!]
                pairs.append(SynthPair(
                    system: record.system, prompt: record.prompt, chosen: record.output, rejected: rejected.output,
                    family: record.family))
            }
            records += group
        }
        return (records, pairs)
    }

    // MARK: - JSON

    private static let mainSource = "facet-synth"

    private static func preferenceObjects(_ set: [Preference]) -> [[String: Any]] {
        set.map { ["dimension": $0.dimension, "subdimension": $0.subdimension, "preference": $0.preference, "description": $0.description] }
    }

    private static func collectionObject(_ record: SynthRecord) -> [String: Any] {
        [
            "main_source": mainSource, "original_source": record.family, "preference_set": preferenceObjects(record.preferenceSet),
            "system": record.system, "prompt": record.prompt, "output": record.output,
        ]
    }

    private static func pairObject(_ pair: SynthPair) -> [String: Any] {
        [
            "main_source": mainSource, "original_source": pair.family, "system": pair.system, "prompt": pair.prompt,
            "chosen": pair.chosen, "rejected": pair.rejected,
        ]
    }

    private static func benchObject(_ record: SynthRecord) -> [String: Any] {
        [
            "source": "\(mainSource)/\(record.family)", "system": record.system, "prompt": record.prompt,
            "reference_answer": record.output, "rubrics": record.preferenceSet.compactMap(SynthValue.init).map(Rubric.rubricObject),
            "preference_set": preferenceObjects(record.preferenceSet), "answer": record.answer, "family": record.family,
        ]
    }
}
