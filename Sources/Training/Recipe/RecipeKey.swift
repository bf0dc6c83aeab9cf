import Yams

/// One recipe key, declared once: its YAML name, the rule its value must follow, and how it
/// is read into and written back from the section's property.
struct RecipeKey<Section> {
    let name: String
    let read: (SectionReader, inout Section) throws -> Void
    let write: (Section) -> Node

    static func integer(_ name: String, _ property: WritableKeyPath<Section, Int>, atLeast minimum: Int) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property], atLeast: minimum) }, write: { .value($0[keyPath: property]) })
    }

    static func integer(_ name: String, _ property: WritableKeyPath<Section, Int?>, atLeast minimum: Int) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property], atLeast: minimum) }, write: { .value($0[keyPath: property]) })
    }

    static func number(_ name: String, _ property: WritableKeyPath<Section, Double>, _ range: NumberRange) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property], range) }, write: { .value($0[keyPath: property]) })
    }

    static func number(_ name: String, _ property: WritableKeyPath<Section, Double?>, _ range: NumberRange) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property], range) }, write: { .value($0[keyPath: property]) })
    }

    static func flag(_ name: String, _ property: WritableKeyPath<Section, Bool>) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property]) }, write: { .value($0[keyPath: property]) })
    }

    static func text(_ name: String, _ property: WritableKeyPath<Section, String?>) -> Self {
        Self(name: name, read: { try $0.read(name, into: &$1[keyPath: property]) }, write: { .value($0[keyPath: property]) })
    }

    /// A string without a default: the recipe must give it.
    static func requiredText(_ name: String, _ property: WritableKeyPath<Section, String>) -> Self {
        Self(name: name, read: { $1[keyPath: property] = try $0.requiredString(name) }, write: { .value($0[keyPath: property]) })
    }

    static func choice<Choice: RawRepresentable>(
        _ name: String, _ property: WritableKeyPath<Section, Choice>, among choices: [Choice]
    ) -> Self where Choice.RawValue == String {
        Self(
            name: name, read: { try $0.read(name, into: &$1[keyPath: property], among: choices) },
            write: { .value($0[keyPath: property].rawValue) })
    }

    /// A value Facet may choose itself: `auto` (nil) or one the `parse` accepts.
    static func automatic<Value>(
        _ name: String, _ property: WritableKeyPath<Section, Value?>, expected: String, parse: @escaping (Node) -> Value?,
        write: @escaping (Value) -> Node
    ) -> Self {
        Self(
            name: name,
            read: { section, target in
                guard let node = section.value(name) else { return }
                if !node.isNull, node.scalar?.string == "auto" {
                    target[keyPath: property] = nil
                } else if let value = parse(node) {
                    target[keyPath: property] = value
                } else {
                    throw section.error(name, "must be auto or \(expected), found \(node.shown)")
                }
            },
            write: { section in section[keyPath: property].map(write) ?? Node("auto") })
    }

    static func flagOrAuto(_ name: String, _ property: WritableKeyPath<Section, Bool?>) -> Self {
        automatic(name, property, expected: "true or false", parse: { $0.hasTag(.bool) ? $0.scalar.flatMap(Bool.construct) : nil }, write: Node.value)
    }

    static func choiceOrAuto<Choice: RawRepresentable>(
        _ name: String, _ property: WritableKeyPath<Section, Choice?>, among choices: [Choice]
    ) -> Self where Choice.RawValue == String {
        automatic(
            name, property, expected: "one of \(choices.map(\.rawValue).joined(separator: ", "))",
            parse: { node in node.isNull ? nil : choices.first { $0.rawValue == node.scalar?.string } },
            write: { .value($0.rawValue) })
    }

    static func choice<Choice: RawRepresentable & CaseIterable>(_ name: String, _ property: WritableKeyPath<Section, Choice>) -> Self
    where Choice.RawValue == String {
        choice(name, property, among: Array(Choice.allCases))
    }
}

/// A section of the recipe, read and written through its declared keys.
protocol RecipeSection {
    /// Every default filled in; required values empty until read.
    static var defaults: Self { get }
    static var keys: [RecipeKey<Self>] { get }
    /// Rules that involve several keys, checked once every key is read.
    mutating func checkCombination(_ section: SectionReader) throws
}

extension RecipeSection {
    mutating func checkCombination(_ section: SectionReader) throws {}

    init(_ section: SectionReader) throws {
        self = Self.defaults
        for key in Self.keys { try key.read(section, &self) }
        try section.finish()
        try checkCombination(section)
    }

    var node: Node { Node(Self.keys.map { (Node($0.name), $0.write(self)) }) }
}

extension Node {
    static func value(_ text: String) -> Node { .scalar(text.represented()) }
    static func value(_ text: String?) -> Node { text.map(value) ?? .null }
    static func value(_ flag: Bool) -> Node { Node(flag ? "true" : "false") }
    static func value(_ integer: Int) -> Node { Node(String(integer)) }
    static func value(_ integer: Int?) -> Node { integer.map(value) ?? .null }
    // `description` is the shortest text that reads back to the same Double.
    static func value(_ number: Double) -> Node { Node(number.description) }
    static func value(_ number: Double?) -> Node { number.map(value) ?? .null }
}
