import Foundation
import TestSupport
import Training
import XCTest

/// Saves that cannot happen fail as one error and leave every earlier checkpoint in place.
final class CheckpointSafetyTests: XCTestCase {
    /// Runs `chattr` on `folder`; false where the file system or the process cannot.
    private func chattr(_ flag: String, _ folder: URL) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [flag, folder.path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// The output folder turns read-only after the first checkpoint. The tests run as root,
    /// whom file modes do not stop; the immutable attribute (`chattr +i`) stops root too.
    func testASaveIntoAReadOnlyFolderFailsAndKeepsTheEarlierCheckpoint() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let directory = try Fixtures.temporaryDirectory(self)
        try XCTSkipUnless(chattr("+i", directory) && chattr("-i", directory), "chattr +i is not available on this file system")
        let output = directory.appendingPathComponent("out")
        let recipe = try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            lora: {r: 4, alpha: 8}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
            train: {epochs: 2, micro_batch_size: 2, gradient_accumulation_steps: 2, learning_rate: 1.0e-3}
            output: {dir: \(output.path), save_every_steps: 2, keep_last: 1}
            """, source: "test recipe")
        let run = try TrainingRun(recipe: recipe)
        addTeardownBlock { _ = self.chattr("-i", output) }
        var madeReadOnly = false
        XCTAssertThrowsError(try run.trainer.run { event in
            guard case .checkpoint = event, !madeReadOnly else { return }
            madeReadOnly = self.chattr("+i", output)
        }) { error in
            XCTAssertTrue("\(error)".contains("step-000004.h5: was not saved (earlier checkpoints are kept)"), "\(error)")
        }
        XCTAssertTrue(madeReadOnly)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(), ["metrics.jsonl", "step-000002.h5"])
        XCTAssertEqual(try Checkpoint.read(output.appendingPathComponent("step-000002.h5")).globalStep, 2)
    }

    /// A NaN in a row of the embedding no example uses leaves every loss and gradient finite;
    /// the save still refuses to write it.
    func testNoCheckpointFromNonFiniteParameters() throws {
        let folder = try Fixtures.tinyMistralFolder(self)
        let output = try Fixtures.temporaryDirectory(self).appendingPathComponent("out")
        let recipe = try Recipe(yaml: """
            stage: sft
            model: {path: \(folder.path)}
            data: {train: \(Fixtures.url("sft-sample.jsonl").path), max_seq_len: 128}
            train: {epochs: 1, max_steps: 1, micro_batch_size: 2, gradient_accumulation_steps: 1, learning_rate: 1.0e-3}
            output: {dir: \(output.path), save_every_steps: null}
            """, source: "test recipe")
        let run = try TrainingRun(recipe: recipe)
        let hidden = run.model.config.hiddenSize
        run.model.embedTokens.data[(run.model.config.vocabSize - 1) * hidden] = .nan
        var losses = [Double]()
        XCTAssertThrowsError(try run.trainer.run { event in
            if case .step(let report) = event { losses.append(report.loss) }
        }) { error in
            XCTAssertEqual(
                "\(error)", "\(output.path)/final.h5: not written: parameter model.embed_tokens.weight holds a non-finite value")
        }
        XCTAssertEqual(losses.count, 1)
        XCTAssertTrue(losses.allSatisfy(\.isFinite), "the step itself was finite")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path), ["metrics.jsonl"])
    }
}
