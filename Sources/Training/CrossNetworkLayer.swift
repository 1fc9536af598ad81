import Workload

/// DCN-v2's stacked cross network on x₀ ∈ ℝ^m (`CrossNetwork` in the workload):
/// x_{l+1} = x₀ ⊙ (W_l·x_l + b_l) + x_l, with W_l full (m × m) or, when `rank` is set, W_l = U_l·V_lᵀ
/// (U, V ∈ ℝ^{m×r}) computed as U(Vᵀx) so the m × m matrix never exists.
///
/// Cost per batch of B and layer: forward one sgemm of 2·B·m² FLOPs (full) or two of 2·B·m·r
/// (low rank) plus two passes over B × m; backward twice that (`Interaction.backwardFLOPs`).
/// Memory: every layer's x_l and W·x_l + b are kept for the backward pass (2·L·B·m values).
/// Parameters per layer are named `<l>.weight` (full) or `<l>.u` / `<l>.v`, and `<l>.bias`.
public final class CrossNetworkLayer: Layer {
    public let width: Int
    public let rank: Int?
    public let crossLayers: [CrossLayer]
    public let parameters: [Parameter]
    public var inputWidth: Int { width }
    public var outputWidth: Int { width }

    private var input: Matrix?
    /// x₀'s gradient from the products x₀ ⊙ (W·x_l + b), summed over the layers.
    private let baseGradient: Matrix
    private let inputGradient: Matrix

    /// Layer l is seeded with `mix(seed, l)`.
    public init(width: Int, network: CrossNetwork, seed: UInt64) {
        precondition(network.layers >= 1, "a cross network needs at least one layer")
        self.width = width
        rank = network.rank
        crossLayers = (0 ..< network.layers).map {
            CrossLayer(width: width, rank: network.rank, seed: SeededGenerator.mix(seed, UInt64($0)))
        }
        parameters = crossLayers.enumerated().flatMap { Parameter.prefixed(String($0.offset), $0.element.parameters) }
        baseGradient = Matrix(rows: 0, columns: width)
        inputGradient = Matrix(rows: 0, columns: width)
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == width, "cross network expects \(width) columns, got \(input.columns)")
        self.input = input
        return crossLayers.reduce(input) { $1.forward(base: input, current: $0) }
    }

    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        baseGradient.resize(rows: input.rows)
        baseGradient.fill(0)
        let currentGradient = crossLayers.reversed().reduce(outputGradient) { $1.backward($0, baseGradient: baseGradient) }
        inputGradient.resize(rows: input.rows)
        for index in 0 ..< input.rows * width {
            inputGradient.pointer[index] = currentGradient.pointer[index] + baseGradient.pointer[index]
        }
        return inputGradient
    }
}

/// One cross layer, x' = x₀ ⊙ (W·x + b) + x. It takes two inputs (x₀ and x), so it is a part of
/// `CrossNetworkLayer` rather than a `Layer` of its own.
public final class CrossLayer {
    public let width: Int
    /// W (m × m), or nil in the low-rank form.
    public let weight: Parameter?
    /// U and V (m × r each) in the low-rank form.
    public let lowRank: (u: Parameter, v: Parameter)?
    public let bias: Parameter
    var parameters: [Parameter] { [weight, lowRank?.u, lowRank?.v, bias].compactMap { $0 } }

    private var base: Matrix?
    private var current: Matrix?
    /// W·x + b per sample.
    private let transformed: Matrix
    /// Vᵀ·x per sample (B × r), low rank only.
    private let projected: Matrix
    private let output: Matrix
    /// ∂loss/∂(W·x + b) = dy ⊙ x₀.
    private let transformedGradient: Matrix
    private let projectedGradient: Matrix
    private let currentGradient: Matrix

    /// Weights Glorot-uniform on (m, m) — U and V on (m, r) — and a zero bias.
    init(width: Int, rank: Int?, seed: UInt64) {
        precondition(width > 0 && (rank ?? 1) > 0, "a cross layer needs a positive width and rank")
        self.width = width
        var generator = SeededGenerator(seed: seed)
        if let rank {
            let u = Parameter(name: "u", rows: width, columns: rank), v = Parameter(name: "v", rows: width, columns: rank)
            u.value.fillGlorot(fanIn: rank, fanOut: width, &generator)
            v.value.fillGlorot(fanIn: width, fanOut: rank, &generator)
            weight = nil
            lowRank = (u, v)
        } else {
            let w = Parameter(name: "weight", rows: width, columns: width)
            w.value.fillGlorot(fanIn: width, fanOut: width, &generator)
            weight = w
            lowRank = nil
        }
        bias = Parameter(name: "bias", rows: 1, columns: width)
        transformed = Matrix(rows: 0, columns: width)
        projected = Matrix(rows: 0, columns: rank ?? 0)
        output = Matrix(rows: 0, columns: width)
        transformedGradient = Matrix(rows: 0, columns: width)
        projectedGradient = Matrix(rows: 0, columns: rank ?? 0)
        currentGradient = Matrix(rows: 0, columns: width)
    }

    func forward(base: Matrix, current: Matrix) -> Matrix {
        self.base = base
        self.current = current
        let batch = base.rows, m = width
        for workspace in [transformed, projected, output] { workspace.resize(rows: batch) }
        if let (u, v) = lowRank {
            let r = projected.columns
            gemm(m: batch, n: r, k: m, current.pointer, lda: m, v.value.pointer, ldb: r, beta: 0, projected.pointer, ldc: r)
            gemm(transposeB: true, m: batch, n: m, k: r, projected.pointer, lda: r, u.value.pointer, ldb: r,
                 beta: 0, transformed.pointer, ldc: m)
        } else if let weight {
            gemm(transposeB: true, m: batch, n: m, k: m, current.pointer, lda: m, weight.value.pointer, ldb: m,
                 beta: 0, transformed.pointer, ldc: m)
        }
        let b = bias.value.pointer, x0 = base.pointer, x = current.pointer, t = transformed.pointer, y = output.pointer
        for row in 0 ..< batch {
            let offset = row * m
            for j in 0 ..< m {
                let value = t[offset + j] + b[j]
                t[offset + j] = value
                y[offset + j] = x0[offset + j] * value + x[offset + j]
            }
        }
        return output
    }

    /// Returns ∂loss/∂x and adds ∂loss/∂x₀ from this layer's product into `baseGradient`.
    func backward(_ outputGradient: Matrix, baseGradient: Matrix) -> Matrix {
        guard let base, let current else { preconditionFailure("backward before forward") }
        let batch = base.rows, m = width
        for workspace in [transformedGradient, projectedGradient, currentGradient] { workspace.resize(rows: batch) }
        let dy = outputGradient.pointer, x0 = base.pointer, t = transformed.pointer
        let dt = transformedGradient.pointer, dx0 = baseGradient.pointer
        for index in 0 ..< batch * m {
            dt[index] = dy[index] * x0[index]
            dx0[index] += dy[index] * t[index]
        }
        Kernels.columnSums(dt, rows: batch, columns: m, into: bias.gradient.pointer)
        // The residual path: dx = dy, then the product's share is accumulated onto it.
        currentGradient.pointer.update(from: dy, count: batch * m)
        if let (u, v) = lowRank {
            let r = projected.columns, dp = projectedGradient.pointer
            gemm(transposeA: true, m: m, n: r, k: batch, dt, lda: m, projected.pointer, ldb: r, beta: 0, u.gradient.pointer, ldc: r)
            gemm(m: batch, n: r, k: m, dt, lda: m, u.value.pointer, ldb: r, beta: 0, dp, ldc: r)
            gemm(transposeA: true, m: m, n: r, k: batch, current.pointer, lda: m, dp, ldb: r, beta: 0, v.gradient.pointer, ldc: r)
            gemm(transposeB: true, m: batch, n: m, k: r, dp, lda: r, v.value.pointer, ldb: r, beta: 1, currentGradient.pointer, ldc: m)
        } else if let weight {
            gemm(transposeA: true, m: m, n: m, k: batch, dt, lda: m, current.pointer, ldb: m, beta: 0, weight.gradient.pointer, ldc: m)
            gemm(m: batch, n: m, k: m, dt, lda: m, weight.value.pointer, ldb: m, beta: 1, currentGradient.pointer, ldc: m)
        }
        return currentGradient
    }
}
