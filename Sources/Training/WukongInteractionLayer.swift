import Workload

/// One Wukong layer (DESIGN §1.3, `WukongLayer` in the workload) on rows of n embeddings of width d:
/// X' = LN(concat(FMB(X), LCB(X)) + residual(X)), giving n_F + n_L embeddings.
///
/// - FM: the optimised X·(Xᵀ·Y) with learnable Y ∈ ℝ^{n×k}, O(n·k·d) per sample.
/// - FMB: flatten(FM) (n·k) → LayerNorm → MLP (`WukongLayer.fmbMLP`: ReLU between layers, the
///   last layer linear) → n_F·d, read as n_F embeddings.
/// - LCB: W_L·X (W_L ∈ ℝ^{n_L×n}, no bias).
/// - residual: X when n = n_F + n_L, else a projection ℝ^{(n_F+n_L)×n} (no bias).
/// - LN over each output embedding (γ, β ∈ ℝ^d shared by the embeddings).
///
/// Parameter count equals `WukongLayer.parameterCount(inputs:dimension:)`. The per-sample products
/// (Xᵀ·Y, X·T, W_L·X) go through sgemm sample by sample: they are small (n, k ≲ 100) and cannot be
/// folded into one product without transposing the batch. Parameters: `fm.y`, `fm_norm.*`,
/// `fmb.*`, `lcb.weight`, `residual.weight`, `norm.*`.
public final class WukongInteractionLayer: Layer {
    public let inputs: Int
    public let dimension: Int
    public let shape: WukongLayer
    public let fmProjection: Parameter
    public let fmNorm: LayerNorm
    public let fmb: MLPNetwork
    public let lcb: EmbeddingMix
    /// nil when n = n_F + n_L (identity residual).
    public let residual: EmbeddingMix?
    public let norm: LayerNorm
    public let parameters: [Parameter]
    public var inputWidth: Int { inputs * dimension }
    public var outputWidth: Int { shape.outputEmbeddings * dimension }

    private var input: Matrix?
    /// Xᵀ·Y per sample (d × k).
    private let gram: Matrix
    /// X·(Xᵀ·Y) per sample (n × k), flattened.
    private let fm: Matrix
    private let sum: Matrix
    private let fmbGradient: Matrix
    private let lcbGradient: Matrix
    private let gramGradient: Matrix
    private let inputGradient: Matrix

    /// Y, the FMB MLP, W_L and the residual projection are seeded with `mix(seed, 0 … 3)`.
    public init(inputs: Int, dimension: Int, shape: WukongLayer, seed: UInt64, threads: ComputeThreads = .single) {
        precondition(inputs > 0 && dimension > 0, "a Wukong layer needs inputs and a positive dimension")
        precondition(shape.fmEmbeddings > 0 && shape.lcbEmbeddings > 0 && shape.fmRank > 0, "a Wukong layer needs positive n_F, n_L and k")
        self.inputs = inputs
        self.dimension = dimension
        self.shape = shape
        let (n, k, d, outputs) = (inputs, shape.fmRank, dimension, shape.outputEmbeddings)
        fmProjection = Parameter(name: "y", rows: n, columns: k)
        var generator = SeededGenerator(seed: SeededGenerator.mix(seed, 0))
        fmProjection.value.fillGlorot(fanIn: n, fanOut: k, &generator)
        fmNorm = LayerNorm(groupWidth: n * k, groups: 1, threads: threads)
        fmb = MLPNetwork(shape.fmbMLP(inputs: n, dimension: d), finalReLU: false, seed: SeededGenerator.mix(seed, 1), threads: threads)
        lcb = EmbeddingMix(inputs: n, outputs: shape.lcbEmbeddings, dimension: d, seed: SeededGenerator.mix(seed, 2))
        residual = n == outputs ? nil : EmbeddingMix(inputs: n, outputs: outputs, dimension: d, seed: SeededGenerator.mix(seed, 3))
        norm = LayerNorm(groupWidth: d, groups: outputs, threads: threads)
        parameters = Parameter.prefixed("fm", [fmProjection]) + Parameter.prefixed("fm_norm", fmNorm.parameters)
            + Parameter.prefixed("fmb", fmb.parameters) + Parameter.prefixed("lcb", lcb.parameters)
            + Parameter.prefixed("residual", residual?.parameters ?? []) + Parameter.prefixed("norm", norm.parameters)
        gram = Matrix(rows: 0, columns: d * k)
        fm = Matrix(rows: 0, columns: n * k)
        sum = Matrix(rows: 0, columns: outputs * d)
        fmbGradient = Matrix(rows: 0, columns: shape.fmEmbeddings * d)
        lcbGradient = Matrix(rows: 0, columns: shape.lcbEmbeddings * d)
        gramGradient = Matrix(rows: 1, columns: d * k)
        inputGradient = Matrix(rows: 0, columns: n * d)
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == inputWidth, "Wukong layer expects \(inputWidth) columns, got \(input.columns)")
        self.input = input
        let batch = input.rows
        let (n, k, d) = (inputs, shape.fmRank, dimension)
        for workspace in [gram, fm, sum] { workspace.resize(rows: batch) }
        let y = fmProjection.value.pointer
        for sample in 0 ..< batch {
            let x = input.row(sample), t = gram.row(sample)
            gemm(transposeA: true, m: d, n: k, k: n, x, lda: d, y, ldb: k, beta: 0, t, ldc: k)
            gemm(m: n, n: k, k: d, x, lda: d, t, ldb: k, beta: 0, fm.row(sample), ldc: k)
        }
        let machine = fmb.forward(fmNorm.forward(fm))
        let linear = lcb.forward(input)
        let fmWidth = machine.columns, width = sum.columns
        Kernels.copyColumns(rows: batch, width: fmWidth, from: machine.pointer, stride: fmWidth, to: sum.pointer, stride: width)
        Kernels.copyColumns(rows: batch, width: linear.columns, from: linear.pointer, stride: linear.columns, to: sum.pointer + fmWidth, stride: width)
        let shortcut = residual?.forward(input) ?? input
        Kernels.add(shortcut.pointer, into: sum.pointer, count: batch * width)
        return norm.forward(sum)
    }

    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        let batch = input.rows
        let (n, k, d) = (inputs, shape.fmRank, dimension)
        let sumGradient = norm.backward(outputGradient)
        let width = sumGradient.columns, fmWidth = fmbGradient.columns
        for workspace in [fmbGradient, lcbGradient, inputGradient] { workspace.resize(rows: batch) }
        Kernels.copyColumns(rows: batch, width: fmWidth, from: sumGradient.pointer, stride: width, to: fmbGradient.pointer, stride: fmWidth)
        Kernels.copyColumns(rows: batch, width: lcbGradient.columns, from: sumGradient.pointer + fmWidth, stride: width,
                            to: lcbGradient.pointer, stride: lcbGradient.columns)
        let shortcutGradient = residual?.backward(sumGradient) ?? sumGradient
        inputGradient.pointer.update(from: shortcutGradient.pointer, count: batch * n * d)
        Kernels.add(lcb.backward(lcbGradient).pointer, into: inputGradient.pointer, count: batch * n * d)

        // FM: F = X·T with T = Xᵀ·Y, so dX = dF·Tᵀ + Y·dTᵀ, dT = Xᵀ·dF and dY = Σ X·dT.
        let fmGradient = fmNorm.backward(fmb.backward(fmbGradient))
        let y = fmProjection.value.pointer, dY = fmProjection.gradient.pointer, dT = gramGradient.pointer
        fmProjection.gradient.fill(0)
        for sample in 0 ..< batch {
            let x = input.row(sample), dF = fmGradient.row(sample), dX = inputGradient.row(sample)
            gemm(transposeB: true, m: n, n: d, k: k, dF, lda: k, gram.row(sample), ldb: k, beta: 1, dX, ldc: d)
            gemm(transposeA: true, m: d, n: k, k: n, x, lda: d, dF, ldb: k, beta: 0, dT, ldc: k)
            gemm(transposeB: true, m: n, n: d, k: k, y, lda: k, dT, ldb: k, beta: 1, dX, ldc: d)
            gemm(m: n, n: k, k: d, x, lda: d, dT, ldb: k, beta: 1, dY, ldc: k)
        }
        return inputGradient
    }
}

/// Mixes whole embeddings: each row holds n embeddings of width d, read as X ∈ ℝ^{n×d}, and the
/// output is W·X ∈ ℝ^{o×d} with W ∈ ℝ^{o×n}, no bias. Wukong's LCB and its residual projection.
/// Cost: 2·o·n·d FLOPs per sample forward, twice that backward, one small sgemm per sample each.
public final class EmbeddingMix: Layer {
    public let inputs: Int
    public let outputs: Int
    public let dimension: Int
    public let weight: Parameter
    public var parameters: [Parameter] { [weight] }
    public var inputWidth: Int { inputs * dimension }
    public var outputWidth: Int { outputs * dimension }

    private var input: Matrix?
    private let output: Matrix
    private let inputGradient: Matrix

    /// W Glorot-uniform on (n, o).
    public init(inputs: Int, outputs: Int, dimension: Int, seed: UInt64) {
        self.inputs = inputs
        self.outputs = outputs
        self.dimension = dimension
        weight = Parameter(name: "weight", rows: outputs, columns: inputs)
        var generator = SeededGenerator(seed: seed)
        weight.value.fillGlorot(fanIn: inputs, fanOut: outputs, &generator)
        output = Matrix(rows: 0, columns: outputs * dimension)
        inputGradient = Matrix(rows: 0, columns: inputs * dimension)
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == inputWidth, "embedding mix expects \(inputWidth) columns, got \(input.columns)")
        self.input = input
        output.resize(rows: input.rows)
        for sample in 0 ..< input.rows {
            gemm(m: outputs, n: dimension, k: inputs, weight.value.pointer, lda: inputs, input.row(sample), ldb: dimension,
                 beta: 0, output.row(sample), ldc: dimension)
        }
        return output
    }

    /// dW = Σ_s dY_s·X_sᵀ, dX_s = Wᵀ·dY_s.
    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        let batch = input.rows
        inputGradient.resize(rows: batch)
        weight.gradient.fill(0)
        for sample in 0 ..< batch {
            let dY = outputGradient.row(sample)
            gemm(transposeB: true, m: outputs, n: inputs, k: dimension, dY, lda: dimension, input.row(sample), ldb: dimension,
                 beta: 1, weight.gradient.pointer, ldc: inputs)
            gemm(transposeA: true, m: inputs, n: dimension, k: outputs, weight.value.pointer, lda: inputs, dY, ldb: dimension,
                 beta: 0, inputGradient.row(sample), ldc: dimension)
        }
        return inputGradient
    }
}
