import Foundation

/// Learning-rate multipliers of transformers' `get_{constant,linear,cosine}_schedule_with_warmup`:
/// the update of step s (0-based) uses `baseLR * multiplier(s)`.
public struct LRSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case constant, linear, cosine
    }

    public let kind: Kind
    public let baseLR: Double
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(kind: Kind, baseLR: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    public func multiplier(_ step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant: return 1
        case .linear: return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine: return max(0, 0.5 * (1 + Foundation.cos(Double.pi * progress)))
        }
    }

    public func learningRate(_ step: Int) -> Double { baseLR * multiplier(step) }
}
