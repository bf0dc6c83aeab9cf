import Foundation
import Tokenizer

/// What to do with an example longer than `max_seq_len`.
public enum TruncationPolicy: String, Sendable, CaseIterable {
    /// Keep the prompt and cut the end of the response (an example left with no response
    /// token is an error).
    case truncate
    /// Leave the example out and count it.
    case drop
    /// Stop with an error naming the record.
    case error
}

/// What a tokenized training set reports in the log header and `--dry-run`.
public protocol TrainingData {
    var recordCount: Int { get }  // valid records in the file
    var instructionCount: Int { get }
    var sharedPromptCount: Int { get }  // prompt strings with more than 3 records
    var exampleCount: Int { get }  // examples or pairs kept
    var invalidRecords: [DataError] { get }
    var truncatedCount: Int { get }
    var droppedCount: Int { get }
    var totalTokens: Int { get }
    var responseTokens: Int { get }
}

/// Tokenized supervised examples and the counts a run reports.
public struct SFTDataset: Sendable, TrainingData {
    public let examples: [TokenizedExample]
    public let recordCount: Int
    public let instructionCount: Int
    public let sharedPromptCount: Int
    public let systemMessagesPerInstruction: Int
    public let invalidRecords: [DataError]
    public let truncatedCount: Int
    public let droppedCount: Int

    public var responseTokens: Int { examples.reduce(0) { $0 + $1.responseLength } }
    public var exampleCount: Int { examples.count }
    public var totalTokens: Int { examples.reduce(0) { $0 + $1.ids.count } }

    public static func load(
        _ url: URL, tokenizer: Tokenizer, systemMessagesPerInstruction k: Int, maxSeqLen: Int,
        truncation: TruncationPolicy, skipInvalid: Bool, seed: UInt64, template: ChatTemplate.Kind = .janus
    ) throws -> SFTDataset {
        let loaded = try RecordReader.sft(url, skipInvalid: skipInvalid)
        let selection = InstructionSelection(prompts: loaded.records.map(\.prompt), k: k, seed: seed)
        var examples = [TokenizedExample]()
        var truncated = 0, dropped = 0
        for index in selection.keptIndices {
            let record = loaded.records[index]
            let example = ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer, template: template)
            guard let fitted = try example.fitted(to: maxSeqLen, policy: truncation, file: url.path, line: record.line) else {
                dropped += 1
                continue
            }
            if fitted.ids.count < example.ids.count { truncated += 1 }
            examples.append(fitted)
        }
        guard !examples.isEmpty else { throw DataError(file: url.path, "no example fits max_seq_len \(maxSeqLen)") }
        return SFTDataset(
            examples: examples, recordCount: loaded.records.count, instructionCount: selection.instructionCount,
            sharedPromptCount: selection.sharedPromptCount, systemMessagesPerInstruction: k, invalidRecords: loaded.invalid, truncatedCount: truncated, droppedCount: dropped)
    }
}

extension TokenizedExample {
    /// The example within `maxSeqLen` tokens under `policy`; nil when dropped.
    public func fitted(to maxSeqLen: Int, policy: TruncationPolicy, file: String, line: Int) throws -> TokenizedExample? {
        guard ids.count > maxSeqLen else { return self }
        switch policy {
        case .drop:
            return nil
        case .error:
            throw DataError(file: file, line: line, "the example has \(ids.count) tokens, more than max_seq_len \(maxSeqLen) (data.truncation: error)")
        case .truncate:
            guard promptLength < maxSeqLen else {
                throw DataError(file: file, line: line, "the prompt alone has \(promptLength) tokens, so no response token fits max_seq_len \(maxSeqLen)")
            }
            var truncated = TokenizedExample(
                promptIds: Array(ids.prefix(promptLength)),
                responseIds: Array(ids[promptLength..<maxSeqLen]))
            truncated.scoresPrompt = scoresPrompt
            return truncated
        }
    }
}
