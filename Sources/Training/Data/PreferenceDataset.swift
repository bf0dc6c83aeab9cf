import Foundation
import Tokenizer

/// One tokenized preference pair: the same prompt with the chosen and the rejected response.
public struct PreferencePair: Sendable {
    public let chosen: TokenizedExample
    public let rejected: TokenizedExample

    public var length: Int { max(chosen.ids.count, rejected.ids.count) }
}

/// Tokenized preference pairs for DPO and ORPO.
public struct PreferenceDataset: Sendable, TrainingData {
    public let pairs: [PreferencePair]
    public let recordCount: Int
    public let instructionCount: Int
    public let sharedPromptCount: Int
    public let systemMessagesPerInstruction: Int
    public let invalidRecords: [DataError]
    public let truncatedCount: Int
    public let droppedCount: Int

    public var totalTokens: Int { pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count } }
    public var responseTokens: Int { pairs.reduce(0) { $0 + $1.chosen.responseLength + $1.rejected.responseLength } }
    public var exampleCount: Int { pairs.count }

    /// - Parameter scoreChosenPrompt: score the chosen prompt tokens too (ORPO's NLL over the
    ///   whole chosen sequence, as TRL computes it).
    public static func load(
        _ url: URL, tokenizer: Tokenizer, systemMessagesPerInstruction k: Int, maxSeqLen: Int,
        truncation: TruncationPolicy, skipInvalid: Bool, seed: UInt64, template: ChatTemplate.Kind = .janus, scoreChosenPrompt: Bool = false
    ) throws -> PreferenceDataset {
        let loaded = try RecordReader.preferences(url, skipInvalid: skipInvalid)
        let selection = InstructionSelection(prompts: loaded.records.map(\.prompt), k: k, seed: seed)
        var pairs = [PreferencePair]()
        var truncated = 0, dropped = 0
        for index in selection.keptIndices {
            let record = loaded.records[index]
            var chosen = ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.chosen, tokenizer: tokenizer, template: template)
            chosen.scoresPrompt = scoreChosenPrompt
            let rejected = ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.rejected, tokenizer: tokenizer, template: template)
            guard let fittedChosen = try chosen.fitted(to: maxSeqLen, policy: truncation, file: url.path, line: record.line),
                  let fittedRejected = try rejected.fitted(to: maxSeqLen, policy: truncation, file: url.path, line: record.line)
            else {
                dropped += 1
                continue
            }
            if fittedChosen.ids.count < chosen.ids.count || fittedRejected.ids.count < rejected.ids.count { truncated += 1 }
            pairs.append(PreferencePair(chosen: fittedChosen, rejected: fittedRejected))
        }
        guard !pairs.isEmpty else { throw DataError(file: url.path, "no preference pair fits max_seq_len \(maxSeqLen)") }
        return PreferenceDataset(
            pairs: pairs, recordCount: loaded.records.count, instructionCount: selection.instructionCount,
            sharedPromptCount: selection.sharedPromptCount, systemMessagesPerInstruction: k, invalidRecords: loaded.invalid, truncatedCount: truncated, droppedCount: dropped)
    }
}
