import Foundation
import Yams

/// The root node of a YAML text, or nil for an empty one; `error` words a syntax error from its
/// message and the line the parser names.
func composeYAML(_ text: String, error: (String, Int?) -> RecipeError) throws -> Node? {
    do {
        return try Yams.compose(yaml: text)
    } catch let yamlError as YamlError {
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let during = context.map { "\($0.text), " } ?? ""
            throw error("malformed YAML: \(during)\(problem) (column \(mark.column))", mark.line)
        default:
            throw error("malformed YAML: \(yamlError)", nil)
        }
    }
}

/// Where each value of the recipe came from: the file, or a `--set` that replaced or added it.
struct RecipeSources {
    let file: String
    private var overrides: [(keyPath: String, text: String)] = []

    init(file: String) { self.file = file }

    func error(_ keyPath: String, _ message: String) -> RecipeError {
        let override = overrides.last { keyPath == $0.keyPath || keyPath.hasPrefix($0.keyPath + ".") }
        return RecipeError(source: override.map { "--set \($0.text)" } ?? file, keyPath: keyPath.isEmpty ? nil : keyPath, message)
    }

    /// `root` with one `KEY=VALUE` applied; sections on the way are created when missing.
    mutating func apply(_ text: String, to root: Node) throws -> Node {
        let source = "--set \(text)"
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let keys = parts[0].trimmingCharacters(in: .whitespaces).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !keys.contains(where: \.isEmpty) else {
            throw RecipeError(source: source, "expected KEY=VALUE with a dotted key, like train.learning_rate=1e-4")
        }
        let keyPath = keys.joined(separator: ".")
        let value = try composeYAML(String(parts[1])) { message, _ in RecipeError(source: source, keyPath: keyPath, message) }
        var firstAdded: String?
        let result = try Self.setting(
            value ?? .null, at: keys.map(String.init)[...], in: root, parent: "", source: source, firstAdded: &firstAdded)
        overrides.append((firstAdded ?? keyPath, text))
        return result
    }

    /// `firstAdded` receives the outermost key path that did not exist before, so that errors
    /// about a section the override created name the override.
    private static func setting(
        _ value: Node, at keys: ArraySlice<String>, in node: Node, parent: String, source: String, firstAdded: inout String?
    ) throws -> Node {
        guard let key = keys.first else { return value }
        var pairs: [(Node, Node)]
        switch node {
        case .mapping(let mapping): pairs = mapping.map { ($0.key, $0.value) }
        case _ where node.isNull: pairs = []
        default:
            throw RecipeError(source: source, keyPath: parent.isEmpty ? nil : parent, "is a value, not a section with a key \(key)")
        }
        let path = parent.isEmpty ? key : "\(parent).\(key)"
        if let index = pairs.firstIndex(where: { $0.0.scalar?.string == key }) {
            pairs[index].1 = try setting(
                value, at: keys.dropFirst(), in: pairs[index].1, parent: path, source: source, firstAdded: &firstAdded)
        } else {
            firstAdded = firstAdded ?? path
            let added = try setting(value, at: keys.dropFirst(), in: .null, parent: path, source: source, firstAdded: &firstAdded)
            pairs.append((Node(key), added))
        }
        return Node(pairs)
    }
}

/// One mapping of the recipe. It hands out values by key and remembers which keys were asked
/// for, so that `finish()` can reject any other key and list the allowed ones. An absent key
/// keeps the default; `null` means "none" for optional values and is an error otherwise.
final class SectionReader {
    private let path: String
    private let entries: [(key: String, value: Node)]
    private let sources: RecipeSources
    private var known: [String] = []

    init(_ node: Node, path: String, sources: RecipeSources) throws {
        self.path = path
        self.sources = sources
        guard case .mapping(let mapping) = node else {
            throw sources.error(path, "must be a mapping, found \(node.shown)")
        }
        var entries: [(key: String, value: Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { throw sources.error(path, "keys must be names, found \(key.shown)") }
            let keyPath = path.isEmpty ? name : "\(path).\(name)"
            guard !entries.contains(where: { $0.key == name }) else { throw sources.error(keyPath, "is given twice") }
            entries.append((name, value))
        }
        self.entries = entries
    }

    func error(_ key: String, _ message: String) -> RecipeError {
        sources.error(path.isEmpty ? key : "\(path).\(key)", message)
    }

    /// Whether the key is written at all, even as `null`.
    func contains(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// The raw value of an allowed key, nil when absent.
    func value(_ key: String) -> Node? {
        known.append(key)
        return entries.first { $0.key == key }?.value
    }

    func finish() throws {
        if let unknown = entries.first(where: { !known.contains($0.key) }) {
            throw error(unknown.key, "unknown key; allowed keys: \(known.joined(separator: ", "))")
        }
    }

    /// A subsection; absent or `null` reads as empty, so that every key takes its default.
    func section(_ key: String) throws -> SectionReader {
        try optionalSection(key) ?? SectionReader(Node([(Node, Node)]()), path: keyPath(key), sources: sources)
    }

    /// A subsection that may be left out (or `null`) as a whole.
    func optionalSection(_ key: String) throws -> SectionReader? {
        guard let node = value(key), !node.isNull else { return nil }
        return try SectionReader(node, path: keyPath(key), sources: sources)
    }

    func requiredString(_ key: String) throws -> String {
        var text: String?
        try read(key, into: &text)
        guard let text, !text.isEmpty else { throw error(key, "is required") }
        return text
    }

    func read(_ key: String, into target: inout String?) throws {
        guard let node = value(key) else { return }
        guard let scalar = node.scalar else { throw error(key, "must be a string, found \(node.shown)") }
        target = node.isNull ? nil : scalar.string
    }

    func read(_ key: String, into target: inout Bool) throws {
        guard let node = value(key) else { return }
        guard node.hasTag(.bool), let flag = node.scalar.flatMap(Bool.construct) else {
            throw error(key, "must be true or false, found \(node.shown)")
        }
        target = flag
    }

    func read(_ key: String, into target: inout Int, atLeast minimum: Int) throws {
        guard let node = value(key) else { return }
        target = try integer(key, node, atLeast: minimum)
    }

    func read(_ key: String, into target: inout Int?, atLeast minimum: Int) throws {
        guard let node = value(key) else { return }
        target = node.isNull ? nil : try integer(key, node, atLeast: minimum)
    }

    func read(_ key: String, into target: inout Double, _ range: NumberRange) throws {
        guard let node = value(key) else { return }
        target = try number(key, node, range)
    }

    func read(_ key: String, into target: inout Double?, _ range: NumberRange) throws {
        guard let node = value(key) else { return }
        target = node.isNull ? nil : try number(key, node, range)
    }

    func read<Choice: RawRepresentable>(_ key: String, into target: inout Choice, among choices: [Choice]) throws
    where Choice.RawValue == String {
        if let chosen = try choice(key, among: choices) { target = chosen }
    }

    /// The choice named by the key's value, nil when absent.
    func choice<Choice: RawRepresentable>(_ key: String, among choices: [Choice]) throws -> Choice?
    where Choice.RawValue == String {
        guard let node = value(key) else { return nil }
        guard !node.isNull, let choice = choices.first(where: { $0.rawValue == node.scalar?.string }) else {
            throw error(key, "must be one of \(choices.map(\.rawValue).joined(separator: ", ")), found \(node.shown)")
        }
        return choice
    }

    private func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func integer(_ key: String, _ node: Node, atLeast minimum: Int) throws -> Int {
        guard node.hasTag(.int), let integer = node.scalar.flatMap(Int.construct), integer >= minimum else {
            throw error(key, "must be an integer >= \(minimum), found \(node.shown)")
        }
        return integer
    }

    private func number(_ key: String, _ node: Node, _ range: NumberRange) throws -> Double {
        guard node.hasTag(.int) || node.hasTag(.float), let number = node.scalar.flatMap(Double.construct),
            number.isFinite, range.contains(number)
        else {
            throw error(key, "must be a number \(range), found \(node.shown)")
        }
        return number
    }
}

/// The values a floating-point key accepts, as error messages state them.
struct NumberRange: CustomStringConvertible {
    let contains: (Double) -> Bool
    let description: String

    static let positive = NumberRange(contains: { $0 > 0 }, description: "> 0")
    static let nonNegative = NumberRange(contains: { $0 >= 0 }, description: ">= 0")
    static func fromZero(below upper: Double) -> NumberRange {
        NumberRange(contains: { $0 >= 0 && $0 < upper }, description: "in [0, \(String(format: "%g", upper)))")
    }
}

extension Node {
    static let null = Node("null")

    func hasTag(_ name: Tag.Name) -> Bool { tag == Tag(name) }
    var isNull: Bool { hasTag(.null) }

    /// A value as error messages quote it.
    var shown: String {
        switch self {
        case .scalar(let scalar): return isNull ? "null" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}
