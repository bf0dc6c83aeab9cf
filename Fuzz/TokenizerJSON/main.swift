import Fuzzing

// A Hugging Face tokenizer.json (BPE).
runFuzzer { bytes, count in
    fuzzTokenizer(bytes, count, extension: "json")
    return 0
}
