import Foundation
import Tensor
import TestSupport
import XCTest

/// `train bench` runs (its numbers are measured by hand, never asserted here).
final class SpeedBenchCLITests: XCTestCase {
    func testStepAndAttentionBenchmarksRun() throws {
        let step = try runTrain(["bench", "--preset", "tiny", "--seq", "16", "--steps", "1", "--json"])
        XCTAssertEqual(step.status, 0, step.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(step.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["preset"] as? String, "tiny")
        XCTAssertEqual((object["step_s"] as? [Double])?.count, 1)
        XCTAssertGreaterThan(object["peak_rss_gib"] as? Double ?? 0, 0)

        let attention = try runTrain(["bench", "attention", "--seq", "64", "--heads", "4", "--kv-heads", "2", "--head-dim", "16"])
        XCTAssertEqual(attention.status, 0, attention.stderr)

        // The bfloat16 products where the CPU has them, else an error that says why.
        let bfloat16 = try runTrain(["bench", "attention", "--seq", "64", "--heads", "4", "--kv-heads", "2", "--head-dim", "16",
                                     "--compute-dtype", "bfloat16", "--json"])
        if causalAttentionHasBFloat16Products {
            XCTAssertEqual(bfloat16.status, 0, bfloat16.stderr)
            let measured = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bfloat16.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(measured["compute_dtype"] as? String, "bfloat16")
        } else {
            XCTAssertNotEqual(bfloat16.status, 0)
            XCTAssertTrue(bfloat16.stderr.contains("no AVX512_BF16"), bfloat16.stderr)
        }
        let float32 = try runTrain(["bench", "--preset", "tiny", "--seq", "16", "--steps", "1", "--dtype", "bfloat16",
                                    "--compute-dtype", "float32", "--json"])
        XCTAssertEqual(float32.status, 0, float32.stderr)
        let chosen = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(float32.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(chosen["compute_dtype"] as? String, "float32")

        let unknown = try runTrain(["bench", "--preset", "huge"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("unknown preset 'huge' (demo, tiny, small, 7b-shape)"), unknown.stderr)
    }
}
