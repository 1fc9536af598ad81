import Foundation

/// Binary cross-entropy on logits, the loss of click-through-rate models.
///
/// Numerically stable form: ℓ(z, y) = max(z, 0) − z·y + log(1 + e^(−|z|)), which never
/// exponentiates a positive number, so large |z| neither overflows nor loses the loss to
/// rounding; ∂ℓ/∂z = σ(z) − y. One pass over the batch, no allocation.
public enum BinaryCrossEntropy {
    /// Mean loss over the batch, and ∂(mean loss)/∂zᵢ = (σ(zᵢ) − yᵢ)/B written to `gradient`.
    /// The sum is taken in Double so the mean of a large batch keeps Float precision.
    public static func meanLoss(logits: UnsafePointer<Float>, labels: UnsafePointer<Float>, count: Int, gradient: UnsafeMutablePointer<Float>) -> Float {
        guard count > 0 else { return 0 }
        var total = 0.0
        let scale = 1 / Float(count)
        for index in 0 ..< count {
            let z = logits[index], y = labels[index]
            total += Double(loss(logit: z, label: y))
            gradient[index] = (sigmoid(z) - y) * scale
        }
        return Float(total / Double(count))
    }

    /// Mean loss of `logits` against `labels` (no gradient), e.g. for evaluation.
    public static func meanLoss(logits: [Float], labels: [Float]) -> Float {
        precondition(logits.count == labels.count, "one label per logit")
        guard !logits.isEmpty else { return 0 }
        let total = zip(logits, labels).reduce(0.0) { $0 + Double(loss(logit: $1.0, label: $1.1)) }
        return Float(total / Double(logits.count))
    }

    /// ℓ(z, y) for one sample.
    public static func loss(logit z: Float, label y: Float) -> Float {
        max(z, 0) - z * y + log1p(exp(-abs(z)))
    }

    /// σ(z) = 1/(1 + e^(−z)), evaluated without overflow for either sign.
    public static func sigmoid(_ z: Float) -> Float {
        if z >= 0 { return 1 / (1 + exp(-z)) }
        let e = exp(z)
        return e / (1 + e)
    }
}
