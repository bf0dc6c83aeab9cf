import Fuzzing
import Training

// An HDF5 checkpoint, read as --resume, --from, export and inspect read it.
runFuzzer { bytes, count in
    FuzzInput.withFile(bytes, count, extension: "h5") { url in
        _ = try Checkpoint.read(url)
    }
    return 0
}
