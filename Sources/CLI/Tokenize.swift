import ArgumentParser

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the token ids of a text (with the leading BOS).")

    @OptionGroup var model: ModelOptions
    @Option(help: "The text to tokenize.") var text: String
    @Flag(help: "Print {\"ids\": [...]}.") var json = false

    func run() throws {
        try reportingErrors {
            let tokenizer = try model.loadTokenizer()
            let ids = tokenizer.encode(text, addBOS: true)
            if json {
                print("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))]}")
            } else {
                for id in ids { print("\(id)\t\(tokenizer.piece(for: id) ?? "?")") }
                print("\(ids.count) tokens")
            }
        }
    }
}
