import Evaluation
import Foundation
import Tokenizer
import Training
import TestSupport
import XCTest

/// The synthetic collection and bench of the CPU demo, and the rule-based judge.
final class SynthTests: XCTestCase {
    private static let dataset = Synth.generate(SynthOptions(instructions: 120, benchInstructions: 30, seed: 7))

    /// The dataset written and read back through the package's readers.
    private func written(_ dataset: SynthDataset = SynthTests.dataset) throws -> URL {
        let directory = try Fixtures.temporaryDirectory(self).appendingPathComponent("synth")
        try Synth.write(dataset, to: directory)
        return directory
    }

    func testSameSeedSameDataAndAnotherSeedOther() {
        let options = SynthOptions(instructions: 30, benchInstructions: 10, seed: 3)
        let first = Synth.generate(options), second = Synth.generate(options)
        XCTAssertEqual(first.train, second.train)
        XCTAssertEqual(first.pairs, second.pairs)
        XCTAssertEqual(first.bench, second.bench)
        XCTAssertEqual(first.heldOutPairs, second.heldOutPairs)
        XCTAssertNotEqual(first.train, Synth.generate(SynthOptions(instructions: 30, benchInstructions: 10, seed: 4)).train)
    }

    func testCountsAndThreeDistinctSystemMessagesPerInstruction() {
        let dataset = Self.dataset
        XCTAssertEqual(dataset.train.count, 360)
        XCTAssertEqual(dataset.pairs.count, 360)
        XCTAssertEqual(dataset.bench.count, 90)
        XCTAssertEqual(dataset.heldOutPairs.count, 90)
        XCTAssertEqual(dataset.trainingCombinations.count + dataset.heldOutCombinations.count, 32)
        XCTAssertEqual(dataset.heldOutCombinations.count, 8)
        for records in [dataset.train, dataset.bench] {
            let groups = Dictionary(grouping: records, by: \.prompt)
            XCTAssertEqual(groups.count * 3, records.count)
            for (prompt, group) in groups {
                XCTAssertEqual(group.count, 3, prompt)
                XCTAssertEqual(Set(group.map(\.system)).count, 3, prompt)
                XCTAssertEqual(Set(group.map { $0.preferenceSet.map(\.preference) }).count, 3, prompt)
                XCTAssertEqual(Set(group.map(\.output)).count, 3, prompt)
            }
        }
        let families = Set(dataset.train.map(\.family))
        XCTAssertGreaterThanOrEqual(families.count, 10)
    }

    func testFilesParseWithThePackageReaders() throws {
        let directory = try written()
        let train = try RecordReader.sft(directory.appendingPathComponent("train.jsonl"))
        XCTAssertEqual(train.records.count, Self.dataset.train.count)
        XCTAssertTrue(train.invalid.isEmpty)
        for (record, expected) in zip(train.records, Self.dataset.train) {
            XCTAssertEqual(record.system, expected.system)
            XCTAssertEqual(record.prompt, expected.prompt)
            XCTAssertEqual(record.output, expected.output)
            XCTAssertEqual(record.preferenceSet, expected.preferenceSet)
            XCTAssertEqual(record.preferenceSet.map(\.dimension), ["style", "background_knowledge", "informativeness", "harmlessness"])
        }
        XCTAssertEqual(try RecordReader.sft(directory.appendingPathComponent("eval.jsonl")).records.map(\.output),
                       Self.dataset.bench.map(\.output))
        XCTAssertEqual(try RecordReader.preferences(directory.appendingPathComponent("pairs.jsonl")).records.count, Self.dataset.pairs.count)
        XCTAssertEqual(try RecordReader.preferences(directory.appendingPathComponent("pairs-heldout.jsonl")).records.count,
                       Self.dataset.heldOutPairs.count)
        XCTAssertEqual(try RecordReader.kind(of: directory.appendingPathComponent("pairs.jsonl")), .preference)
        XCTAssertEqual(try RecordReader.kind(of: directory.appendingPathComponent("train.jsonl")), .sft)

        let bench = try BenchReader.read(directory.appendingPathComponent("bench.jsonl"))
        XCTAssertEqual(bench.map(\.referenceAnswer), Self.dataset.bench.map(\.output))
        XCTAssertEqual(bench.map(\.answer), Self.dataset.bench.map { Optional($0.answer) })
        let lines = try String(contentsOf: directory.appendingPathComponent("bench.jsonl"), encoding: .utf8).split(separator: "\n")
        for line in lines {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for key in ["source", "system", "prompt", "reference_answer"] { XCTAssertNotNil(object[key] as? String, key) }
            let rubrics = try XCTUnwrap(object["rubrics"] as? [[String: Any]])
            XCTAssertEqual(rubrics.count, 4)
            for rubric in rubrics {
                XCTAssertNotNil(rubric["criteria"] as? String)
                XCTAssertEqual((rubric["score_descriptions"] as? [String: String])?.keys.sorted(), ["1", "2", "3", "4", "5"])
            }
        }
    }

    func testWriteOverwritesItsFilesAndKeepsOthers() throws {
        let directory = try written(Synth.generate(SynthOptions(instructions: 40, benchInstructions: 5, seed: 1)))
        let other = directory.appendingPathComponent("notes.txt")
        try "keep me".write(to: other, atomically: true, encoding: .utf8)
        try Synth.write(Synth.generate(SynthOptions(instructions: 10, benchInstructions: 5, seed: 1)), to: directory)
        XCTAssertEqual(try RecordReader.sft(directory.appendingPathComponent("train.jsonl")).records.count, 30)
        XCTAssertEqual(try String(contentsOf: other, encoding: .utf8), "keep me")
    }

    func testBenchInstructionsAndCombinationsNeverOccurInTraining() {
        let dataset = Self.dataset
        let heldOut = Set(dataset.heldOutCombinations.map { $0.map(\.preference) })
        let training = Set(dataset.trainingCombinations.map { $0.map(\.preference) })
        XCTAssertTrue(heldOut.isDisjoint(with: training))
        let trainPrompts = Set(dataset.train.map(\.prompt) + dataset.pairs.map(\.prompt))
        let trainSystems = Set(dataset.train.map(\.system) + dataset.pairs.map(\.system))
        for record in dataset.train {
            XCTAssertFalse(heldOut.contains(record.preferenceSet.map(\.preference)), record.system)
        }
        for record in dataset.bench {
            XCTAssertTrue(heldOut.contains(record.preferenceSet.map(\.preference)), record.system)
            XCTAssertFalse(trainPrompts.contains(record.prompt), record.prompt)
            XCTAssertFalse(trainSystems.contains(record.system), record.system)
        }
        // Every single preference value still occurs in training: only the combination is new.
        let trainedValues = Set(dataset.train.flatMap { $0.preferenceSet.map(\.preference) })
        XCTAssertEqual(trainedValues, Set(dataset.bench.flatMap { $0.preferenceSet.map(\.preference) }).union(trainedValues))
        XCTAssertEqual(trainedValues.count, 10)
    }

    func testPairsRejectAnotherSystemMessagesAnswerOfTheSameInstruction() {
        for (pairs, records) in [(Self.dataset.pairs, Self.dataset.train), (Self.dataset.heldOutPairs, Self.dataset.bench)] {
            XCTAssertEqual(pairs.count, records.count)
            let outputs = Dictionary(grouping: records, by: \.prompt).mapValues { Set($0.map(\.output)) }
            for (pair, record) in zip(pairs, records) {
                XCTAssertEqual(pair.system, record.system)
                XCTAssertEqual(pair.prompt, record.prompt)
                XCTAssertEqual(pair.chosen, record.output)
                XCTAssertNotEqual(pair.chosen, pair.rejected)
                XCTAssertTrue(outputs[pair.prompt]!.contains(pair.rejected), pair.rejected)
            }
        }
    }

    func testOutputsCarryTheMarkersOfTheirPreferences() {
        for record in Self.dataset.train {
            let values = Set(record.preferenceSet.map(\.preference))
            let output = record.output
            XCTAssertEqual(output.hasPrefix("Certainly."), values.contains("formal"), output)
            XCTAssertEqual(output.hasPrefix("Sure thing!"), values.contains("casual"), output)
            XCTAssertEqual(output.hasPrefix("- "), values.contains("bullet list"), output)
            XCTAssertEqual(output.hasPrefix("1. "), values.contains("numbered list"), output)
            XCTAssertEqual(output.contains("In simple terms, "), values.contains("novice"), output)
            XCTAssertEqual(output.contains("Also, "), values.contains("detailed"), output)
            XCTAssertEqual(output.contains("Note: "), values.contains("cautious"), output)
            XCTAssertTrue(output.contains(record.answer), output)
            if !values.contains("casual") {
                XCTAssertFalse(output.contains("'") || output.contains("!"), output)
            }
        }
    }

    /// A system message states the user's level in that level's own words, never through the
    /// other level's behaviour ("needs no explanations"), which a pretrained model misreads.
    func testExpertiseIsStatedByItsOwnLevel() {
        for record in Self.dataset.train + Self.dataset.bench {
            let system = record.system.lowercased()
            let expert = record.preferenceSet.contains { $0.preference == "expert" }
            let own = expert ? ["expert", "specialist", "experienced professional"] : ["beginner", "novice", "new to this topic", "explain"]
            let other = expert ? ["explain", "beginner", "novice", "background knowledge"] : ["expert", "specialist", "fundamentals"]
            XCTAssertTrue(own.contains { system.contains($0) }, record.system)
            XCTAssertFalse(other.contains { system.contains($0) }, record.system)
        }
    }

    func testReferenceAnswersScoreFiveEverywhere() throws {
        let bench = try BenchReader.read(written().appendingPathComponent("bench.jsonl"))
        for record in bench {
            let score = Rubric.score(record.referenceAnswer, for: record)
            XCTAssertEqual(score, RubricScore(style: 5, backgroundKnowledge: 5, informativeness: 5, harmlessness: 5, correctness: 5),
                           record.referenceAnswer)
            XCTAssertEqual(score.mean, 5)
        }
        // Training outputs too, judged against their own preferences.
        for record in Self.dataset.train {
            let bench = BenchRecord(
                system: record.system, prompt: record.prompt, referenceAnswer: record.output,
                preferenceSet: record.preferenceSet, answer: record.answer)
            XCTAssertEqual(Rubric.score(record.output, for: bench).mean, 5, record.output)
        }
    }

    func testAnAnswerForOtherPreferencesScoresLowerWhereTheyDiffer() throws {
        let bench = try BenchReader.read(written().appendingPathComponent("bench.jsonl"))
        var compared = 0
        for group in Dictionary(grouping: bench, by: \.prompt).values {
            for record in group {
                for other in group where other.referenceAnswer != record.referenceAnswer {
                    let score = Rubric.score(other.referenceAnswer, for: record)
                    let dimensions: [(String, Int)] = [
                        ("style", score.style), ("background_knowledge", score.backgroundKnowledge),
                        ("informativeness", score.informativeness), ("harmlessness", score.harmlessness),
                    ]
                    for (dimension, value) in dimensions {
                        let wanted = record.preferenceSet.first { $0.dimension == dimension }!.preference
                        let given = other.preferenceSet.first { $0.dimension == dimension }!.preference
                        if wanted == given {
                            XCTAssertEqual(value, 5, "\(dimension): \(other.referenceAnswer)")
                        } else {
                            XCTAssertLessThanOrEqual(value, 2, "\(dimension) \(wanted) vs \(given): \(other.referenceAnswer)")
                        }
                    }
                    XCTAssertEqual(score.correctness, 5)
                    XCTAssertLessThan(score.mean, 5)
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, bench.count * 2)
    }

    func testGibberishAndWrongAnswersScoreLow() throws {
        let record = try XCTUnwrap(BenchReader.read(written().appendingPathComponent("bench.jsonl")).first)
        for gibberish in ["", "zqx vlorp ▁▁ kk kk", "!!!!", "- - -", "qqq\nqqq"] {
            let score = Rubric.score(gibberish, for: record)
            XCTAssertLessThanOrEqual(score.mean, 1.2, "\(gibberish): \(score)")
            XCTAssertEqual(score.correctness, 1, gibberish)
        }
        // The right markers around a wrong answer lose only correctness.
        let answer = try XCTUnwrap(record.answer)
        let wrong = record.referenceAnswer.replacingOccurrences(of: "answer is \(answer).", with: "answer is zzz.")
            .replacingOccurrences(of: "answer: \(answer).", with: "answer: zzz.")
        XCTAssertEqual(Rubric.score(wrong, for: record).correctness, 1, wrong)
        XCTAssertEqual(Rubric.score(wrong, for: record).style, 5, wrong)
    }

    func testRubricGradesPartialAnswersAndMarkers() {
        let record = BenchRecord(
            system: "", prompt: "Sort these numbers from smallest to largest: 9, 2, 7", referenceAnswer: "",
            preferenceSet: Self.dataset.heldOutCombinations[0], answer: "2, 7, 9")
        let values = record.preferenceSet.map(\.preference)
        XCTAssertEqual(Rubric.score("The answer is 2, 7, 9.", for: record).correctness, 5)
        XCTAssertEqual(Rubric.score("The answer is 2, 7, 9 and 10.", for: record).correctness, 4)
        XCTAssertEqual(Rubric.score("The answer is 9, 7, 2.", for: record).correctness, 3)
        XCTAssertEqual(Rubric.score("The answer is 2, 8, 10.", for: record).correctness, 2)
        XCTAssertEqual(Rubric.score("The answer is 5.", for: record).correctness, 1)
        XCTAssertEqual(Rubric.score("I think 2, 7, 9 works", for: record).correctness, 4)
        // A bare answer is usable: absence-only preferences hold, demanded markers are missing.
        let bare = Rubric.score("2, 7, 9", for: record)
        XCTAssertEqual(bare.correctness, 4)
        XCTAssertEqual(bare.style, 2, "\(values)")
        let averages = Rubric.average([bare, Rubric.score("zz", for: record)])
        XCTAssertEqual(Set(averages.keys), ["style", "background_knowledge", "informativeness", "harmlessness", "correctness", "mean"])
        XCTAssertEqual(averages["correctness"]!, 2.5, accuracy: 1e-12)
        XCTAssertEqual(averages["style"]!, 1.5, accuracy: 1e-12)
        XCTAssertTrue(Rubric.average([]).isEmpty)
    }

    func testBenchReaderNamesFileLineAndField() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let url = directory.appendingPathComponent("bench.jsonl")
        let good = try String(contentsOf: written().appendingPathComponent("bench.jsonl"), encoding: .utf8)
            .split(separator: "\n")[0]
        try (String(good) + "\n" + String(good).replacingOccurrences(of: "\"answer\":", with: "\"answr\":") + "\n")
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BenchReader.readSynthetic(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path):2: field 'answer': missing (the rule-based judge reads `train synth` benches only)")
        }
        XCTAssertEqual(try BenchReader.read(url).map(\.answer), [record0Answer(good), nil], "the real format needs no answer")
        try String(good).replacingOccurrences(of: "\"preference\":\"expert\"", with: "\"preference\":\"wizard\"")
            .replacingOccurrences(of: "\"preference\":\"novice\"", with: "\"preference\":\"wizard\"")
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BenchReader.readSynthetic(url)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(url.path):1: field 'preference_set': unknown preference 'wizard'"), "\(error)")
        }
        XCTAssertEqual(try BenchReader.read(url).first?.preferenceSet.contains { $0.preference == "wizard" }, true)
    }

    private func record0Answer(_ line: Substring) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["answer"] as? String
    }

    /// Short enough for a tiny model to train on in minutes with the real Mistral tokenizer.
    func testRecordsAreShortInMistralTokens() throws {
        let tokenizer = try Tokenizer(contentsOf: Fixtures.tokenizerModel)
        var responses = [Int](), totals = [Int]()
        for record in Self.dataset.train + Self.dataset.bench {
            let prompt = ChatTemplate.promptIds(system: record.system, prompt: record.prompt, tokenizer: tokenizer)
            let response = ChatTemplate.responseIds(record.output, tokenizer: tokenizer)
            responses.append(response.count)
            totals.append(prompt.count + response.count)
        }
        responses.sort()
        totals.sort()
        print("synth tokens: response median \(responses[responses.count / 2]), max \(responses.last!); "
              + "record median \(totals[totals.count / 2]), max \(totals.last!)")
        XCTAssertLessThan(responses[responses.count / 2], 50)
        XCTAssertLessThanOrEqual(totals.last!, 256)
    }

    func testSynthCommandWritesTheFiles() throws {
        let directory = try Fixtures.temporaryDirectory(self).appendingPathComponent("data")
        let result = try runTrain(["synth", "--out", directory.path, "--instructions", "20"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for name in Synth.fileNames {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), name)
        }
        XCTAssertEqual(try RecordReader.sft(directory.appendingPathComponent("train.jsonl")).records.count, 60)
        XCTAssertTrue(result.stdout.contains("60 records"), result.stdout)
        XCTAssertTrue(result.stdout.contains("8 held out"), result.stdout)

        let bad = try runTrain(["synth", "--out", directory.path, "--instructions", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--instructions must be at least 1"), bad.stderr)
    }
}
