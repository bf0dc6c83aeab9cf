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

    /// Fuzz/HDF5Checkpoint: corrupt global-heap references of variable-length string attributes
    /// made libhdf5 1.10 crash (H5T__conv_vlen, H5MM_xfree) or loop forever (H5HG_read) inside
    /// H5Aread. Checkpoints now hold fixed-length strings (those findings are version-1 files, now
    /// refused by version) and a variable-length one is refused before libhdf5 reads it:
    /// Tests/Fixtures/corrupt_vlen_heap.h5 (make_h5py_fixture.py) crashed the reader before.
    func testCorruptVariableLengthStringsAreRefusedBeforeLibhdf5ReadsThem() throws {
        let corrupt = Fixtures.url("corrupt_vlen_heap.h5")
        XCTAssertThrowsError(try Checkpoint.read(corrupt)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(corrupt.path): attribute 'stage' of / is a variable-length string, which Facet does not read "
                    + "(libhdf5 1.10 crashes on corrupt ones); store it as a fixed-length string")
        }

        let findings = Fixtures.repository.appendingPathComponent("Fuzz/libhdf5-findings")
        let names = try FileManager.default.contentsOfDirectory(atPath: findings.path).filter { $0.hasSuffix(".h5") }.sorted()
        XCTAssertEqual(names, ["bad-free-in-H5MM_xfree.h5", "loops-in-H5HG_read.h5", "segv-in-H5T__conv_vlen.h5"])
        for name in names {
            let url = findings.appendingPathComponent(name)
            XCTAssertThrowsError(try Checkpoint.read(url), name) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(url.path): is a version-1 checkpoint"), "\(error)")
            }
        }
    }
}
