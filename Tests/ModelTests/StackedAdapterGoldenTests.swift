import Foundation
import Model
import Tensor
import TestSupport
import XCTest

/// An earlier stage's adapter kept frozen under this stage's (`Linear.frozenAdapter`) against
/// PEFT with two adapters active (`make_stacked_adapters` in golden_stages.py).
final class StackedAdapterGoldenTests: XCTestCase {
    private let golden = Result { try Fixtures.goldenFile("stacked_adapters.safetensors") }

    private func adapters(_ prefix: String, alpha: Float, useRSLoRA: Bool, model: Mistral) throws -> [StoredAdapter] {
        let golden = try golden.get()
        return try model.linears.compactMap { linear in
            let name = "\(prefix).base_model.model.\(linear.name)"
            guard golden.names.contains("\(name).lora_A.weight") else { return nil }
            return StoredAdapter(
                module: linear.name, a: try golden.tensor("\(name).lora_A.weight"), b: try golden.tensor("\(name).lora_B.weight"),
                alpha: alpha, useRSLoRA: useRSLoRA, dropout: 0)
        }
    }

    /// Next-token log-probs [3, L-1] of the golden batch, 0 where the next token is padding.
    private func tokenLogProbs(_ model: Mistral) throws -> Tensor {
        let ids = try golden.get().tensor("input_ids").scalars.map { Int32($0) }
        let width = ids.count / 3
        let targets = (0..<ids.count).map { i in i % width == width - 1 || ids[i + 1] == 0 ? Int32(-1) : ids[i + 1] }
        let all = withoutGradients { model.logProbs(TokenBatch(ids: ids, batch: 3, tokens: width), targets: targets) }
        let values = (0..<3).flatMap { row in (0..<(width - 1)).map { all.scalars[row * width + $0] } }
        return Tensor(values, shape: [3, width - 1])
    }

    private func expected(_ name: String) throws -> Tensor {
        let golden = try golden.get()
        let ids = try golden.tensor("input_ids").scalars
        let logps = try golden.tensor(name)
        let width = ids.count / 3
        let values = (0..<logps.count).map { i in ids[(i / (width - 1)) * width + i % (width - 1) + 1] == 0 ? 0 : logps.scalars[i] }
        return Tensor(values, shape: logps.shape)
    }

    func testFrozenAndTrainedAdaptersMatchPEFTWithBothActive() throws {
        for dtype in [DType.float32, .bfloat16] {  // the tiny shards are bf16: both load the same values
            let model = try Mistral.load(directory: try Fixtures.tinyMistralFolder(self), dtype: dtype)
            try model.attachFrozen(try adapters("sft", alpha: 8, useRSLoRA: false, model: model))
            for stored in try adapters("dpo", alpha: 4, useRSLoRA: true, model: model) {
                model.linear(named: stored.module)!.adapter = LoRAAdapter(
                    a: stored.a, b: stored.b, alpha: stored.alpha, useRSLoRA: true, dropout: 0, dropoutState: nil)
            }
            assertClose(try tokenLogProbs(model), try expected("logps_both"), atol: 1e-5, rtol: 3e-6, "\(dtype) both adapters")
            // The DPO reference: the trained adapter off, the frozen one on.
            let reference = try model.withTrainedAdaptersDisabled { try tokenLogProbs(model) }
            assertClose(reference, try expected("logps_sft"), atol: 1e-5, rtol: 3e-6, "\(dtype) frozen adapter only")
        }
    }

    func testTwoFrozenAdaptersStackIntoOneWithTheSameForward() throws {
        let model = try Mistral.load(directory: try Fixtures.tinyMistralFolder(self), dtype: .bfloat16)
        let stored = try adapters("sft", alpha: 8, useRSLoRA: false, model: model) + adapters("dpo", alpha: 4, useRSLoRA: true, model: model)
        try model.attachFrozen(stored)
        XCTAssertEqual(model.linear(named: "model.layers.0.self_attn.q_proj")?.frozenAdapter?.rank, 6)
        XCTAssertEqual(model.linear(named: "model.layers.0.self_attn.k_proj")?.frozenAdapter?.rank, 4)
        assertClose(try tokenLogProbs(model), try expected("logps_both"), atol: 1e-5, rtol: 3e-6, "stacked frozen adapters")
    }
}
