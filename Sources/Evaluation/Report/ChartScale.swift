import Foundation

/// An axis range widened to "nice" tick values: steps of 1, 2 or 5 times a power of ten.
struct NiceScale {
    let lower: Double
    let upper: Double
    let step: Double
    let ticks: [Double]
    private let decimals: Int
    private let scientific: Bool

    /// - Parameters:
    ///   - values: the data; non-finite values are ignored, and no data gives 0...1.
    ///   - including: values the range must also cover (for example 0 for bars, or a fixed 0...1).
    ///   - integerSteps: ticks only at whole numbers (steps, K).
    init(_ values: [Double], including: [Double] = [], targetTicks: Int = 5, integerSteps: Bool = false) {
        let finite = (values + including).filter(\.isFinite)
        var low = finite.min() ?? 0
        var high = finite.max() ?? 1
        if high - low <= max(abs(low), abs(high)) * 1e-9 {
            // One value: centre it in a band of its own magnitude.
            let pad = low == 0 ? 1 : abs(low) * 0.1
            if !(low == 0 && including.contains(0)) { low -= pad }
            high += pad
        }
        let raw = (high - low) / Double(max(targetTicks, 1))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw * (1 - 1e-9) } ?? 10 * magnitude
        if integerSteps { step = max(step, 1) }
        let lower = (low / step + 1e-9).rounded(.down) * step
        let upper = (high / step - 1e-9).rounded(.up) * step
        let count = Int(((upper - lower) / step).rounded())
        self.lower = lower
        self.upper = max(upper, lower + step)
        self.step = step
        ticks = (0...max(count, 1)).map { index in
            let tick = lower + Double(index) * step
            return abs(tick) < step * 1e-9 ? 0 : tick
        }
        decimals = max(0, Int(-(log10(step) + 1e-9).rounded(.down)))
        scientific = max(abs(lower), abs(upper)) >= 1e6 || step < 1e-4
    }

    /// Where `value` falls between `lower` (0) and `upper` (1).
    func fraction(_ value: Double) -> Double { (value - lower) / (upper - lower) }

    /// Every tick label written with the same number of decimals.
    func label(_ value: Double) -> String {
        if scientific { return String(format: "%.3g", value) }
        return String(format: "%.\(decimals)f", value)
    }
}

/// Numbers as written into SVG attributes: at most two decimals, never NaN or infinity.
func svgNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    var text = String(format: "%.2f", value)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text == "-0" ? "0" : text
}
