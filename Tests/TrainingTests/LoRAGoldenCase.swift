import Foundation
import Model
import Tensor
import TestSupport
import Tokenizer
import Training

/// The LoRA step-0 case of make_golden.py (`lora_sft.safetensors`): the three records of
/// tiny-mistral-eval.jsonl as one right-padded micro-batch, and trainable adapters (r 4,
/// alpha 8) initialised as the golden run's.
enum LoRAGoldenCase {
    static func peftName(_ module: String, _ matrix: String) -> String { "base_model.model.\(module).\(matrix).weight" }

    static func batch(_ tokenizer: Tokenizer) throws -> MicroBatch {
        let records = try RecordReader.sft(Fixtures.url("tiny-mistral-eval.jsonl")).records
        let examples = records.map { record in
            ChatTemplate.example(system: record.system, prompt: record.prompt, response: record.output, tokenizer: tokenizer)
        }
        return MicroBatch(rows: examples.map { [$0] }, packed: false)
    }

    /// Trainable adapters (alpha 8) on every linear layer from a golden's `<prefix><PEFT name>` tensors.
    static func attachInitialAdapters(_ model: Mistral, from golden: SafetensorsFile, prefix: String = "grad0_init.", useRSLoRA: Bool = false) throws {
        for linear in model.linears {
            let a = try golden.tensor(prefix + peftName(linear.name, "lora_A"))
            let b = try golden.tensor(prefix + peftName(linear.name, "lora_B"))
            a.requiresGrad = true
            b.requiresGrad = true
            linear.adapter = LoRAAdapter(a: a, b: b, alpha: 8, useRSLoRA: useRSLoRA, dropout: 0, dropoutState: nil)
        }
    }
}
