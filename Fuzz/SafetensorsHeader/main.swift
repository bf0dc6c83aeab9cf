import Fuzzing
import Tensor

// A safetensors file: the length-prefixed JSON header, then every tensor it declares read as
// float32 (widening bf16 and f16).
runFuzzer { bytes, count in
    FuzzInput.withFile(bytes, count, extension: "safetensors") { url in
        let file = try SafetensorsFile(url: url)
        for name in file.names { _ = try? file.tensor(name) }
    }
    return 0
}
