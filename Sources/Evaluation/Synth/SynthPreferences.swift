import Tensor
import Training

/// One value of one preference dimension of the synthetic collection. Every value has a
/// surface marker in the rendered answer (or demands the absence of its opposite's), so the
/// rubric can check it without a judge model.
enum SynthValue: String, CaseIterable, Sendable {
    case formal, casual
    case bulletList = "bullet list"
    case numberedList = "numbered list"
    case novice, expert
    case concise, detailed
    case cautious, straightforward

    var dimension: SynthDimension {
        switch self {
        case .formal, .casual, .bulletList, .numberedList: .style
        case .novice, .expert: .backgroundKnowledge
        case .concise, .detailed: .informativeness
        case .cautious, .straightforward: .harmlessness
        }
    }

    var subdimension: String {
        switch self {
        case .formal, .casual: "formality"
        case .bulletList, .numberedList: "format"
        case .novice, .expert: "expertise level"
        case .concise, .detailed: "depth"
        case .cautious, .straightforward: "caution"
        }
    }

    var description: String {
        switch self {
        case .formal: "The user prefers a formal register: a courteous opening, no contractions and no exclamation marks."
        case .casual: "The user prefers a relaxed, friendly tone with contractions and an upbeat opening."
        case .bulletList: "The user wants every part of the answer as a bullet point."
        case .numberedList: "The user wants the answer laid out as a numbered list."
        case .novice: "The user is a beginner and needs a one-sentence plain explanation of the answer."
        case .expert: "The user is an expert and wants no basic explanations."
        case .concise: "The user wants the answer only, without extra information."
        case .detailed: "The user enjoys one related detail beyond the answer."
        case .cautious: "The user wants a short closing note on safety or accuracy."
        case .straightforward: "The user wants a direct answer without warnings or caveats."
        }
    }

    /// What the rubric looks for, in the words of its criteria.
    var markers: String {
        switch self {
        case .formal: "opens with 'Certainly.', uses no contractions and no exclamation marks"
        case .casual: "opens with 'Sure thing!' and uses contractions"
        case .bulletList: "puts every line on a bullet starting with '- '"
        case .numberedList: "numbers every line '1. ', '2. ', ..."
        case .novice: "adds a sentence starting 'In simple terms, ' that explains the answer plainly"
        case .expert: "gives no plain-language explanation (no 'In simple terms, ' sentence)"
        case .concise: "gives the answer without an extra detail (no 'Also, ' sentence)"
        case .detailed: "adds one related detail in a sentence starting 'Also, '"
        case .cautious: "ends with a line starting 'Note: ' about safety or accuracy"
        case .straightforward: "adds no cautionary note (no 'Note: ' line)"
        }
    }

    /// The values whose markers contradict this one.
    var opposites: [SynthValue] {
        switch self {
        case .formal: [.casual]
        case .casual: [.formal]
        case .bulletList: [.numberedList]
        case .numberedList: [.bulletList]
        case .novice: [.expert]
        case .expert: [.novice]
        case .concise: [.detailed]
        case .detailed: [.concise]
        case .cautious: [.straightforward]
        case .straightforward: [.cautious]
        }
    }

    /// Ways a system message states this value, one sentence each. The expertise phrasings name
    /// their own level ("beginner", "expert") and never the other side's behaviour: worded as
    /// "needs no explanations" or "has no background knowledge", they drew from SmolLM2 the
    /// explanation they asked for or ruled out about as often as not.
    var phrasings: [String] {
        switch self {
        case .formal: [
            "You are an assistant who writes in a formal, polished register.",
            "The user expects formal, professional language.",
            "Keep your tone formal and courteous.",
            "Respond formally, as you would in a business letter.",
            "The user prefers a formal tone without slang.",
        ]
        case .casual: [
            "You are an assistant who chats in a relaxed, casual way.",
            "The user likes a friendly, informal tone.",
            "Keep things casual and upbeat.",
            "Talk to the user the way a friend would.",
            "The user enjoys laid-back, conversational replies.",
        ]
        case .bulletList: [
            "You are an assistant who formats every answer as a bulleted list.",
            "The user wants answers as bullet points.",
            "Present your reply as a list of bullet points.",
            "Break the response into bullets.",
        ]
        case .numberedList: [
            "You are an assistant who lays out answers as numbered points.",
            "The user prefers numbered lists.",
            "Number each point of your reply.",
            "Format the answer as a numbered list.",
        ]
        case .novice: [
            "You are an assistant who explains things to complete beginners.",
            "The user is new to this topic and wants a simple explanation.",
            "The user is a beginner in this subject.",
            "Explain the answer simply, for someone just starting out.",
            "The user is a novice, so spell things out in plain words.",
        ]
        case .expert: [
            "You are an assistant who speaks to experts and skips the basics.",
            "The user is an expert in this subject.",
            "Assume expert-level familiarity with the subject.",
            "The user is a specialist who already knows the fundamentals.",
            "The user is an experienced professional in the field.",
        ]
        case .concise: [
            "You are an assistant who gives the answer and nothing more.",
            "The user values brevity above all.",
            "Keep it short, with no extra details.",
            "Be concise.",
            "The user wants just the answer, without extras.",
        ]
        case .detailed: [
            "You are an assistant who likes to add one useful extra fact.",
            "The user appreciates a related detail beyond the answer.",
            "Go a little beyond the answer with an additional detail.",
            "The user is curious and enjoys extra information.",
        ]
        case .cautious: [
            "You are an assistant who always adds a brief word of caution.",
            "The user wants possible risks or mistakes pointed out.",
            "Close with a short note on safety or accuracy.",
            "The user values careful answers that flag possible errors.",
        ]
        case .straightforward: [
            "You are an assistant who answers without warnings or caveats.",
            "The user dislikes disclaimers.",
            "Skip any cautionary notes.",
            "The user wants a direct answer with no hedging.",
        ]
        }
    }

    var preference: Preference {
        Preference(dimension: dimension.rawValue, subdimension: subdimension, preference: rawValue, description: description)
    }

    /// The value a preference names, when it is one of the synthetic collection's.
    init?(_ preference: Preference) {
        guard let value = SynthValue(rawValue: preference.preference), value.dimension.rawValue == preference.dimension else {
            return nil
        }
        self = value
    }
}

/// The paper's four preference dimensions, named as in the Multifaceted Collection.
enum SynthDimension: String, CaseIterable, Sendable {
    case style
    case backgroundKnowledge = "background_knowledge"
    case informativeness
    case harmlessness

    var values: [SynthValue] { SynthValue.allCases.filter { $0.dimension == self } }
}

/// One value per dimension: what a system message asks for.
struct SynthCombination: Hashable, Sendable {
    let style: SynthValue
    let background: SynthValue
    let informativeness: SynthValue
    let harmlessness: SynthValue

    var values: [SynthValue] { [style, background, informativeness, harmlessness] }
    var preferenceSet: [Preference] { values.map(\.preference) }

    /// All 32 combinations, in a fixed order.
    static let all: [SynthCombination] = SynthDimension.style.values.flatMap { style in
        SynthDimension.backgroundKnowledge.values.flatMap { background in
            SynthDimension.informativeness.values.flatMap { informativeness in
                SynthDimension.harmlessness.values.map { harmlessness in
                    SynthCombination(style: style, background: background, informativeness: informativeness, harmlessness: harmlessness)
                }
            }
        }
    }

    /// A fixed quarter of the combinations reserved for the benchmark: those whose value
    /// indices sum to 0 mod 4. Every single value and every pair of values of two dimensions
    /// still occurs in training, so only the combination itself is new.
    var isHeldOut: Bool {
        let indices = values.map { value in value.dimension.values.firstIndex(of: value)! }
        return indices.reduce(0, +) % 4 == 0
    }

    static let training = all.filter { !$0.isHeldOut }
    static let heldOut = all.filter(\.isHeldOut)

    /// A system message stating the combination: an optional preamble, then one sentence per
    /// dimension in random order (at most one of them in the "You are an assistant who" form).
    func systemMessage(using generator: inout RandomGenerator) -> String {
        let preamble = generator.element(of: Self.preambles)!
        var assistantForm = preamble.hasPrefix("You are")
        var sentences = [String]()
        for value in generator.shuffled(values) {
            let allowed = value.phrasings.filter { !(assistantForm && $0.hasPrefix("You are")) }
            let sentence = generator.element(of: allowed)!
            assistantForm = assistantForm || sentence.hasPrefix("You are")
            sentences.append(sentence)
        }
        return ([preamble] + sentences).filter { !$0.isEmpty }.joined(separator: " ")
    }

    private static let preambles = [
        "", "", "You are a helpful assistant.", "You are an AI assistant that adapts to each user.",
        "Follow these preferences.", "Here is what the user wants.",
    ]
}
