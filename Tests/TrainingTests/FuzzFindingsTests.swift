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
    /// H5Aread, and a corrupt attribute message made it read freed memory inside H5Aexists
    /// (Fuzz/libhdf5-open). A checkpoint is now checked against its checksum header before libhdf5
    /// reads it, so none of these files reaches libhdf5; and the HDF5 reader refuses a
    /// variable-length string before libhdf5 reads it: Tests/Fixtures/corrupt_vlen_heap.h5
    /// (make_h5py_fixture.py) crashed the reader before.
    func testCorruptFilesAreRefusedBeforeLibhdf5ReadsThem() throws {
        let corrupt = Fixtures.url("corrupt_vlen_heap.h5")
        let file = try HDF5File.open(corrupt)
        defer { file.close() }
        XCTAssertThrowsError(try file.string("stage")) { error in
            XCTAssertEqual(
                "\(error)",
                "\(corrupt.path): attribute 'stage' of / is a variable-length string, which Facet does not read "
                    + "(libhdf5 1.10 crashes on corrupt ones); store it as a fixed-length string")
        }

        let fuzz = Fixtures.repository.appendingPathComponent("Fuzz")
        let found = try ["libhdf5-findings", "libhdf5-open"].flatMap { folder in
            try FileManager.default.contentsOfDirectory(atPath: fuzz.appendingPathComponent(folder).path)
                .filter { $0.hasSuffix(".h5") }.sorted().map { "\(folder)/\($0)" }
        }
        XCTAssertEqual(found, [
            "libhdf5-findings/bad-free-in-H5MM_xfree.h5", "libhdf5-findings/loops-in-H5HG_read.h5",
            "libhdf5-findings/segv-in-H5T__conv_vlen.h5", "libhdf5-open/use-after-free-in-H5O__attr_exists.h5",
        ])
        for name in found + ["../Tests/Fixtures/corrupt_vlen_heap.h5"] {
            let url = fuzz.appendingPathComponent(name)
            XCTAssertThrowsError(try Checkpoint.read(url), name) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(url.path): has no checksum header"), "\(error)")
            }
        }
    }
}
