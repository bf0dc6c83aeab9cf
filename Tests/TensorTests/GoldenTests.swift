import Foundation
import Tensor
import TestSupport
import XCTest

/// The fused ops against PyTorch / transformers goldens written by
/// `Tests/Fixtures/make_golden.py` (float32, CPU). Gradients in the fixtures are of
/// sum(out * R) with the stored `R`, except cross entropy (its mean loss).
final class GoldenTests: XCTestCase {
    static let tolerance: Float = 1e-5

    /// Tests/Fixtures/golden/<name>.safetensors, found from this source file's path.
    private func fixture(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Golden {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TensorTests
            .deletingLastPathComponent()  // Tests
            .appendingPathComponent("Fixtures/golden/\(name).safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("missing fixture \(url.path); run Tests/Fixtures/make_golden.py", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        let golden = Golden(name: name, file: try SafetensorsFile(url: url))
        XCTAssertNotNil(golden.file.metadata["torch_version"], "\(name): no torch_version in metadata", file: file, line: line)
        XCTAssertNotNil(
            golden.file.metadata["transformers_version"], "\(name): no transformers_version in metadata", file: file, line: line)
        return golden
    }

    struct Golden {
        let name: String
        let file: SafetensorsFile

        func tensor(_ key: String) throws -> Tensor { try file.tensor(key) }

        /// A leaf that collects gradients.
        func input(_ key: String) throws -> Tensor {
            let t = try file.tensor(key).widened()
            t.requiresGrad = true
            return t
        }

        /// Integer data stored as float32 (positions, target ids).
        func integers(_ key: String) throws -> [Int32] { try file.tensor(key).scalars.map { Int32($0) } }

        func parameter(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
            guard let text = self.file.metadata[key], let value = Float(text) else {
                XCTFail("\(name): metadata has no numeric '\(key)'", file: file, line: line)
                throw CocoaError(.coderValueNotFound)
            }
            return value
        }

        /// Compares `actual` with the stored `key` and logs the max abs difference.
        func check(_ actual: Tensor?, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
            guard let actual else {
                XCTFail("\(name) \(key): no tensor (gradient not computed?)", file: file, line: line)
                return
            }
            let difference = assertClose(
                actual, try tensor(key), atol: GoldenTests.tolerance, "\(name) \(key)", file: file, line: line)
            print("golden \(name) \(key): max abs diff \(difference)")
        }
    }

    /// Backward of sum(out * R) with the fixture's R.
    private func backwardThroughR(_ out: Tensor, _ golden: Golden) throws {
        (out * (try golden.tensor("R"))).sum().backward()
    }

    func testRMSNormMatchesTransformers() throws {
        let golden = try fixture("rmsnorm")
        let x = try golden.input("x"), weight = try golden.input("weight")
        let y = x.rmsNorm(weight: weight, eps: try golden.parameter("eps"))
        try golden.check(y, "y")
        try backwardThroughR(y, golden)
        try golden.check(x.grad, "grad_x")
        try golden.check(weight.grad, "grad_weight")
    }

    private func checkRoPE(_ name: String) throws {
        let golden = try fixture(name)
        let x = try golden.input("x")
        let y = x.rotaryEmbedding(positions: try golden.integers("positions"), theta: try golden.parameter("theta"))
        try golden.check(y, "y")
        try backwardThroughR(y, golden)
        try golden.check(x.grad, "grad_x")
    }

    func testRoPEMatchesTransformers() throws {
        try checkRoPE("rope")
    }

    func testRoPEWithLargeThetaMatchesTransformers() throws {
        try checkRoPE("rope_theta1e6")
    }

    private func checkAttention(_ name: String) throws {
        let golden = try fixture(name)
        let q = try golden.input("q"), k = try golden.input("k"), v = try golden.input("v")
        let window = golden.file.metadata["sliding_window"].map { Int($0)! }
        let out = causalAttention(query: q, key: k, value: v, slidingWindow: window)
        try golden.check(out, "out")
        try backwardThroughR(out, golden)
        try golden.check(q.grad, "grad_q")
        try golden.check(k.grad, "grad_k")
        try golden.check(v.grad, "grad_v")
    }

    func testCausalGroupedAttentionMatchesSDPA() throws {
        try checkAttention("attention")
    }

    func testSlidingWindowAttentionMatchesSDPA() throws {
        try checkAttention("attention_window")
    }

    func testKVCacheAttentionMatchesSDPA() throws {
        try checkAttention("attention_kvcache")
    }

    func testTokenLogProbsAndCrossEntropyMatchTorch() throws {
        let golden = try fixture("cross_entropy")
        let hidden = try golden.input("hidden"), weight = try golden.input("weight")
        let targets = try golden.integers("targets")
        let logProbs = tokenLogProbs(hidden: hidden, weight: weight, targets: targets)
        try golden.check(logProbs, "logprobs")
        // F.cross_entropy with ignore_index: mean of -log p over the scored rows.
        let scored = targets.filter { $0 >= 0 }.count
        XCTAssertEqual(scored, 8)
        let loss = logProbs.sum() * (-1 / Float(scored))
        try golden.check(loss.reshaped([1]), "loss")
        loss.backward()
        try golden.check(hidden.grad, "grad_hidden")
        try golden.check(weight.grad, "grad_weight")
    }
}
