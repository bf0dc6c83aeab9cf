import Foundation
import TestSupport

/// A recipe for the tiny model and the sample records; `extra` lines are appended.
func writeSFTRecipe(in directory: URL, model: URL, output: String = "out", extra: String = "") throws -> URL {
    let url = directory.appendingPathComponent("recipe.yaml")
    try """
    stage: sft
    model:
      path: \(model.path)
    lora:
      r: 4
      alpha: 8
      dropout: 0.1
    data:
      train: \(Fixtures.url("sft-sample.jsonl").path)
      max_seq_len: 128
    train:
      epochs: 2
      micro_batch_size: 2
      gradient_accumulation_steps: 2
      learning_rate: 1.0e-3
      warmup_steps: 1
    output:
      dir: \(directory.appendingPathComponent(output).path)
      save_every_steps: 3
      keep_last: 5
    \(extra)
    """.write(to: url, atomically: true, encoding: .utf8)
    return url
}

/// A DPO or ORPO recipe for the tiny model and the learnable preference sample (LoRA dropout
/// on, evaluation on the held-out pairs); `extra` lines are appended.
func writePreferenceRecipe(_ stage: String, in directory: URL, model: URL, extra: String) throws -> URL {
    let url = directory.appendingPathComponent("\(stage).yaml")
    try """
    stage: \(stage)
    model: {path: \(model.path)}
    lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: all-linear}
    data:
      train: \(Fixtures.url("preference-sample.jsonl").path)
      eval: \(Fixtures.url("preference-heldout.jsonl").path)
      max_seq_len: 256
    train: {epochs: 4, micro_batch_size: 4, gradient_accumulation_steps: 1, learning_rate: 5.0e-3, warmup_steps: 2, eval_every_steps: 12}
    output: {dir: \(directory.appendingPathComponent("\(stage)-out").path), save_every_steps: 12}
    \(extra)
    """.write(to: url, atomically: true, encoding: .utf8)
    return url
}
