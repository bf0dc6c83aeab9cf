import Tokenizer

/// How a record becomes tokens (`data.template`). Loss and log-probs cover the response tokens
/// only, EOS included.
///
/// - `janus`: the Mistral-instruct template JANUS was trained with (axolotl): the prompt text
///   `[INST] {system}\n{prompt} [/INST]` tokenized with BOS, and the response tokenized on its
///   own without BOS (so it starts with the dummy-prefix space) followed by EOS.
/// - `chatml`: axolotl's `chat_template: chatml` (the authors' ORPO run):
///   `<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n`
///   with BOS (when the tokenizer has one: SmolLM2's has none), and `{response}<|im_end|>`
///   followed by EOS, as TRL's ORPOTrainer appends it, unless `<|im_end|>` is the EOS token. When the tokenizer has `<|im_start|>` and
///   `<|im_end|>` as tokens they are used, and the text between them is tokenized piece by piece
///   (as HF's legacy Llama/Mistral tokenizers do after an added token, and as byte-level
///   tokenizers split added tokens out of any text); otherwise they are ordinary text, as in the
///   paper, whose vocabulary stayed at Mistral's 32000 tokens.
public enum ChatTemplate {
    public enum Kind: String, Sendable, CaseIterable {
        case janus, chatml
    }

    static let chatMLMarkers = ["<|im_start|>", "<|im_end|>"]

    public static func promptText(system: String?, prompt: String, template: Kind = .janus) -> String {
        let system = system.flatMap { $0.isEmpty ? nil : $0 }
        switch template {
        case .janus:
            if let system { return "[INST] \(system)\n\(prompt) [/INST]" }
            return "[INST] \(prompt) [/INST]"
        case .chatml:
            let turn = system.map { "<|im_start|>system\n\($0)<|im_end|>\n" } ?? ""
            return turn + "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
        }
    }

    public static func responseText(_ response: String, template: Kind = .janus) -> String {
        template == .chatml ? response + "<|im_end|>" : response
    }

    public static func promptIds(system: String?, prompt: String, tokenizer: Tokenizer, template: Kind = .janus) -> [Int32] {
        (tokenizer.bosId.map { [$0] } ?? []) + encode(promptText(system: system, prompt: prompt, template: template), tokenizer, template)
    }

    /// The response's ids, ending with EOS once: a ChatML model whose EOS is `<|im_end|>`
    /// (SmolLM2) ends its turn with that token alone, as its own chat template and its
    /// generation do.
    public static func responseIds(_ response: String, tokenizer: Tokenizer, template: Kind = .janus) -> [Int32] {
        let ids = encode(responseText(response, template: template), tokenizer, template)
        return ids.last == tokenizer.eosId ? ids : ids + [tokenizer.eosId]
    }

    /// A response to `prompt` under `system`, tokenized as the template prescribes.
    public static func example(
        system: String?, prompt: String, response: String, tokenizer: Tokenizer, template: Kind = .janus
    ) -> TokenizedExample {
        TokenizedExample(
            promptIds: promptIds(system: system, prompt: prompt, tokenizer: tokenizer, template: template),
            responseIds: responseIds(response, tokenizer: tokenizer, template: template))
    }

    /// Text without BOS; ChatML's markers become their own ids when the tokenizer has them.
    private static func encode(_ text: String, _ tokenizer: Tokenizer, _ template: Kind) -> [Int32] {
        let markers = chatMLMarkers.compactMap { marker in tokenizer.id(for: marker).map { (text: marker, id: $0) } }
        guard template == .chatml, markers.count == chatMLMarkers.count else { return tokenizer.encode(text, addBOS: false) }
        var ids = [Int32](), rest = Substring(text)
        while true {
            let next = markers.compactMap { marker in rest.range(of: marker.text).map { (marker.id, $0) } }
                .min { $0.1.lowerBound < $1.1.lowerBound }
            let before = rest[..<(next?.1.lowerBound ?? rest.endIndex)]
            if !before.isEmpty { ids += tokenizer.encode(String(before), addBOS: false) }
            guard let (id, range) = next else { return ids }
            ids.append(id)
            rest = rest[range.upperBound...]
        }
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
