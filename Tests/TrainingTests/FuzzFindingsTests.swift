import Foundation
import TestSupport
import Training
import XCTest

/// Inputs the fuzz targets (Fuzz/, `make fuzz`) found crashing or leaking, kept as regular tests.
final class FuzzFindingsTests: XCTestCase {
    /// Fuzz/JSONLRecords: an empty file leaked the buffer Foundation allocated to map it.
    func testAnEmptyRecordsFileIsAnError() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("empty.jsonl")
        try Data().write(to: url)
        XCTAssertThrowsError(try RecordReader.sft(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): contains no valid records")
        }
    }
}
