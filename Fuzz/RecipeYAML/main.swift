import Fuzzing
import Training

// Recipe YAML, parsed and validated, and its resolved form read back.
runFuzzer { bytes, count in
    if let recipe = try? Recipe(yaml: FuzzInput.text(bytes, count), source: "fuzz.yaml") {
        _ = try? Recipe(yaml: recipe.resolvedYAML, source: "resolved")
    }
    return 0
}
