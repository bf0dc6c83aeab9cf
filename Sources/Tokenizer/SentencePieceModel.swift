import Foundation

/// The parts of SentencePiece's `ModelProto` (sentencepiece_model.proto) that encoding and
/// decoding need, read from the protobuf wire format without a protobuf library.
struct SentencePieceModel {
    enum PieceType: Int {
        case normal = 1, unknown, control, userDefined, unused, byte
    }

    struct Piece {
        var text = ""
        var score: Float = 0
        var type = PieceType.normal
    }

    var pieces: [Piece] = []

    // TrainerSpec (defaults as in the .proto file).
    var modelType = 1
    var byteFallback = false
    var treatWhitespaceAsSuffix = false
    var unkPiece = "<unk>"
    var bosPiece = "<s>"
    var eosPiece = "</s>"
    var unkSurface = " \u{2047} "

    // NormalizerSpec.
    var normalizerName = ""
    var hasPrecompiledCharsMap = false
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true
    var hasDenormalizer = false

    /// Parses and validates a `tokenizer.model` file; problems become a `TokenizerError`.
    init(data: [UInt8], path: String) throws {
        do {
            var reader = ProtobufReader(data, in: 0..<data.count)
            while let (field, value) = try reader.next() {
                switch field {
                case 1: pieces.append(try Self.piece(reader.message(value, "pieces")))
                case 2: try readTrainerSpec(reader.message(value, "trainer_spec"))
                case 3: try readNormalizerSpec(reader.message(value, "normalizer_spec"), isDenormalizer: false)
                case 5: try readNormalizerSpec(reader.message(value, "denormalizer_spec"), isDenormalizer: true)
                default: break
                }
            }
        } catch let error as ProtobufError {
            throw TokenizerError(path: path, problem: "it is not a valid SentencePiece model file (\(error.reason))")
        }
        if let problem = validationProblem() {
            throw TokenizerError(path: path, problem: problem)
        }
    }

    private static func piece(_ message: ProtobufReader) throws -> Piece {
        var reader = message
        var piece = Piece()
        while let (field, value) = try reader.next() {
            switch field {
            case 1: piece.text = try reader.string(value, "piece")
            case 2: piece.score = try reader.float(value, "score")
            case 3:
                let raw = try reader.varint(value, "type")
                guard let type = PieceType(rawValue: Int(truncatingIfNeeded: raw)) else {
                    throw ProtobufError(reason: "piece type \(raw) is unknown")
                }
                piece.type = type
            default: break
            }
        }
        return piece
    }

    private mutating func readTrainerSpec(_ message: ProtobufReader) throws {
        var reader = message
        while let (field, value) = try reader.next() {
            switch field {
            case 3: modelType = Int(truncatingIfNeeded: try reader.varint(value, "model_type"))
            case 24: treatWhitespaceAsSuffix = try reader.varint(value, "treat_whitespace_as_suffix") != 0
            case 35: byteFallback = try reader.varint(value, "byte_fallback") != 0
            case 44: unkSurface = try reader.string(value, "unk_surface")
            case 45: unkPiece = try reader.string(value, "unk_piece")
            case 46: bosPiece = try reader.string(value, "bos_piece")
            case 47: eosPiece = try reader.string(value, "eos_piece")
            default: break
            }
        }
    }

    private mutating func readNormalizerSpec(_ message: ProtobufReader, isDenormalizer: Bool) throws {
        var reader = message
        while let (field, value) = try reader.next() {
            if isDenormalizer {
                if field == 2 { hasDenormalizer = try !reader.bytes(value, "precompiled_charsmap").isEmpty }
                continue
            }
            switch field {
            case 1: normalizerName = try reader.string(value, "name")
            case 2: hasPrecompiledCharsMap = try !reader.bytes(value, "precompiled_charsmap").isEmpty
            case 3: addDummyPrefix = try reader.varint(value, "add_dummy_prefix") != 0
            case 4: removeExtraWhitespaces = try reader.varint(value, "remove_extra_whitespaces") != 0
            case 5: escapeWhitespaces = try reader.varint(value, "escape_whitespaces") != 0
            default: break
            }
        }
    }

    /// The checks SentencePiece makes when it loads a model, plus what this implementation
    /// does not support.
    private func validationProblem() -> String? {
        if pieces.isEmpty { return "it holds no pieces, so it is not a SentencePiece model" }
        guard modelType == 2 else {
            let names = [1: "UNIGRAM", 3: "WORD", 4: "CHAR"]
            return "it is a \(names[modelType] ?? "type \(modelType)") model, but only BPE models are supported"
        }
        if treatWhitespaceAsSuffix { return "treat_whitespace_as_suffix models are not supported" }
        if hasPrecompiledCharsMap {
            return "its normalizer \"\(normalizerName)\" is not supported (only \"identity\" is)"
        }
        if hasDenormalizer { return "models with a denormalizer are not supported" }

        var reserved = Set<String>()
        var mergeable = Set<String>()
        var unknownCount = 0
        var bytesFound = Set<UInt8>()
        for piece in pieces {
            if piece.text.isEmpty { return "a piece is empty" }
            if piece.text.utf8.contains(0) { return "a piece contains a NUL character" }
            let isMergeable = [.normal, .userDefined, .unused].contains(piece.type)
            let (inserted, _) = isMergeable ? mergeable.insert(piece.text) : reserved.insert(piece.text)
            if !inserted { return "the piece \"\(piece.text)\" is defined twice" }
            switch piece.type {
            case .unknown: unknownCount += 1
            case .byte:
                guard byteFallback else {
                    return "it has the byte piece \(piece.text) although byte_fallback is off"
                }
                guard let byte = byteValue(ofPiece: piece.text) else {
                    return "the byte piece \(piece.text) is invalid"
                }
                bytesFound.insert(byte)
            default: break
            }
        }
        if unknownCount != 1 { return "it defines \(unknownCount) unknown pieces instead of one" }
        if byteFallback && bytesFound.count != 256 { return "byte_fallback is on but it lacks some of the 256 byte pieces" }
        return nil
    }
}

/// The byte a piece such as `<0x0A>` stands for, or nil when it is not a byte piece.
func byteValue(ofPiece piece: String) -> UInt8? {
    let utf8 = Array(piece.utf8)
    guard utf8.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else { return nil }
    let hex = String(decoding: utf8[3..<5], as: UTF8.self)
    guard hex == hex.uppercased(), let value = UInt8(hex, radix: 16) else { return nil }
    return value
}

struct ProtobufError: Error {
    let reason: String
}

/// Reads (field number, value) pairs of one protobuf message from a byte range.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case lengthDelimited(Range<Int>)
        case fixed32(UInt32)
    }

    private let data: [UInt8]
    private var position: Int
    private let end: Int

    init(_ data: [UInt8], in range: Range<Int>) {
        self.data = data
        position = range.lowerBound
        end = range.upperBound
    }

    mutating func next() throws -> (Int, Value)? {
        guard position < end else { return nil }
        let key = try readVarint()
        let field = key >> 3
        guard field > 0, field < 1 << 29 else { throw ProtobufError(reason: "field number \(field) is invalid") }
        switch key & 7 {
        case 0: return (Int(field), .varint(try readVarint()))
        case 1: return (Int(field), .fixed64(try readLittleEndian(byteCount: 8)))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(end - position) else { throw ProtobufError(reason: "it is truncated") }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return (Int(field), .lengthDelimited(range))
        case 5: return (Int(field), .fixed32(UInt32(try readLittleEndian(byteCount: 4))))
        default: throw ProtobufError(reason: "wire type \(key & 7) of field \(field) is not supported")
        }
    }

    func varint(_ value: Value, _ name: String) throws -> UInt64 {
        guard case .varint(let number) = value else { throw wrongType(name) }
        return number
    }

    func float(_ value: Value, _ name: String) throws -> Float {
        guard case .fixed32(let bits) = value else { throw wrongType(name) }
        return Float(bitPattern: bits)
    }

    func bytes(_ value: Value, _ name: String) throws -> ArraySlice<UInt8> {
        guard case .lengthDelimited(let range) = value else { throw wrongType(name) }
        return data[range]
    }

    func string(_ value: Value, _ name: String) throws -> String {
        guard let text = String(validating: try bytes(value, name), as: UTF8.self) else {
            throw ProtobufError(reason: "the \(name) field is not valid UTF-8")
        }
        return text
    }

    func message(_ value: Value, _ name: String) throws -> ProtobufReader {
        guard case .lengthDelimited(let range) = value else { throw wrongType(name) }
        return ProtobufReader(data, in: range)
    }

    private func wrongType(_ name: String) -> ProtobufError {
        ProtobufError(reason: "the \(name) field has the wrong wire type")
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError(reason: "it is truncated") }
            guard shift < 64 else { throw ProtobufError(reason: "a varint is too long") }
            let byte = data[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    private mutating func readLittleEndian(byteCount: Int) throws -> UInt64 {
        guard end - position >= byteCount else { throw ProtobufError(reason: "it is truncated") }
        var result: UInt64 = 0
        for index in 0..<byteCount {
            result |= UInt64(data[position + index]) << (8 * UInt64(index))
        }
        position += byteCount
        return result
    }
}
