import Model
import Tensor
import Yams

extension Recipe {
    /// Parses and validates recipe text. `source` names the text in errors; `overrides` are
    /// `KEY=VALUE` strings whose values are YAML (`1e-4`, `[q_proj, v_proj]`, `null`), applied in order.
    public init(yaml: String, source: String, overrides: [String] = []) throws {
        var sources = RecipeSources(file: source)
        var root = try composeYAML(yaml) { RecipeError(source: source, line: $1, $0) } ?? Node([(Node, Node)]())
        guard case .mapping = root else { throw RecipeError(source: source, "must be a mapping of sections, found \(root.shown)") }
        for override in overrides {
            root = try sources.apply(override, to: root)
        }
        let top = try SectionReader(root, path: "", sources: sources)
        let stage = try top.choice("stage", among: Stage.allCases)
        let model = try top.section("model")
        let lora = try top.optionalSection("lora")
        let data = try top.section("data")
        let train = try top.section("train")
        let dpo = try top.section("dpo")
        let orpo = try top.section("orpo")
        let output = try top.section("output")
        try top.finish()
        guard let stage else { throw top.error("stage", "is required: one of sft, dpo, orpo") }
        try self.init(
            stage: stage, model: ModelSection(model), lora: lora.map { try LoRASection($0) }, data: DataSection(data),
            train: TrainSection(train), dpo: DPOSection(dpo), orpo: ORPOSection(orpo), output: OutputSection(output))
    }

    /// The recipe with every key spelled out, in the documented order; parsing it gives this recipe back.
    public var resolvedYAML: String {
        let document = Node.section([
            ("stage", .value(stage.rawValue)),
            ("model", .section([("path", .value(model.path)), ("dtype", .value(model.dtype.rawValue))])),
            ("lora", lora.map { lora in
                .section([
                    ("r", .value(lora.r)), ("alpha", .value(lora.alpha)), ("dropout", .value(lora.dropout)),
                    ("target_modules", Node(lora.targetModules.map { Node.value($0) }, .implicit, .flow)),
                    ("use_rslora", .value(lora.useRslora)),
                ])
            } ?? .null),
            ("data", .section([
                ("train", .value(data.train)), ("eval", .value(data.eval)),
                ("system_messages_per_instruction", .value(data.systemMessagesPerInstruction)),
                ("max_seq_len", .value(data.maxSeqLen)), ("packing", .value(data.packing)),
                ("truncation", .value(data.truncation.rawValue)), ("skip_invalid", .value(data.skipInvalid)),
            ])),
            ("train", .section([
                ("epochs", .value(train.epochs)), ("max_steps", .value(train.maxSteps)),
                ("micro_batch_size", .value(train.microBatchSize)),
                ("gradient_accumulation_steps", .value(train.gradientAccumulationSteps)),
                ("learning_rate", .value(train.learningRate)), ("lr_scheduler", .value(train.lrScheduler.rawValue)),
                ("warmup_steps", .value(train.warmupSteps)), ("warmup_ratio", .value(train.warmupRatio)),
                ("weight_decay", .value(train.weightDecay)), ("max_grad_norm", .value(train.maxGradNorm)),
                ("adam_beta1", .value(train.adamBeta1)), ("adam_beta2", .value(train.adamBeta2)),
                ("adam_epsilon", .value(train.adamEpsilon)), ("seed", .value(train.seed)),
                ("eval_every_steps", .value(train.evalEverySteps)),
                ("activation_checkpointing", .value(train.activationCheckpointing)),
            ])),
            ("dpo", .section([
                ("beta", .value(dpo.beta)), ("loss", .value(dpo.loss.rawValue)),
                ("label_smoothing", .value(dpo.labelSmoothing)), ("precompute_reference", .value(dpo.precomputeReference)),
            ])),
            ("orpo", .section([("lambda", .value(orpo.lambda)), ("nll_on_prompt", .value(orpo.nllOnPrompt))])),
            ("output", .section([
                ("dir", .value(output.dir)), ("save_every_steps", .value(output.saveEverySteps)),
                ("keep_last", .value(output.keepLast)), ("log_every_steps", .value(output.logEverySteps)),
            ])),
        ])
        // Plain scalars, quoted strings and flow lists always serialize.
        return try! Yams.serialize(node: document, width: -1)
    }
}

extension Recipe.ModelSection {
    init(_ section: SectionReader) throws {
        self.init(path: try section.requiredString("path"))
        try section.read("dtype", into: &dtype, among: [DType.float32, .bfloat16])
        try section.finish()
    }
}

extension Recipe.LoRASection {
    init(_ section: SectionReader) throws {
        self.init()
        try section.read("r", into: &r, atLeast: 1)
        try section.read("alpha", into: &alpha, .positive)
        try section.read("dropout", into: &dropout, .fromZero(below: 1))
        if let node = section.value("target_modules") { targetModules = try Self.targetModules(node, in: section) }
        try section.read("use_rslora", into: &useRslora)
        try section.finish()
    }

    /// A list of distinct module names, or PEFT's "all-linear".
    private static func targetModules(_ node: Node, in section: SectionReader) throws -> [String] {
        let allowed = LoRAConfig.allTargets.joined(separator: ", ")
        if node.hasTag(.str), node.scalar?.string == "all-linear" { return LoRAConfig.allTargets }
        guard case .sequence(let items) = node, !items.isEmpty else {
            throw section.error("target_modules", "must be all-linear or a list of \(allowed), found \(node.shown)")
        }
        var modules: [String] = []
        for item in items {
            guard let name = item.scalar?.string, LoRAConfig.allTargets.contains(name) else {
                throw section.error("target_modules", "unknown module \(item.shown); allowed: \(allowed) or all-linear")
            }
            guard !modules.contains(name) else { throw section.error("target_modules", "lists '\(name)' twice") }
            modules.append(name)
        }
        return modules
    }
}

extension Recipe.DataSection {
    init(_ section: SectionReader) throws {
        self.init(train: try section.requiredString("train"))
        try section.read("eval", into: &eval)
        try section.read("system_messages_per_instruction", into: &systemMessagesPerInstruction, atLeast: 1)
        try section.read("max_seq_len", into: &maxSeqLen, atLeast: 8)
        try section.read("packing", into: &packing)
        try section.read("truncation", into: &truncation, among: TruncationPolicy.allCases)
        try section.read("skip_invalid", into: &skipInvalid)
        try section.finish()
    }
}

extension Recipe.TrainSection {
    init(_ section: SectionReader) throws {
        self.init()
        try section.read("epochs", into: &epochs, atLeast: 1)
        try section.read("max_steps", into: &maxSteps, atLeast: 1)
        try section.read("micro_batch_size", into: &microBatchSize, atLeast: 1)
        try section.read("gradient_accumulation_steps", into: &gradientAccumulationSteps, atLeast: 1)
        try section.read("learning_rate", into: &learningRate, .positive)
        try section.read("lr_scheduler", into: &lrScheduler, among: LRSchedule.Kind.allCases)
        try section.read("warmup_steps", into: &warmupSteps, atLeast: 0)
        try section.read("warmup_ratio", into: &warmupRatio, .fromZero(below: 1))
        if warmupRatio != nil {
            // The default warmup_steps gives way to a ratio; an explicit one conflicts with it.
            guard warmupSteps == nil || !section.contains("warmup_steps") else {
                throw section.error("warmup_ratio", "cannot be combined with warmup_steps; give one of them")
            }
            warmupSteps = nil
        }
        try section.read("weight_decay", into: &weightDecay, .nonNegative)
        try section.read("max_grad_norm", into: &maxGradNorm, .positive)
        try section.read("adam_beta1", into: &adamBeta1, .fromZero(below: 1))
        try section.read("adam_beta2", into: &adamBeta2, .fromZero(below: 1))
        try section.read("adam_epsilon", into: &adamEpsilon, .positive)
        try section.read("seed", into: &seed, atLeast: 0)
        try section.read("eval_every_steps", into: &evalEverySteps, atLeast: 1)
        try section.read("activation_checkpointing", into: &activationCheckpointing)
        try section.finish()
    }
}

extension Recipe.DPOSection {
    init(_ section: SectionReader) throws {
        self.init()
        try section.read("beta", into: &beta, .positive)
        try section.read("loss", into: &loss, among: DPOLossType.allCases)
        try section.read("label_smoothing", into: &labelSmoothing, .fromZero(below: 0.5))
        try section.read("precompute_reference", into: &precomputeReference)
        try section.finish()
        guard labelSmoothing == 0 || loss == .sigmoid else {
            throw section.error("label_smoothing", "applies to loss sigmoid only, found loss \(loss.rawValue)")
        }
    }
}

extension Recipe.ORPOSection {
    init(_ section: SectionReader) throws {
        self.init()
        try section.read("lambda", into: &lambda, .nonNegative)
        try section.read("nll_on_prompt", into: &nllOnPrompt)
        try section.finish()
    }
}

extension Recipe.OutputSection {
    init(_ section: SectionReader) throws {
        self.init(dir: try section.requiredString("dir"))
        try section.read("save_every_steps", into: &saveEverySteps, atLeast: 1)
        try section.read("keep_last", into: &keepLast, atLeast: 1)
        try section.read("log_every_steps", into: &logEverySteps, atLeast: 1)
        try section.finish()
    }
}

extension Node {
    fileprivate static func section(_ pairs: [(String, Node)]) -> Node { Node(pairs.map { (Node($0.0), $0.1) }) }
    fileprivate static func value(_ text: String) -> Node { .scalar(text.represented()) }
    fileprivate static func value(_ text: String?) -> Node { text.map(value) ?? .null }
    fileprivate static func value(_ flag: Bool) -> Node { Node(flag ? "true" : "false") }
    fileprivate static func value(_ integer: Int) -> Node { Node(String(integer)) }
    fileprivate static func value(_ integer: Int?) -> Node { integer.map(value) ?? .null }
    // `description` is the shortest text that reads back to the same Double.
    fileprivate static func value(_ number: Double) -> Node { Node(number.description) }
    fileprivate static func value(_ number: Double?) -> Node { number.map(value) ?? .null }
}
