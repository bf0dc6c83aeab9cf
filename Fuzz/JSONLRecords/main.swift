import Fuzzing
import Training

// JSON Lines records: the SFT and preference readers, skipping bad lines as
// `data.skip_invalid: true` does and stopping at the first one as the default does.
runFuzzer { bytes, count in
    FuzzInput.withFile(bytes, count, extension: "jsonl") { url in
        _ = try? RecordReader.kind(of: url)
        _ = try? RecordReader.sft(url, skipInvalid: true)
        _ = try? RecordReader.preferences(url, skipInvalid: true)
        _ = try RecordReader.sft(url)
    }
    return 0
}
