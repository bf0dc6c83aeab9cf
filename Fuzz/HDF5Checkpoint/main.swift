import Foundation
import Fuzzing
import Training

// An HDF5 checkpoint, read as --resume, --from, export and inspect read it: first the input as
// it is (the checksum check in front of libhdf5), then the input behind a user block sealed with
// its own checksum, so that libhdf5 and Facet's reader see every mutation.
runFuzzer { bytes, count in
    FuzzInput.withFile(bytes, count, extension: "h5") { url in
        _ = try? Checkpoint.read(url)
        var sealed = Data(count: CheckpointChecksum.userBlockSize)
        if let bytes { sealed.append(bytes, count: count) }
        try sealed.write(to: url)
        try CheckpointChecksum.seal(url)
        _ = try Checkpoint.read(url)
    }
    return 0
}
