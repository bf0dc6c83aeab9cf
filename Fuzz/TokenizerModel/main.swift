import Fuzzing

// A SentencePiece tokenizer.model (protobuf).
runFuzzer { bytes, count in
    fuzzTokenizer(bytes, count, extension: "model")
    return 0
}
