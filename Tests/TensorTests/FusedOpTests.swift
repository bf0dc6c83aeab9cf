import Foundation
import Tensor
import TestSupport
import XCTest

/// Each fused op against a composition of the small ops (forward and backward), plus its own
/// finite-difference check.
final class FusedOpTests: XCTestCase {
    func testRMSNormMatchesComposite() {
        let x = randomTensor([3, 4, 16], seed: 1), w = randomTensor([16], seed: 2)
        let eps: Float = 1e-5
        func composite() -> Tensor {
            let rows = x.reshaped([12, 16])
            let rstd = 1 / (rows.squared().mean(axis: 1) + eps).squareRoot()
            return ((rows.transposed(0, 1) * rstd).transposed(0, 1) * w).reshaped([3, 4, 16])
        }
        let (fused, fusedGrads) = forwardBackward([x, w]) { x.rmsNorm(weight: w, eps: eps) }
        let (reference, referenceGrads) = forwardBackward([x, w], composite)
        assertClose(fused, reference, atol: 1e-5, "rmsNorm forward")
        assertClose(fusedGrads[0], referenceGrads[0], atol: 1e-4, "rmsNorm grad x")
        assertClose(fusedGrads[1], referenceGrads[1], atol: 1e-4, "rmsNorm grad weight")
        checkGradients([x, w]) { x.rmsNorm(weight: w, eps: eps) }
    }

    func testRoPEMatchesComposite() {
        let (batch, tokens, heads, dim) = (2, 5, 3, 8)
        let x = randomTensor([batch, tokens, heads, dim], seed: 3)
        let positions: [Int32] = [0, 1, 2, 3, 4, 7, 8, 0, 1, 2]
        let theta: Float = 10000
        // cos/sin tables [batch*tokens, dim] applied on the layout [heads, batch*tokens, dim].
        var cosines = [Float](), sines = [Float]()
        for p in positions {
            let angles = (0..<(dim / 2)).map { i in Float(p) / Foundation.pow(theta, Float(2 * i) / Float(dim)) }
            cosines += (angles + angles).map { Foundation.cos($0) }
            sines += (angles + angles).map { Foundation.sin($0) }
        }
        let cosTable = Tensor(cosines, shape: [batch * tokens, dim]), sinTable = Tensor(sines, shape: [batch * tokens, dim])
        func composite() -> Tensor {
            let perHead = x.reshaped([batch * tokens, heads, dim]).permuted([1, 0, 2])
            let rotated = Tensor.concatenated(
                [-perHead.slice(axis: 2, (dim / 2)..<dim), perHead.slice(axis: 2, 0..<(dim / 2))], axis: 2)
            return (perHead * cosTable + rotated * sinTable).permuted([1, 0, 2]).reshaped([batch, tokens, heads, dim])
        }
        let (fused, fusedGrads) = forwardBackward([x]) { x.rotaryEmbedding(positions: positions, theta: theta) }
        let (reference, referenceGrads) = forwardBackward([x], composite)
        assertClose(fused, reference, atol: 1e-5, "rope forward")
        assertClose(fusedGrads[0], referenceGrads[0], atol: 1e-5, "rope grad")
        checkGradients([x]) { x.rotaryEmbedding(positions: positions, theta: theta) }
    }

    func testLoRALinearMatchesComposite() {
        let x = randomTensor([2, 3, 8], seed: 21), w = randomTensor([6, 8], seed: 22)
        let a = randomTensor([2, 8], seed: 23), b = randomTensor([6, 2], seed: 24)
        let mask = Tensor((0..<48).map { Float($0 % 3 == 0 ? 0 : 1.5) }, shape: [2, 3, 8])
        for separateInput in [false, true] {
            func composite() -> Tensor {
                let d = separateInput ? x * mask : x
                return matmul(x, w, transposeB: true) + matmul(matmul(d, a, transposeB: true), b, transposeB: true, alpha: 0.7)
            }
            func fused() -> Tensor { loraLinear(x, weight: w, adapterInput: separateInput ? x * mask : x, a: a, b: b, scale: 0.7) }
            let (reference, referenceGrads) = forwardBackward([x, a, b], composite)
            let (result, grads) = forwardBackward([x, a, b], fused)
            assertClose(result, reference, atol: 1e-5, "lora linear forward")
            for (name, pair) in zip(["x", "A", "B"], zip(grads, referenceGrads)) {
                assertClose(pair.0, pair.1, atol: 1e-5, "lora linear gradient of \(name)")
            }
            checkGradients([x, a, b], fused)
        }
        let frozen = w.narrowedToBFloat16()
        frozen.computeDType = .float32
        let (widened, _) = forwardBackward([x, a, b]) { loraLinear(x, weight: frozen, adapterInput: x, a: a, b: b, scale: 0.7) }
        let (exact, _) = forwardBackward([x, a, b]) { loraLinear(x, weight: frozen.widened(), adapterInput: x, a: a, b: b, scale: 0.7) }
        assertClose(widened, exact, atol: 1e-5, "lora linear over a bfloat16 weight")
    }

    func testSwiGLUMatchesComposite() {
        let gate = randomTensor([4, 6], seed: 4), up = randomTensor([4, 6], seed: 5)
        let (fused, fusedGrads) = forwardBackward([gate, up]) { swiGLU(gate: gate, up: up) }
        let (reference, referenceGrads) = forwardBackward([gate, up]) { gate.silu() * up }
        assertClose(fused, reference, atol: 1e-6, "swiglu forward")
        assertClose(fusedGrads[0], referenceGrads[0], atol: 1e-6, "swiglu grad gate")
        assertClose(fusedGrads[1], referenceGrads[1], atol: 1e-6, "swiglu grad up")
        checkGradients([gate, up]) { swiGLU(gate: gate, up: up) }
    }

    /// Attention composed of matmul, an additive mask and softmax, heads repeated for GQA.
    private func compositeAttention(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, window: Int?, segments: [Int32]?
    ) -> Tensor {
        let (batch, queryTokens, queryHeads, dim) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (keyTokens, kvHeads) = (k.shape[1], k.shape[2])
        let group = queryHeads / kvHeads
        func repeated(_ t: Tensor) -> Tensor {
            let heads = (0..<queryHeads).map { h in t.slice(axis: 2, (h / group)..<(h / group + 1)) }
            return Tensor.concatenated(heads, axis: 2).permuted([0, 2, 1, 3])  // [b, hq, tk, d]
        }
        let qh = q.permuted([0, 2, 1, 3])
        var maskValues = [Float]()
        for b in 0..<batch {
            for i in 0..<queryTokens {
                let p = keyTokens - queryTokens + i
                for j in 0..<keyTokens {
                    var ok = j <= p
                    if let window, p - j >= window { ok = false }
                    if let segments, segments[b * keyTokens + j] != segments[b * keyTokens + p] { ok = false }
                    maskValues.append(ok ? 0 : -1e9)
                }
            }
        }
        let mask = Tensor(maskValues, shape: [batch, queryTokens, keyTokens])
        let scores = matmul(qh, repeated(k), transposeB: true) * (1 / Float(dim).squareRoot())  // [b, hq, tq, tk]
        let masked = (scores.permuted([1, 0, 2, 3]) + mask).permuted([1, 0, 2, 3])
        return matmul(masked.softmax(), repeated(v)).permuted([0, 2, 1, 3])
    }

    private func checkAttention(
        batch: Int, queryTokens: Int, keyTokens: Int, queryHeads: Int, kvHeads: Int, dim: Int,
        window: Int? = nil, segments: [Int32]? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let q = randomTensor([batch, queryTokens, queryHeads, dim], seed: 6)
        let k = randomTensor([batch, keyTokens, kvHeads, dim], seed: 7)
        let v = randomTensor([batch, keyTokens, kvHeads, dim], seed: 8)
        let (fused, fusedGrads) = forwardBackward([q, k, v]) {
            causalAttention(query: q, key: k, value: v, slidingWindow: window, segmentIds: segments)
        }
        let (reference, referenceGrads) = forwardBackward([q, k, v]) {
            compositeAttention(q, k, v, window: window, segments: segments)
        }
        assertClose(fused, reference, atol: 1e-5, "attention forward", file: file, line: line)
        for (name, (a, b)) in zip(["q", "k", "v"], zip(fusedGrads, referenceGrads)) {
            assertClose(a, b, atol: 1e-4, "attention grad \(name)", file: file, line: line)
        }
    }

    func testAttentionMatchesComposite() {
        checkAttention(batch: 2, queryTokens: 7, keyTokens: 7, queryHeads: 4, kvHeads: 2, dim: 8)
        // Several query blocks (64 rows each) and multi-query grouping.
        checkAttention(batch: 1, queryTokens: 150, keyTokens: 150, queryHeads: 2, kvHeads: 1, dim: 4)
    }

    func testAttentionSlidingWindowSegmentsAndCache() {
        checkAttention(batch: 1, queryTokens: 130, keyTokens: 130, queryHeads: 2, kvHeads: 2, dim: 4, window: 70)
        let segments: [Int32] = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1]
        checkAttention(batch: 2, queryTokens: 9, keyTokens: 9, queryHeads: 2, kvHeads: 1, dim: 4, segments: segments)
        checkAttention(batch: 2, queryTokens: 3, keyTokens: 10, queryHeads: 4, kvHeads: 2, dim: 8)
    }

    func testAttentionFiniteDifferences() {
        let q = randomTensor([1, 5, 4, 4], seed: 9), k = randomTensor([1, 5, 2, 4], seed: 10)
        let v = randomTensor([1, 5, 2, 4], seed: 11)
        checkGradients([q, k, v]) { causalAttention(query: q, key: k, value: v, slidingWindow: 3) }
    }

    func testTokenLogProbsMatchesComposite() {
        let hidden = randomTensor([6, 8], seed: 12), weight = randomTensor([700, 8], seed: 13)
        let targets: [Int32] = [3, -100, 699, 0, -100, 42]
        let mask = Tensor(targets.map { $0 >= 0 ? 1 : 0 }, shape: [6])
        let (fused, fusedGrads) = forwardBackward([hidden, weight]) {
            tokenLogProbs(hidden: hidden, weight: weight, targets: targets)
        }
        let (reference, referenceGrads) = forwardBackward([hidden, weight]) {
            matmul(hidden, weight, transposeB: true).logSoftmax().gatheringLast(targets.map { max($0, 0) }) * mask
        }
        assertClose(fused, reference, atol: 1e-5, "log-prob forward")
        assertClose(fusedGrads[0], referenceGrads[0], atol: 1e-5, "log-prob grad hidden")
        assertClose(fusedGrads[1], referenceGrads[1], atol: 1e-5, "log-prob grad weight")
        checkGradients([hidden, weight]) { tokenLogProbs(hidden: hidden, weight: weight, targets: targets) }

        // A frozen head: d logp / d hidden is computed in the forward pass instead.
        let frozen = weight.detached()
        let (precomputed, precomputedGrads) = forwardBackward([hidden]) { tokenLogProbs(hidden: hidden, weight: frozen, targets: targets) }
        let (composite, compositeGrads) = forwardBackward([hidden]) {
            matmul(hidden, frozen, transposeB: true).logSoftmax().gatheringLast(targets.map { max($0, 0) }) * mask
        }
        assertClose(precomputed, composite, atol: 1e-5, "log-prob forward, frozen head")
        assertClose(precomputedGrads[0], compositeGrads[0], atol: 1e-5, "log-prob grad hidden, frozen head")
    }

    func testTokenLogProbsChunksAndBFloat16Head() {
        // 1100 scored rows with vocab 32000 span three chunks (512 rows each at most).
        let hidden = randomTensor([1100, 16], seed: 14), weight = randomTensor([32000, 16], seed: 15, scale: 0.1)
        let targets = (0..<1100).map { Int32(($0 * 7919) % 32000) }
        let chunked = tokenLogProbs(hidden: hidden, weight: weight, targets: targets)
        let reference = matmul(hidden, weight, transposeB: true).logSoftmax().gatheringLast(targets)
        assertClose(chunked, reference, atol: 1e-4, "chunked log-probs")
        let narrow = weight.narrowedToBFloat16()
        let fromBF16 = tokenLogProbs(hidden: hidden, weight: narrow, targets: targets)
        let fromWidened = tokenLogProbs(hidden: hidden, weight: narrow.widened(), targets: targets)
        assertClose(fromBF16, fromWidened, atol: 1e-5, "bf16 head log-probs")
    }
}
