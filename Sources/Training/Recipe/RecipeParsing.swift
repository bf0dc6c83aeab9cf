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
        let rm = try top.section("rm")
        let output = try top.section("output")
        try top.finish()
        guard let stage else { throw top.error("stage", "is required: one of sft, dpo, orpo, rm") }
        try self.init(
            stage: stage, model: ModelSection(model), lora: lora.map { try LoRASection($0) }, data: DataSection(data),
            train: TrainSection(train), dpo: DPOSection(dpo), orpo: ORPOSection(orpo), rm: RMSection(rm),
            output: OutputSection(output))
        self.source = source
    }

    /// Refuses a combination of keys this stage cannot train, naming the key.
    public func checkStageRules() throws {
        if let (keyPath, message) = stageRuleViolation { throw RecipeError(source: source, keyPath: keyPath, message) }
    }

    private var stageRuleViolation: (String, String)? {
        if stage != .sft && data.packing {
            return ("data.packing", "packing applies to SFT; preference stages keep each pair in its own rows")
        }
        if lora == nil && stage == .dpo && !dpo.precomputeReference {
            return ("dpo.precompute_reference", "full fine-tuning DPO (no lora section) needs precompute_reference: true: its reference is the policy before training, scored once")
        }
        if lora == nil && model.dtype == .bfloat16 {
            return ("model.dtype", "bfloat16 storage is for frozen weights; full fine-tuning (no lora section) needs float32")
        }
        return nil
    }

    /// Every key a recipe may hold, as dotted paths in the documented order.
    public static var keyPaths: [String] {
        func paths<Section: RecipeSection>(_ name: String, _ section: Section.Type) -> [String] {
            Section.keys.map { "\(name).\($0.name)" }
        }
        return ["stage"] + paths("model", ModelSection.self) + paths("lora", LoRASection.self) + paths("data", DataSection.self)
            + paths("train", TrainSection.self) + paths("dpo", DPOSection.self) + paths("orpo", ORPOSection.self)
            + paths("rm", RMSection.self) + paths("output", OutputSection.self)
    }

    /// The recipe with every key spelled out, in the documented order; parsing it gives this recipe back.
    public var resolvedYAML: String {
        let document = Node([
            ("stage", .value(stage.rawValue)), ("model", model.node), ("lora", lora?.node ?? .null), ("data", data.node),
            ("train", train.node), ("dpo", dpo.node), ("orpo", orpo.node), ("rm", rm.node), ("output", output.node),
        ].map { (Node($0.0), $0.1) })
        // Plain scalars, quoted strings and flow lists always serialize.
        return try! Yams.serialize(node: document, width: -1)
    }
}

extension Recipe.ModelSection: RecipeSection {}
extension Recipe.DataSection: RecipeSection {}
extension Recipe.TrainSection: RecipeSection {}
extension Recipe.DPOSection: RecipeSection {}
extension Recipe.ORPOSection: RecipeSection {}
extension Recipe.RMSection: RecipeSection {}
extension Recipe.OutputSection: RecipeSection {}

extension Recipe.LoRASection: RecipeSection {
    /// A list of distinct module names, or PEFT's "all-linear".
    static func targetModules(_ node: Node, in section: SectionReader) throws -> [String] {
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
