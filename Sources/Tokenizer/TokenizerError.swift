/// A tokenizer file that cannot be used, with the reason as a sentence naming the file.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The path of the file (or folder) that could not be loaded.
    public let path: String
    /// What is wrong with it, without a trailing period.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "Cannot load the tokenizer from \(path): \(problem)." }
}
