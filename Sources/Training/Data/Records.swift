import Foundation

/// One preference of a Multifaceted Collection record.
public struct Preference: Sendable, Equatable {
    public let dimension: String
    public let subdimension: String
    public let preference: String
    public let description: String

    public init(dimension: String, subdimension: String, preference: String, description: String) {
        self.dimension = dimension
        self.subdimension = subdimension
        self.preference = preference
        self.description = description
    }
}

/// A supervised record: the system message states the user's preferences.
public struct SFTRecord: Sendable {
    public let line: Int
    public let system: String?
    public let prompt: String
    public let output: String
    public let preferenceSet: [Preference]
}

/// A preference pair for DPO/ORPO.
public struct PreferenceRecord: Sendable {
    public let line: Int
    public let system: String?
    public let prompt: String
    public let chosen: String
    public let rejected: String
}

public enum RecordKind: String, Sendable {
    case sft, preference
}

/// Field access with errors that name the file, line and field.
public struct RecordFields {
    public let object: [String: Any]
    public let file: String
    public let line: Int

    public init(object: [String: Any], file: String, line: Int) {
        self.object = object
        self.file = file
        self.line = line
    }

    public func error(_ field: String?, _ message: String) -> DataError {
        DataError(file: file, line: line, field: field, message)
    }

    public func string(_ key: String, allowEmpty: Bool = true) throws -> String {
        guard let value = object[key], !(value is NSNull) else { throw error(key, "missing") }
        guard let text = value as? String else { throw error(key, "must be a string, found \(jsonTypeName(value))") }
        if !allowEmpty && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw error(key, "is empty") }
        return text
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw error(key, "must be a string, found \(jsonTypeName(value))") }
        return text
    }

    /// A response given as a string or as a message list (the last assistant message counts).
    public func response(_ key: String) throws -> String {
        guard let value = object[key], !(value is NSNull) else { throw error(key, "missing") }
        if value is String { return try string(key, allowEmpty: false) }
        guard let messages = value as? [Any] else {
            throw error(key, "must be a string or a list of messages, found \(jsonTypeName(value))")
        }
        for message in messages.reversed() {
            guard let fields = message as? [String: Any] else { throw error(key, "messages must be objects with role and content") }
            if fields["role"] as? String == "assistant" {
                guard let content = fields["content"] as? String else { throw error(key, "the assistant message has no string content") }
                guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(key, "is empty") }
                return content
            }
        }
        throw error(key, "has no assistant message")
    }

    /// A conversation of one turn: an optional system message, then one user and one assistant
    /// message. Anything longer is an error: Facet trains single-turn records, and cutting a
    /// conversation silently would train on something other than the file says.
    public func singleTurn(_ key: String) throws -> (system: String?, prompt: String, response: String) {
        guard let messages = object[key] as? [Any] else { throw error(key, "must be a list of messages, found \(jsonTypeName(object[key] as Any))") }
        var system: String?, user: String?, assistant: String?
        for (index, message) in messages.enumerated() {
            guard let fields = message as? [String: Any], let role = fields["role"] as? String, let content = fields["content"] as? String else {
                throw error(key, "message \(index + 1) must be an object with string role and content")
            }
            switch role {
            case "system" where system == nil && user == nil: system = content
            case "user" where user == nil: user = content
            case "assistant" where user != nil && assistant == nil: assistant = content
            default:
                throw error(key, "message \(index + 1) ('\(role)') makes it more than one turn; Facet trains single-turn records (an optional system message, one user and one assistant message)")
            }
        }
        guard let user, !user.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(key, "has no user message") }
        guard let assistant, !assistant.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(key, "has no assistant message") }
        return (system, user, assistant)
    }

    public func preferenceSet() throws -> [Preference] {
        guard let value = object["preference_set"], !(value is NSNull) else { return [] }
        guard let entries = value as? [Any] else { throw error("preference_set", "must be a list") }
        return try entries.map { entry in
            guard let fields = entry as? [String: Any] else { throw error("preference_set", "entries must be objects") }
            func text(_ key: String) throws -> String {
                guard let value = fields[key] as? String else { throw error("preference_set.\(key)", "must be a string") }
                return value
            }
            return Preference(
                dimension: try text("dimension"), subdimension: try text("subdimension"),
                preference: try text("preference"), description: try text("description"))
        }
    }
}

private func jsonTypeName(_ value: Any) -> String {
    switch value {
    case is String: return "a string"
    case is NSNumber: return "a number"
    case is [Any]: return "a list"
    case is [String: Any]: return "an object"
    default: return "null"
    }
}

/// Records of a JSONL file and the lines that were skipped as invalid.
public struct LoadedRecords<Record: Sendable>: Sendable {
    public var records: [Record]
    public var invalid: [DataError]
}

public enum RecordReader {
    /// Supervised records in one of three shapes: Multifaceted Collection (`system`, `prompt`,
    /// `output`, `preference_set`, ...), `messages` (a single turn: an optional system message,
    /// one user and one assistant message), or `prompt` / `completion` (with an optional
    /// `system`; the completion a string or a message list).
    public static func sft(_ url: URL, skipInvalid: Bool = false) throws -> LoadedRecords<SFTRecord> {
        try read(url, skipInvalid: skipInvalid) { fields in
            if fields.object["messages"] != nil {
                let turn = try fields.singleTurn("messages")
                return SFTRecord(line: fields.line, system: turn.system, prompt: turn.prompt, output: turn.response, preferenceSet: [])
            }
            let output = fields.object["completion"] != nil ? try fields.response("completion") : try fields.string("output", allowEmpty: false)
            return SFTRecord(
                line: fields.line, system: try fields.optionalString("system"), prompt: try fields.string("prompt", allowEmpty: false),
                output: output, preferenceSet: try fields.preferenceSet())
        }
    }

    /// Preference pairs (`system`, `prompt`, `chosen`, `rejected`).
    public static func preferences(_ url: URL, skipInvalid: Bool = false) throws -> LoadedRecords<PreferenceRecord> {
        try read(url, skipInvalid: skipInvalid) { fields in
            PreferenceRecord(
                line: fields.line, system: try fields.optionalString("system"),
                prompt: try fields.string("prompt", allowEmpty: false),
                chosen: try fields.response("chosen"), rejected: try fields.response("rejected"))
        }
    }

    /// From the first record: preference data has `chosen`, anything else is SFT.
    public static func kind(of url: URL) throws -> RecordKind {
        try firstObject(url)["chosen"] != nil ? .preference : .sft
    }

    /// The first well-formed record of a JSONL file, to tell what kind of file it is.
    public static func firstObject(_ url: URL) throws -> [String: Any] {
        for entry in try JSONLines(url: url) {
            if case .success(let (_, object)) = entry { return object }
        }
        throw DataError(file: url.path, "contains no records")
    }

    private static func read<Record>(
        _ url: URL, skipInvalid: Bool, _ make: (RecordFields) throws -> Record
    ) throws -> LoadedRecords<Record> {
        var loaded = LoadedRecords<Record>(records: [], invalid: [])
        for entry in try JSONLines(url: url) {
            do {
                let (line, object) = try entry.get()
                loaded.records.append(try make(RecordFields(object: object, file: url.path, line: line)))
            } catch let error as DataError {
                guard skipInvalid else { throw error }
                loaded.invalid.append(error)
            }
        }
        if loaded.records.isEmpty { throw DataError(file: url.path, "contains no valid records") }
        return loaded
    }
}
