import Foundation
import Model
import Training
import TestSupport
import XCTest

final class RecipeTests: XCTestCase {
    private static let minimal = """
        stage: sft
        model:
          path: models/tiny-mistral
        data:
          train: data/train.jsonl
        output:
          dir: checkpoints/run
        """

    private static let full = """
        stage: dpo
        model:
          path: models/mistral-7b
          dtype: bfloat16
        lora:
          r: 8
          alpha: 16
          dropout: 0.05
          target_modules: [q_proj, v_proj]
          use_rslora: true
        data:
          train: data/pairs.jsonl
          eval: data/pairs-eval.jsonl
          system_messages_per_instruction: 1
          max_seq_len: 1024
          packing: true
          truncation: drop
          skip_invalid: true
        train:
          epochs: 2
          max_steps: 500
          micro_batch_size: 1
          gradient_accumulation_steps: 16
          learning_rate: 5e-7
          lr_scheduler: linear
          warmup_steps: 0
          weight_decay: 0.01
          max_grad_norm: null
          adam_beta1: 0.8
          adam_beta2: 0.95
          adam_epsilon: 1.0e-6
          seed: 7
          eval_every_steps: 50
          activation_checkpointing: true
        dpo: {beta: 0.05, loss: sigmoid, label_smoothing: 0.1, precompute_reference: true}
        orpo: {lambda: 0.2, nll_on_prompt: false}
        output:
          dir: checkpoints/dpo
          save_every_steps: null
          keep_last: 1
          log_every_steps: 10
        """

    private func parse(_ yaml: String, overrides: [String] = []) throws -> Recipe {
        try Recipe(yaml: yaml, source: "recipe.yaml", overrides: overrides)
    }

    /// The minimal recipe with `lines` appended to (or replacing) the section they name.
    private func minimal(with section: String, _ lines: String) -> String {
        let indented = lines.split(separator: "\n").map { "  \($0)" }.joined(separator: "\n")
        if Self.minimal.contains("\n\(section):\n") {
            return Self.minimal.replacingOccurrences(of: "\n\(section):\n", with: "\n\(section):\n\(indented)\n")
        }
        return Self.minimal + "\n\(section):\n\(indented)"
    }

    private func assertError(
        _ yaml: String, overrides: [String] = [], source: String = "recipe.yaml", keyPath: String?, _ fragments: String...,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try parse(yaml, overrides: overrides), file: file, line: line) { error in
            guard let error = error as? RecipeError else { return XCTFail("not a RecipeError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.source, source, "\(error)", file: file, line: line)
            XCTAssertEqual(error.keyPath, keyPath, "\(error)", file: file, line: line)
            if let keyPath { XCTAssertTrue(error.description.hasPrefix("\(source): \(keyPath): "), "\(error)", file: file, line: line) }
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "'\(error)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testMinimalRecipeGetsTheDocumentedDefaults() throws {
        let recipe = try parse(Self.minimal)
        XCTAssertEqual(recipe.stage, .sft)
        XCTAssertEqual(recipe.model.path, "models/tiny-mistral")
        XCTAssertEqual(recipe.model.dtype, .float32)
        XCTAssertNil(recipe.lora)
        XCTAssertEqual(recipe.data.train, "data/train.jsonl")
        XCTAssertNil(recipe.data.eval)
        XCTAssertEqual(recipe.data.systemMessagesPerInstruction, 3)
        XCTAssertEqual(recipe.data.maxSeqLen, 2048)
        XCTAssertFalse(recipe.data.packing)
        XCTAssertEqual(recipe.data.truncation, .truncate)
        XCTAssertFalse(recipe.data.skipInvalid)
        let train = recipe.train
        XCTAssertEqual(train.epochs, 4)
        XCTAssertNil(train.maxSteps)
        XCTAssertEqual(train.microBatchSize, 2)
        XCTAssertEqual(train.gradientAccumulationSteps, 4)
        XCTAssertEqual(train.learningRate, 5e-6)
        XCTAssertEqual(train.lrScheduler, .cosine)
        XCTAssertEqual(train.warmupSteps, 10)
        XCTAssertNil(train.warmupRatio)
        XCTAssertEqual(train.weightDecay, 0)
        XCTAssertEqual(train.maxGradNorm, 1.0)
        XCTAssertEqual(train.adamBeta1, 0.9)
        XCTAssertEqual(train.adamBeta2, 0.999)
        XCTAssertEqual(train.adamEpsilon, 1e-8)
        XCTAssertEqual(train.seed, 42)
        XCTAssertNil(train.evalEverySteps)
        XCTAssertNil(train.activationCheckpointing)
        XCTAssertEqual(recipe.dpo.beta, 0.1)
        XCTAssertEqual(recipe.dpo.loss, .sigmoid)
        XCTAssertEqual(recipe.dpo.labelSmoothing, 0)
        XCTAssertFalse(recipe.dpo.precomputeReference)
        XCTAssertEqual(recipe.orpo.lambda, 0.1)
        XCTAssertTrue(recipe.orpo.nllOnPrompt)
        XCTAssertEqual(recipe.output.dir, "checkpoints/run")
        XCTAssertEqual(recipe.output.saveEverySteps, 100)
        XCTAssertEqual(recipe.output.keepLast, 3)
        XCTAssertEqual(recipe.output.logEverySteps, 1)
        XCTAssertEqual(
            recipe,
            Recipe(stage: .sft, model: .init(path: "models/tiny-mistral"), data: .init(train: "data/train.jsonl"), output: .init(dir: "checkpoints/run")))
    }

    func testEmptyLoRASectionGetsPEFTDefaults() throws {
        let lora = try XCTUnwrap(parse(Self.minimal + "\nlora: {}").lora)
        XCTAssertEqual(lora.r, 16)
        XCTAssertEqual(lora.alpha, 32)
        XCTAssertEqual(lora.dropout, 0)
        XCTAssertEqual(lora.targetModules, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        XCTAssertFalse(lora.useRslora)
        XCTAssertEqual(lora.config, LoRAConfig())
    }

    func testFullRecipeParses() throws {
        let recipe = try parse(Self.full)
        XCTAssertEqual(recipe.stage, .dpo)
        XCTAssertEqual(recipe.model.path, "models/mistral-7b")
        XCTAssertEqual(recipe.model.dtype, .bfloat16)
        let lora = try XCTUnwrap(recipe.lora)
        XCTAssertEqual(lora.r, 8)
        XCTAssertEqual(lora.alpha, 16)
        XCTAssertEqual(lora.dropout, 0.05)
        XCTAssertEqual(lora.targetModules, ["q_proj", "v_proj"])
        XCTAssertTrue(lora.useRslora)
        XCTAssertEqual(recipe.data.eval, "data/pairs-eval.jsonl")
        XCTAssertEqual(recipe.data.systemMessagesPerInstruction, 1)
        XCTAssertEqual(recipe.data.maxSeqLen, 1024)
        XCTAssertTrue(recipe.data.packing)
        XCTAssertEqual(recipe.data.truncation, .drop)
        XCTAssertTrue(recipe.data.skipInvalid)
        let train = recipe.train
        XCTAssertEqual(train.epochs, 2)
        XCTAssertEqual(train.maxSteps, 500)
        XCTAssertEqual(train.microBatchSize, 1)
        XCTAssertEqual(train.gradientAccumulationSteps, 16)
        XCTAssertEqual(train.learningRate, 5e-7)
        XCTAssertEqual(train.lrScheduler, .linear)
        XCTAssertEqual(train.warmupSteps, 0)
        XCTAssertEqual(train.weightDecay, 0.01)
        XCTAssertNil(train.maxGradNorm)
        XCTAssertEqual(train.adamBeta1, 0.8)
        XCTAssertEqual(train.adamBeta2, 0.95)
        XCTAssertEqual(train.adamEpsilon, 1e-6)
        XCTAssertEqual(train.seed, 7)
        XCTAssertEqual(train.evalEverySteps, 50)
        XCTAssertEqual(train.activationCheckpointing, true)
        XCTAssertEqual(recipe.dpo.beta, 0.05)
        XCTAssertEqual(recipe.dpo.labelSmoothing, 0.1)
        XCTAssertTrue(recipe.dpo.precomputeReference)
        XCTAssertEqual(recipe.orpo.lambda, 0.2)
        XCTAssertFalse(recipe.orpo.nllOnPrompt)
        XCTAssertEqual(recipe.output.dir, "checkpoints/dpo")
        XCTAssertNil(recipe.output.saveEverySteps)
        XCTAssertEqual(recipe.output.keepLast, 1)
        XCTAssertEqual(recipe.output.logEverySteps, 10)
    }

    func testNumbersAcceptExponentsAndIntegers() throws {
        for (text, value) in [("5e-6", 5e-6), ("5.0e-6", 5e-6), ("1", 1.0), ("0.5", 0.5)] {
            let recipe = try parse(minimal(with: "train", "learning_rate: \(text)"))
            XCTAssertEqual(recipe.train.learningRate, value, text)
        }
        XCTAssertEqual(try parse(minimal(with: "lora", "target_modules: all-linear")).lora?.targetModules.count, 7)
    }

    func testUnknownKeysNameTheirPathAndTheAllowedKeys() {
        assertError(
            Self.minimal + "\ntrian:\n  epochs: 1", keyPath: "trian",
            "unknown key; allowed keys: stage, model, lora, data, train, dpo, orpo, rm, output")
        assertError(minimal(with: "train", "lerning_rate: 1e-4"), keyPath: "train.lerning_rate", "learning_rate", "warmup_ratio")
        assertError(minimal(with: "lora", "rank: 8"), keyPath: "lora.rank", "allowed keys: r, alpha, dropout, target_modules, use_rslora")
        assertError(Self.minimal + "\ndpo: {beta: 0.1, gamma: 1}", keyPath: "dpo.gamma", "beta, loss, label_smoothing")
    }

    func testWrongTypesNameTheKeyAndTheValueFound() {
        assertError(minimal(with: "train", "learning_rate: abc"), keyPath: "train.learning_rate", "must be a number > 0, found 'abc'")
        XCTAssertThrowsError(try parse(minimal(with: "train", "learning_rate: abc"))) { error in
            XCTAssertEqual("\(error)", "recipe.yaml: train.learning_rate: must be a number > 0, found 'abc'")
        }
        assertError(Self.minimal + "\ntrain: [1, 2]", keyPath: "train", "must be a mapping, found a list")
        assertError(Self.minimal + "\nlora: 8", keyPath: "lora", "must be a mapping, found '8'")
        assertError(minimal(with: "train", "epochs: 2.5"), keyPath: "train.epochs", "must be an integer >= 1, found '2.5'")
        assertError(minimal(with: "train", "epochs: '2'"), keyPath: "train.epochs", "found '2'")
        assertError(minimal(with: "data", "packing: maybe"), keyPath: "data.packing", "must be true or false, found 'maybe'")
        assertError(minimal(with: "train", "learning_rate: [1]"), keyPath: "train.learning_rate", "found a list")
        assertError(minimal(with: "train", "epochs: null"), keyPath: "train.epochs", "found null")
        assertError(minimal(with: "data", "eval: {file: x}"), keyPath: "data.eval", "must be a string, found a mapping")
        assertError("- stage: sft", overrides: ["train.epochs=1"], keyPath: nil, "recipe.yaml: must be a mapping of sections, found a list")
    }

    func testImpossibleValuesNameTheAllowedRange() {
        let cases: [(section: String, line: String, keyPath: String, allowed: String)] = [
            ("train", "micro_batch_size: 0", "train.micro_batch_size", "integer >= 1, found '0'"),
            ("train", "gradient_accumulation_steps: -2", "train.gradient_accumulation_steps", ">= 1"),
            ("train", "epochs: 0", "train.epochs", ">= 1"),
            ("train", "max_steps: 0", "train.max_steps", ">= 1"),
            ("train", "learning_rate: 0", "train.learning_rate", "> 0, found '0'"),
            ("train", "learning_rate: -1e-4", "train.learning_rate", "> 0"),
            ("train", "learning_rate: .inf", "train.learning_rate", "> 0"),
            ("train", "lr_scheduler: cosin", "train.lr_scheduler", "one of constant, linear, cosine, found 'cosin'"),
            ("train", "warmup_ratio: 1.0", "train.warmup_ratio", "in [0, 1)"),
            ("train", "warmup_steps: -1", "train.warmup_steps", ">= 0"),
            ("train", "weight_decay: -0.1", "train.weight_decay", ">= 0"),
            ("train", "max_grad_norm: 0", "train.max_grad_norm", "> 0"),
            ("train", "adam_beta2: 1", "train.adam_beta2", "in [0, 1)"),
            ("train", "adam_epsilon: 0", "train.adam_epsilon", "> 0"),
            ("train", "seed: -1", "train.seed", ">= 0"),
            ("train", "eval_every_steps: 0", "train.eval_every_steps", ">= 1"),
            ("lora", "r: 0", "lora.r", ">= 1"),
            ("lora", "alpha: 0", "lora.alpha", "> 0"),
            ("lora", "dropout: 1.0", "lora.dropout", "in [0, 1), found '1.0'"),
            ("lora", "dropout: -0.1", "lora.dropout", "in [0, 1)"),
            ("lora", "target_modules: [q_proj, qkv_proj]", "lora.target_modules", "unknown module 'qkv_proj'; allowed: q_proj, k_proj"),
            ("lora", "target_modules: [q_proj, q_proj]", "lora.target_modules", "lists 'q_proj' twice"),
            ("lora", "target_modules: []", "lora.target_modules", "all-linear or a list"),
            ("lora", "target_modules: linear", "lora.target_modules", "found 'linear'"),
            ("model", "dtype: float16", "model.dtype", "one of float32, bfloat16, found 'float16'"),
            ("data", "system_messages_per_instruction: 0", "data.system_messages_per_instruction", ">= 1"),
            ("data", "max_seq_len: 4", "data.max_seq_len", ">= 8"),
            ("data", "truncation: cut", "data.truncation", "one of truncate, drop, error"),
            ("dpo", "beta: 0", "dpo.beta", "> 0"),
            ("dpo", "loss: kto", "dpo.loss", "one of sigmoid, ipo, hinge"),
            ("dpo", "label_smoothing: 0.5", "dpo.label_smoothing", "in [0, 0.5)"),
            ("orpo", "lambda: -1", "orpo.lambda", ">= 0"),
            ("output", "keep_last: 0", "output.keep_last", ">= 1"),
            ("output", "save_every_steps: 0", "output.save_every_steps", ">= 1"),
            ("output", "log_every_steps: 0", "output.log_every_steps", ">= 1"),
        ]
        for (section, line, keyPath, allowed) in cases {
            assertError(minimal(with: section, line), keyPath: keyPath, allowed)
        }
        assertError(Self.minimal.replacingOccurrences(of: "stage: sft", with: "stage: ppo"), keyPath: "stage", "one of sft, dpo, orpo")
        assertError(minimal(with: "dpo", "loss: hinge\nlabel_smoothing: 0.1"), keyPath: "dpo.label_smoothing", "sigmoid only")
    }

    func testWarmupStepsAndRatioAreExclusive() throws {
        assertError(minimal(with: "train", "warmup_steps: 10\nwarmup_ratio: 0.1"), keyPath: "train.warmup_ratio", "cannot be combined with warmup_steps")
        let ratio = try parse(minimal(with: "train", "warmup_ratio: 0.03"))
        XCTAssertNil(ratio.train.warmupSteps)
        XCTAssertEqual(ratio.train.warmupRatio, 0.03)
        let both = try parse(minimal(with: "train", "warmup_steps: null\nwarmup_ratio: 0.1"))
        XCTAssertEqual(both.train.warmupRatio, 0.1)
    }

    func testMissingRequiredKeysAreNamed() {
        assertError(Self.minimal.replacingOccurrences(of: "stage: sft\n", with: ""), keyPath: "stage", "is required")
        assertError(Self.minimal.replacingOccurrences(of: "  path: models/tiny-mistral\n", with: "  dtype: float32\n"), keyPath: "model.path", "is required")
        assertError(Self.minimal.replacingOccurrences(of: "data:\n  train: data/train.jsonl\n", with: ""), keyPath: "data.train", "is required")
        assertError(Self.minimal.replacingOccurrences(of: "checkpoints/run", with: "''"), keyPath: "output.dir", "is required")
        assertError("", keyPath: "stage", "is required")
    }

    func testDuplicateKeysAreErrors() {
        assertError(minimal(with: "train", "epochs: 1\nepochs: 2"), keyPath: "train.epochs", "is given twice")
    }

    func testMalformedYAMLNamesTheFileAndLine() {
        XCTAssertThrowsError(try parse("stage: sft\nmodel: {path: x\ndata:\n  train: t\n")) { error in
            guard let error = error as? RecipeError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.source, "recipe.yaml")
            XCTAssertNotNil(error.line)
            XCTAssertTrue(error.description.hasPrefix("recipe.yaml:\(error.line ?? 0): malformed YAML"), "\(error)")
        }
    }

    func testLoadReportsAMissingFileAndReadsAFile() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let missing = directory.appendingPathComponent("none.yaml")
        XCTAssertThrowsError(try Recipe.load(missing)) { error in
            XCTAssertEqual("\(error)", "\(missing.path): recipe file does not exist")
        }
        let url = directory.appendingPathComponent("recipe.yaml")
        try Self.full.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Recipe.load(url, overrides: ["train.seed=8"]).train.seed, 8)
        XCTAssertThrowsError(try Recipe.load(url, overrides: ["train.seed=-8"])) { error in
            XCTAssertEqual("\(error)", "--set train.seed=-8: train.seed: must be an integer >= 0, found '-8'")
        }
    }

    func testOverridesReplaceValuesAndCreateSections() throws {
        let recipe = try parse(Self.full, overrides: [
            "train.learning_rate=1e-4", "lora.target_modules=[q_proj, k_proj, o_proj]", "train.max_steps=null",
            "output.save_every_steps=25", "data.eval=null", "dpo.loss=ipo", "dpo.label_smoothing=0", "stage=orpo",
            " train.epochs = 3", "train.epochs=5",
        ])
        XCTAssertEqual(recipe.train.learningRate, 1e-4)
        XCTAssertEqual(recipe.lora?.targetModules, ["q_proj", "k_proj", "o_proj"])
        XCTAssertNil(recipe.train.maxSteps)
        XCTAssertEqual(recipe.output.saveEverySteps, 25)
        XCTAssertNil(recipe.data.eval)
        XCTAssertEqual(recipe.dpo.loss, .ipo)
        XCTAssertEqual(recipe.stage, .orpo)
        XCTAssertEqual(recipe.train.epochs, 5)

        let created = try parse(Self.minimal, overrides: ["lora.r=8", "train.max_grad_norm=null"])
        var expected = Recipe.LoRASection()
        expected.r = 8
        XCTAssertEqual(created.lora, expected)
        XCTAssertNil(created.train.maxGradNorm)
        XCTAssertNil(try parse(Self.full, overrides: ["lora=null"]).lora)
        XCTAssertEqual(try parse(Self.minimal, overrides: ["train.warmup_steps=null", "train.warmup_ratio=0.1"]).train.warmupRatio, 0.1)
    }

    func testBadOverridesAreNamed() {
        assertError(Self.minimal, overrides: ["train.lerning_rate=1"], source: "--set train.lerning_rate=1", keyPath: "train.lerning_rate", "unknown key")
        assertError(Self.minimal, overrides: ["traning.epochs=1"], source: "--set traning.epochs=1", keyPath: "traning", "unknown key")
        assertError(Self.minimal, overrides: ["lora.rank=8"], source: "--set lora.rank=8", keyPath: "lora.rank", "unknown key")
        assertError(Self.minimal, overrides: ["train.learning_rate"], source: "--set train.learning_rate", keyPath: nil, "expected KEY=VALUE")
        assertError(Self.minimal, overrides: ["train..epochs=1"], source: "--set train..epochs=1", keyPath: nil, "expected KEY=VALUE")
        assertError(Self.minimal, overrides: ["train.epochs=many"], source: "--set train.epochs=many", keyPath: "train.epochs", "found 'many'")
        assertError(
            Self.minimal, overrides: ["lora.target_modules=[q_proj"], source: "--set lora.target_modules=[q_proj",
            keyPath: "lora.target_modules", "malformed YAML")
        assertError(Self.minimal, overrides: ["stage.x=1"], source: "--set stage.x=1", keyPath: "stage", "is a value, not a section")
    }

    func testResolvedYAMLRoundTrips() throws {
        let recipes = [
            try parse(Self.full),
            try parse(Self.minimal),
            try parse(Self.minimal, overrides: ["lora.r=4", "train.warmup_steps=null", "train.warmup_ratio=0.1"]),
            try parse(Self.minimal, overrides: ["model.path='null'", "data.train='123'", "output.dir='a: b #c'", "data.eval='yes'"]),
        ]
        for recipe in recipes {
            let yaml = recipe.resolvedYAML
            XCTAssertEqual(try Recipe(yaml: yaml, source: "resolved"), recipe, yaml)
        }
        let lines = try parse(Self.minimal).resolvedYAML.split(separator: "\n")
        XCTAssertEqual(
            lines.filter { !$0.hasPrefix(" ") }.map { $0.split(separator: ":")[0] },
            ["stage", "model", "lora", "data", "train", "dpo", "orpo", "rm", "output"])
        XCTAssertEqual(lines.filter { $0.hasPrefix("  ") }.count, Recipe.keyPaths.filter { $0.contains(".") && !$0.hasPrefix("lora.") }.count)
        XCTAssertEqual(Recipe.keyPaths.count, 47)
        XCTAssertTrue(lines.contains("lora: null"))
        XCTAssertTrue(try parse(Self.full).resolvedYAML.contains("  target_modules: [q_proj, v_proj]\n"))
    }

    func testWarmupRatioRoundsUpAsTransformersDoes() throws {
        let recipe = try parse(minimal(with: "train", "warmup_steps: null\nwarmup_ratio: 0.25"))
        XCTAssertEqual(recipe.warmupSteps(totalSteps: 10), 3)
        XCTAssertEqual(recipe.warmupSteps(totalSteps: 8), 2)
        XCTAssertEqual(recipe.warmupSteps(totalSteps: 0), 0)
        // Python: math.ceil(100 * 0.07) == 8, since 100 * 0.07 == 7.000000000000001.
        XCTAssertEqual(try parse(minimal(with: "train", "warmup_ratio: 0.07")).warmupSteps(totalSteps: 100), 8)
        XCTAssertEqual(try parse(Self.minimal).warmupSteps(totalSteps: 1000), 10)
        XCTAssertEqual(try parse(minimal(with: "train", "warmup_steps: null")).warmupSteps(totalSteps: 1000), 0)
    }

    func testStageRulesNameTheKey() throws {
        for (overrides, keyPath, fragment) in [
            (["stage=dpo", "data.packing=true", "lora.r=8"], "data.packing", "packing applies to SFT"),
            (["stage=dpo"], "dpo.precompute_reference", "full fine-tuning DPO"), (["model.dtype=bfloat16"], "model.dtype", "full fine-tuning"),
        ] {
            let recipe = try parse(Self.minimal, overrides: overrides)
            XCTAssertThrowsError(try recipe.checkStageRules()) { error in
                XCTAssertEqual((error as? RecipeError)?.keyPath, keyPath)
                XCTAssertTrue("\(error)".hasPrefix("recipe.yaml: \(keyPath): ") && "\(error)".contains(fragment), "\(error)")
            }
        }
        XCTAssertNoThrow(try parse(Self.minimal, overrides: ["stage=dpo", "lora.r=8"]).checkStageRules())
        XCTAssertNoThrow(try parse(Self.minimal, overrides: ["stage=dpo", "dpo.precompute_reference=true"]).checkStageRules())
    }

    func testTheReadmeDocumentsEveryKey() throws {
        let readme = try String(contentsOf: Fixtures.repository.appendingPathComponent("README.md"), encoding: .utf8)
        for keyPath in Recipe.keyPaths {
            XCTAssertTrue(readme.contains("| `\(keyPath)` |"), "README.md has no row for \(keyPath)")
        }
    }

    func testEveryRecipeInTheRepositoryValidates() throws {
        let folder = Fixtures.repository.appendingPathComponent("Recipes")
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) && isDirectory.boolValue, folder.path)
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }
        for file in files {
            XCTAssertNoThrow(try Recipe.load(file), file.lastPathComponent)
        }
    }
}
