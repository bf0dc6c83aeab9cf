import Foundation
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

        let unknown = try runTrain(["bench", "--preset", "huge"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("unknown preset 'huge' (demo, tiny, small, 7b-shape)"), unknown.stderr)
    }
}
