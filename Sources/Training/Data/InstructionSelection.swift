import Tensor

/// Keeps `k` system messages per instruction: records with the same `prompt` form one
/// instruction; where an instruction has more than `k`, a seeded draw picks which stay (so
/// the 1/2/3 ablation is reproducible). Input order is kept.
public struct InstructionSelection: Sendable {
    /// System messages per instruction in the Multifaceted Collection: a prompt string with more
    /// records is shared by several instructions, which are grouped (and drawn from) as one.
    public static let collectionSystemMessages = 3

    public let keptIndices: [Int]
    public let instructionCount: Int
    /// Prompt strings with more than `collectionSystemMessages` records.
    public let sharedPromptCount: Int

    public init(prompts: [String], k: Int, seed: UInt64) {
        require(k >= 1, "InstructionSelection: k must be at least 1, found \(k)")
        var groups = [String: [Int]]()
        var order = [String]()
        for (index, prompt) in prompts.enumerated() {
            if groups[prompt] == nil { order.append(prompt) }
            groups[prompt, default: []].append(index)
        }
        var generator = RandomGenerator(seed: seed)
        var kept = [Int]()
        for prompt in order {
            var members = groups[prompt]!
            if members.count > k {
                generator.shuffle(&members)
                members = Array(members.prefix(k))
            }
            kept += members
        }
        keptIndices = kept.sorted()
        instructionCount = order.count
        sharedPromptCount = groups.values.filter { $0.count > Self.collectionSystemMessages }.count
    }
}
