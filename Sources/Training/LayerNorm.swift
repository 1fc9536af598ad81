/// Layer normalisation over each `groupWidth`-wide group of a row, with one learned scale γ and
/// shift β of width `groupWidth` shared by all groups: y = γ ⊙ (x − μ)/√(σ² + ε) + β.
///
/// Wukong uses it twice (DESIGN §1.3): over each output embedding (groups = n_F + n_L, width d,
/// 2·d parameters) and over the flattened FM output (one group of n·k). Biased variance and
/// ε = 1e-5, as PyTorch's LayerNorm. Cost: three passes over the input forward, four backward;
/// it keeps the normalised values and 1/σ per group for the backward pass.
public final class LayerNorm: Layer {
    public let groupWidth: Int
    public let groups: Int
    public let epsilon: Float = 1e-5
    public let scale: Parameter
    public let shift: Parameter
    public var parameters: [Parameter] { [scale, shift] }
    public var inputWidth: Int { groupWidth * groups }
    public var outputWidth: Int { inputWidth }

    private let threads: ComputeThreads
    private let normalized: Matrix
    private let inverseDeviation: Matrix
    private let output: Matrix
    private let inputGradient: Matrix

    /// γ starts at 1 and β at 0, as usual.
    public init(groupWidth: Int, groups: Int, threads: ComputeThreads = .single) {
        precondition(groupWidth > 0 && groups > 0, "layer norm needs positive group width and count")
        self.groupWidth = groupWidth
        self.groups = groups
        self.threads = threads
        scale = Parameter(name: "scale", rows: 1, columns: groupWidth)
        shift = Parameter(name: "shift", rows: 1, columns: groupWidth)
        scale.value.fill(1)
        normalized = Matrix(rows: 0, columns: groupWidth * groups)
        inverseDeviation = Matrix(rows: 0, columns: groups)
        output = Matrix(rows: 0, columns: groupWidth * groups)
        inputGradient = Matrix(rows: 0, columns: groupWidth * groups)
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == inputWidth, "layer norm expects \(inputWidth) columns, got \(input.columns)")
        let batch = input.rows, width = groupWidth
        for workspace in [normalized, output, inputGradient, inverseDeviation] { workspace.resize(rows: batch) }
        let x = input.pointer, xHat = normalized.pointer, y = output.pointer, rstd = inverseDeviation.pointer
        let gamma = scale.value.pointer, beta = shift.value.pointer, epsilon = epsilon
        threads.forEachRange(batch * groups) { range in
            for group in range {
                let base = group * width
                var sum: Float = 0
                for j in 0 ..< width { sum += x[base + j] }
                let mean = sum / Float(width)
                var squares: Float = 0
                for j in 0 ..< width {
                    let centered = x[base + j] - mean
                    squares += centered * centered
                }
                let inverse = 1 / (squares / Float(width) + epsilon).squareRoot()
                rstd[group] = inverse
                for j in 0 ..< width {
                    let value = (x[base + j] - mean) * inverse
                    xHat[base + j] = value
                    y[base + j] = gamma[j] * value + beta[j]
                }
            }
        }
        return output
    }

    /// dx = (1/σ)·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂)) with dx̂ = dy ⊙ γ, per group; dγ = Σ dy ⊙ x̂ and
    /// dβ = Σ dy over every row and group (serial, for a fixed summation order).
    public func backward(_ outputGradient: Matrix) -> Matrix {
        let batch = normalized.rows, width = groupWidth
        precondition(outputGradient.rows == batch && outputGradient.columns == inputWidth, "output gradient shape mismatch")
        let dy = outputGradient.pointer, xHat = normalized.pointer, rstd = inverseDeviation.pointer
        let dx = inputGradient.pointer, gamma = scale.value.pointer
        let dGamma = scale.gradient.pointer, dBeta = shift.gradient.pointer
        dGamma.update(repeating: 0, count: width)
        dBeta.update(repeating: 0, count: width)
        for group in 0 ..< batch * groups {
            let base = group * width
            for j in 0 ..< width {
                dGamma[j] += dy[base + j] * xHat[base + j]
                dBeta[j] += dy[base + j]
            }
        }
        threads.forEachRange(batch * groups) { range in
            for group in range {
                let base = group * width
                var meanGradient: Float = 0, meanProjection: Float = 0
                for j in 0 ..< width {
                    let g = dy[base + j] * gamma[j]
                    meanGradient += g
                    meanProjection += g * xHat[base + j]
                }
                meanGradient /= Float(width)
                meanProjection /= Float(width)
                let inverse = rstd[group]
                for j in 0 ..< width {
                    dx[base + j] = inverse * (dy[base + j] * gamma[j] - meanGradient - xHat[base + j] * meanProjection)
                }
            }
        }
        return inputGradient
    }
}
