import Tokenizer

/// The Mistral-instruct template JANUS was trained with (axolotl): the prompt text
/// `[INST] {system}\n{prompt} [/INST]` tokenized with BOS, and the response tokenized on its
/// own without BOS (so it starts with the dummy-prefix space) followed by EOS. Loss and
/// log-probs cover the response tokens only, EOS included.
public enum ChatTemplate {
    public static func promptText(system: String?, prompt: String) -> String {
        if let system, !system.isEmpty { return "[INST] \(system)\n\(prompt) [/INST]" }
        return "[INST] \(prompt) [/INST]"
    }

    public static func promptIds(system: String?, prompt: String, tokenizer: Tokenizer) -> [Int32] {
        tokenizer.encode(promptText(system: system, prompt: prompt), addBOS: true)
    }

    public static func responseIds(_ response: String, tokenizer: Tokenizer) -> [Int32] {
        tokenizer.encode(response, addBOS: false) + [tokenizer.eosId]
    }

    /// A response to `prompt` under `system`, tokenized as the template prescribes.
    public static func example(system: String?, prompt: String, response: String, tokenizer: Tokenizer) -> TokenizedExample {
        TokenizedExample(
            promptIds: promptIds(system: system, prompt: prompt, tokenizer: tokenizer),
            responseIds: responseIds(response, tokenizer: tokenizer))
    }
}

/// One tokenized example: prompt then response, with the response tokens scored (and the
/// prompt's too when `scoresPrompt`, for ORPO's NLL over the whole chosen sequence).
public struct TokenizedExample: Sendable {
    public let ids: [Int32]
    public let promptLength: Int
    public var scoresPrompt = false

    public init(promptIds: [Int32], responseIds: [Int32]) {
        ids = promptIds + responseIds
        promptLength = promptIds.count
    }

    public var responseLength: Int { ids.count - promptLength }

    /// Whether position i predicts a response token (i + 1 is in the response).
    public func predictsResponse(_ i: Int) -> Bool { i + 1 < ids.count && i + 1 >= promptLength }

    /// Targets aligned with positions: position i predicts token i + 1, scored when that token
    /// belongs to the response (or to the prompt, with `scoresPrompt`); -1 elsewhere.
    public var targets: [Int32] {
        (0..<ids.count).map { i in i + 1 < ids.count && (scoresPrompt || predictsResponse(i)) ? ids[i + 1] : -1 }
    }
}
