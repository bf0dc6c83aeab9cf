import Tensor

/// The fixed phrases a synthetic answer is built from; the rubric looks for the same ones.
enum SynthMarker {
    static let formalOpener = "Certainly."
    static let casualOpener = "Sure thing!"
    static let answer = "The answer is "
    static let casualAnswer = "Here's the answer: "
    static let explanation = "In simple terms, "
    static let detail = "Also, "
    static let note = "Note: "
    static let bullet = "- "
}

/// One instruction with its core answer and the sentences a preference may add: a plain
/// explanation (novice), a related detail (detailed) and a safety or accuracy note (cautious).
struct SynthTask: Sendable {
    let family: SynthFamily
    let prompt: String
    let answer: String
    let explanation: String
    let detail: String
    let note: String
    /// Words or facts the answer depends on: a benchmark instruction of a knowledge family
    /// only uses ones that training taught, in another phrasing.
    let keys: [String]

    /// The answer written for a combination of preferences, deterministically.
    func response(for combination: SynthCombination) -> String {
        var sentences: [String]
        switch combination.style {
        case .formal: sentences = [SynthMarker.formalOpener, SynthMarker.answer + answer + "."]
        case .casual: sentences = [SynthMarker.casualOpener, SynthMarker.casualAnswer + answer + "."]
        default: sentences = [SynthMarker.answer + answer + "."]
        }
        if combination.background == .novice { sentences.append(explanation) }
        if combination.informativeness == .detailed { sentences.append(detail) }
        let note = combination.harmlessness == .cautious ? note : nil
        switch combination.style {
        case .bulletList:
            return (sentences + [note].compactMap { $0 }).map { SynthMarker.bullet + $0 }.joined(separator: "\n")
        case .numberedList:
            return (sentences + [note].compactMap { $0 }).enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n")
        default:
            return sentences.joined(separator: " ") + (note.map { "\n" + $0 } ?? "")
        }
    }
}

/// Task families: copy and transform tasks whose answer can be computed from the prompt's
/// tokens, and a few small fact tables a tiny model can memorise.
enum SynthFamily: String, CaseIterable, Sendable {
    case reverse, sort
    case firstLetter = "first_letter"
    case `repeat`
    case lastItem = "last_item"
    case uppercase
    case count
    case capital
    case legs
    case definition

    /// Whether the answer is recalled rather than computed from the prompt.
    var needsKnowledge: Bool {
        switch self {
        case .firstLetter, .uppercase, .capital, .legs, .definition: true
        default: false
        }
    }

    func task(using g: inout RandomGenerator) -> SynthTask {
        switch self {
        case .reverse:
            let items = SynthTables.pick(SynthTables.items, 3...5, &g)
            return SynthTask(
                family: self, prompt: phrase(["Reverse the order of: #", "Write this list backwards: #", "List these items in reverse order: #"], items.joined(separator: ", "), &g),
                answer: items.reversed().joined(separator: ", "),
                explanation: "In simple terms, the list is read from the end to the start.",
                detail: "Also, the original list started with \(items[0]).",
                note: "Note: check that no item was left out.", keys: [])
        case .sort:
            let numbers = SynthTables.pick(Array(1...99), 3...5, &g)
            return SynthTask(
                family: self, prompt: phrase(["Sort these numbers from smallest to largest: #", "Put these numbers in ascending order: #", "Arrange these numbers from lowest to highest: #"], numbers.map(String.init).joined(separator: ", "), &g),
                answer: numbers.sorted().map(String.init).joined(separator: ", "),
                explanation: "In simple terms, the numbers are lined up from smallest to largest.",
                detail: "Also, the largest number is \(numbers.max()!).",
                note: "Note: check that no number was dropped.", keys: [])
        case .firstLetter:
            let word = g.element(of: SynthTables.words)!
            return SynthTask(
                family: self, prompt: phrase(["Give the first letter of the word '#'.", "What letter does the word '#' start with?", "Which letter begins the word '#'?"], word, &g),
                answer: String(word.first!),
                explanation: "In simple terms, it is the letter the word starts with.",
                detail: "Also, the word \(word) has \(word.count) letters.",
                note: "Note: letters are easy to misread, so check the spelling.", keys: [word])
        case .repeat:
            let word = g.element(of: SynthTables.words)!
            let times = g.nextInteger(in: 2...4)
            return SynthTask(
                family: self,
                prompt: phrase(["Repeat the word '#' \(SynthTables.numberWords[times]) times.", "Write '#' \(SynthTables.numberWords[times]) times in a row.", "Say the word '#' \(SynthTables.numberWords[times]) times."], word, &g),
                answer: [String](repeating: word, count: times).joined(separator: " "),
                explanation: "In simple terms, the same word is written again and again.",
                detail: "Also, the words are separated by spaces.",
                note: "Note: count the words to be sure.", keys: [])
        case .lastItem:
            let items = SynthTables.pick(SynthTables.items, 3...5, &g)
            return SynthTask(
                family: self, prompt: phrase(["What is the last item in: #?", "Name the final item of this list: #", "Which item comes last in: #?"], items.joined(separator: ", "), &g),
                answer: items.last!,
                explanation: "In simple terms, it is the item at the very end of the list.",
                detail: "Also, the list has \(items.count) items.",
                note: "Note: check the list again to be sure.", keys: [])
        case .uppercase:
            let adjective = g.element(of: SynthTables.adjectives)!
            let noun = g.element(of: SynthTables.nouns)!
            let text = "\(adjective) \(noun)"
            return SynthTask(
                family: self, prompt: phrase(["Write '#' in uppercase.", "Convert '#' to capital letters.", "Rewrite '#' in all caps."], text, &g),
                answer: text.uppercased(),
                explanation: "In simple terms, every letter becomes a capital letter.",
                detail: "Also, the lowercase form is \(text).",
                note: "Note: some names have their own capitalization rules.", keys: [adjective, noun])
        case .count:
            let items = SynthTables.pick(SynthTables.items, 2...6, &g)
            return SynthTask(
                family: self, prompt: phrase(["How many items are in this list: #?", "Count the items in: #", "How many things are listed here: #?"], items.joined(separator: ", "), &g),
                answer: String(items.count),
                explanation: "In simple terms, each item is counted once.",
                detail: "Also, the first item is \(items[0]).",
                note: "Note: count again to be sure.", keys: [])
        case .capital:
            let row = g.element(of: SynthTables.capitals)!
            return SynthTask(
                family: self, prompt: phrase(["What is the capital of #?", "Name the capital city of #.", "Which city is the capital of #?"], row.country, &g),
                answer: row.capital,
                explanation: "In simple terms, a capital is the city where a government meets.",
                detail: "Also, \(row.country) is in \(row.continent).",
                note: "Note: capitals can change, so verify with a trusted source.", keys: [row.country])
        case .legs:
            let row = g.element(of: SynthTables.animals)!
            let article = SynthTables.article(row.animal)
            return SynthTask(
                family: self, prompt: phrase(["How many legs does \(article) # have?", "State the number of legs of \(article) #.", "Count the legs of \(article) #."], row.animal, &g),
                answer: String(row.legs),
                explanation: "In simple terms, that is how many legs the animal walks on.",
                detail: "Also, the \(row.animal) is a kind of \(row.kind).",
                note: "Note: keep a safe distance from wild animals.", keys: [row.animal])
        case .definition:
            let row = g.element(of: SynthTables.definitions)!
            return SynthTask(
                family: self, prompt: phrase(["Define the word '#'.", "What does '#' mean?", "Give a short definition of '#'."], row.word, &g),
                answer: row.meaning,
                explanation: "In simple terms, this is what the word \(row.word) means.",
                detail: "Also, \(row.detail).",
                note: "Note: words can have more than one meaning.", keys: [row.word])
        }
    }

    /// One of the phrasings with `#` replaced by the subject.
    private func phrase(_ templates: [String], _ subject: String, _ g: inout RandomGenerator) -> String {
        g.element(of: templates)!.replacingOccurrences(of: "#", with: subject)
    }
}

/// The word lists and fact tables of the synthetic tasks. Answers and sentences hold no
/// apostrophes, exclamation marks or inner full stops, so the rubric's markers stay unambiguous.
enum SynthTables {
    static let items = [
        "apple", "pear", "plum", "fig", "grape", "lemon", "mango", "peach", "kiwi", "melon", "cherry", "olive",
        "red", "blue", "green", "yellow", "purple", "pink", "cat", "dog", "fox", "owl", "bear", "wolf",
        "lamp", "chair", "table", "book", "cup", "spoon", "river", "hill", "cloud", "stone", "boat", "bell",
    ]

    static let words = [
        "garden", "lamp", "river", "window", "pencil", "rocket", "apple", "candle", "forest", "guitar",
        "island", "jacket", "kettle", "ladder", "magnet", "needle", "orange", "planet", "rabbit", "silver",
        "tiger", "violin", "wagon", "yellow", "zebra", "bridge", "castle", "dragon", "engine", "flower",
    ]

    static let adjectives = ["sunny", "quiet", "happy", "cold", "bright", "green", "small", "old"]
    static let nouns = ["day", "room", "song", "river", "light", "garden", "city", "road"]

    static let numberWords = ["zero", "one", "two", "three", "four", "five"]

    static let capitals: [(country: String, capital: String, continent: String)] = [
        ("France", "Paris", "Europe"), ("Japan", "Tokyo", "Asia"), ("Italy", "Rome", "Europe"),
        ("Spain", "Madrid", "Europe"), ("Germany", "Berlin", "Europe"), ("Egypt", "Cairo", "Africa"),
        ("Kenya", "Nairobi", "Africa"), ("Canada", "Ottawa", "North America"), ("Mexico", "Mexico City", "North America"),
        ("Peru", "Lima", "South America"), ("Chile", "Santiago", "South America"), ("Brazil", "Brasilia", "South America"),
        ("Norway", "Oslo", "Europe"), ("Sweden", "Stockholm", "Europe"), ("Greece", "Athens", "Europe"),
        ("Portugal", "Lisbon", "Europe"), ("Ireland", "Dublin", "Europe"), ("Poland", "Warsaw", "Europe"),
        ("India", "New Delhi", "Asia"), ("China", "Beijing", "Asia"), ("Thailand", "Bangkok", "Asia"),
        ("Australia", "Canberra", "Oceania"), ("Argentina", "Buenos Aires", "South America"), ("Ghana", "Accra", "Africa"),
        ("Austria", "Vienna", "Europe"), ("Cuba", "Havana", "North America"),
    ]

    static let animals: [(animal: String, legs: Int, kind: String)] = [
        ("spider", 8, "arachnid"), ("scorpion", 8, "arachnid"), ("tick", 8, "arachnid"), ("ant", 6, "insect"),
        ("bee", 6, "insect"), ("beetle", 6, "insect"), ("butterfly", 6, "insect"), ("grasshopper", 6, "insect"),
        ("dog", 4, "mammal"), ("cat", 4, "mammal"), ("horse", 4, "mammal"), ("cow", 4, "mammal"), ("goat", 4, "mammal"),
        ("frog", 4, "amphibian"), ("lizard", 4, "reptile"), ("chicken", 2, "bird"), ("duck", 2, "bird"),
        ("ostrich", 2, "bird"), ("penguin", 2, "bird"), ("crab", 10, "crustacean"), ("lobster", 10, "crustacean"),
        ("shrimp", 10, "crustacean"), ("snake", 0, "reptile"),
    ]

    static let definitions: [(word: String, meaning: String, detail: String)] = [
        ("glacier", "a slow-moving mass of ice", "glaciers form where snow builds up over many years"),
        ("volcano", "a mountain that can erupt with lava", "lava cools into solid rock"),
        ("island", "land surrounded by water", "the largest island is Greenland"),
        ("desert", "a dry area with little rain", "some deserts are cold"),
        ("orbit", "the curved path of one object around another", "the Moon orbits the Earth"),
        ("harbor", "a sheltered place where ships stay", "harbors protect boats from waves"),
        ("bakery", "a shop that sells bread and cakes", "bakers often start work before dawn"),
        ("library", "a place where books are kept and lent", "many libraries also lend music and films"),
        ("compass", "a tool that shows which way is north", "a compass needle is a small magnet"),
        ("thermometer", "a tool that measures temperature", "body temperature is about 37 degrees Celsius"),
        ("canyon", "a deep valley with steep sides", "rivers carve canyons over millions of years"),
        ("meadow", "a field of grass and wild flowers", "meadows are home to many insects"),
        ("telescope", "a tool that makes distant things look closer", "Galileo used an early telescope"),
        ("recipe", "a set of steps for cooking a dish", "a recipe usually lists its ingredients first"),
        ("umbrella", "a folding cover that keeps off the rain", "umbrellas also give shade from the sun"),
        ("journey", "a trip from one place to another", "long journeys were once made on foot"),
        ("planet", "a large body that travels around a star", "Earth is the third planet from the Sun"),
        ("bridge", "a structure that carries a road over an obstacle", "some bridges can open for ships"),
    ]

    /// `count` distinct elements in random order, with `count` drawn from `range`.
    static func pick<T>(_ pool: [T], _ range: ClosedRange<Int>, _ g: inout RandomGenerator) -> [T] {
        Array(g.shuffled(pool).prefix(g.nextInteger(in: range)))
    }

    static func article(_ noun: String) -> String {
        "aeiou".contains(noun.first!) ? "an" : "a"
    }
}
