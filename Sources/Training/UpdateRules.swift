import Foundation

/// The element-wise optimizer updates shared by dense parameters (`DenseParameterOptimizer`) and
/// embedding rows (`EmbeddingBagCollection`): one fused pass that reads the weight, the gradient
/// and the state once and writes the weight and the state once.
enum UpdateRules {
    /// Adam's β₁, β₂ (PyTorch's and FBGEMM's defaults).
    static let adamBetas: (Float, Float) = (0.9, 0.999)

    /// Adam's bias corrections (1 − β₁ᵗ, 1 − β₂ᵗ) for the 1-based step t, computed once per step.
    static func adamCorrections(step: Int) -> (Float, Float) {
        let (beta1, beta2) = adamBetas
        return (1 - Float(pow(Double(beta1), Double(step))), 1 - Float(pow(Double(beta2), Double(step))))
    }

    /// G += g², w −= lr·g/(√G + ε), element-wise.
    @inline(__always)
    static func adagrad(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, accumulator: UnsafeMutablePointer<Float>,
        count: Int, learningRate: Float, epsilon: Float
    ) {
        for index in 0 ..< count {
            accumulator[index] += g[index] * g[index]
            w[index] -= learningRate * g[index] / (accumulator[index].squareRoot() + epsilon)
        }
    }

    /// m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², w −= lr·(m/c₁)/(√(v/c₂) + ε) with `corrections` = (c₁, c₂).
    @inline(__always)
    static func adam(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, momentum m: UnsafeMutablePointer<Float>,
        velocity v: UnsafeMutablePointer<Float>, count: Int, learningRate: Float, corrections: (Float, Float), epsilon: Float
    ) {
        let (beta1, beta2) = adamBetas
        for index in 0 ..< count {
            m[index] = beta1 * m[index] + (1 - beta1) * g[index]
            v[index] = beta2 * v[index] + (1 - beta2) * g[index] * g[index]
            w[index] -= learningRate * (m[index] / corrections.0) / ((v[index] / corrections.1).squareRoot() + epsilon)
        }
    }
}
