import Fuzzing
import Model
import Tensor

// A GGUF file: header, metadata, tensor infos, every tensor read as float32 (dequantized), then
// the Llama mapping from metadata and tensor names to a model.
runFuzzer { bytes, count in
    FuzzInput.withFile(bytes, count, extension: "gguf") { url in
        let file = try GGUFFile(url: url)
        for info in file.tensors { _ = try? file.tensor(info.name) }
        _ = try Mistral.load(gguf: url)
    }
    return 0
}
