import Foundation

/// Seeded xoshiro256** generator. Its whole state is four words, so checkpoints can save and
/// restore it and a resumed run draws the same numbers as an uninterrupted one. Every draw
/// that decides data (shuffles, choices) is one of its own methods rather than the standard
/// library's, whose algorithms may change between Swift releases: a seed gives the same data
/// order on any toolchain.
public struct RandomGenerator: Sendable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var splitMix = seed
        var words = [UInt64]()
        for _ in 0..<4 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    public init(state: [UInt64]) {
        require(state.count == 4 && state.contains { $0 != 0 }, "RandomGenerator: invalid state \(state)")
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotate(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotate(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal (Box-Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform in 0..<n without modulo bias (Lemire's multiply-shift with rejection).
    public mutating func nextIndex(below n: Int) -> Int {
        require(n > 0, "RandomGenerator.nextIndex: n must be positive, found \(n)")
        let bound = UInt64(n)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }

    /// Uniform in `range`.
    public mutating func nextInteger(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + nextIndex(below: range.count)
    }

    /// A uniformly chosen element; nil for an empty collection.
    public mutating func element<C: RandomAccessCollection>(of collection: C) -> C.Element? where C.Index == Int {
        collection.isEmpty ? nil : collection[collection.startIndex + nextIndex(below: collection.count)]
    }

    /// Fisher-Yates, from the last position down.
    public mutating func shuffle<T>(_ array: inout [T]) {
        var i = array.count - 1
        while i > 0 {
            array.swapAt(i, nextIndex(below: i + 1))
            i -= 1
        }
    }

    public mutating func shuffled<S: Sequence>(_ sequence: S) -> [S.Element] {
        var array = Array(sequence)
        shuffle(&array)
        return array
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

