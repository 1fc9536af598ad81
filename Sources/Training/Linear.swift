import Workload

/// A fully connected layer y = x·Wᵀ + b, optionally followed by ReLU (fused: one pass adds the
/// bias and clamps).
///
/// W is out × in (PyTorch's layout). Cost per batch of B: forward one sgemm (2·B·in·out FLOPs)
/// plus one pass over the output; backward two sgemms — the weight gradient dZᵀ·X as one product
/// over the whole batch and the input gradient dZ·W — plus a column sum for the bias and, with
/// ReLU, one masking pass. The element-wise passes split over `threads` (by rows, and the column
/// sum by columns, so every bias sum keeps its row order and results do not depend on the split).
public final class Linear: Layer {
    public let inputWidth: Int
    public let outputWidth: Int
    public let relu: Bool
    /// False for a layer whose input is data (a bottom MLP's first layer): `backward` then skips
    /// the input-gradient product dZ·W, 2·B·in·out FLOPs nobody reads, and returns an empty
    /// (0-row) matrix instead of ∂loss/∂input.
    public let propagatesGradient: Bool
    public let weight: Parameter
    public let bias: Parameter
    public var parameters: [Parameter] { [weight, bias] }

    private var input: Matrix?
    private let output: Matrix
    /// ∂loss/∂(pre-activation), used only with ReLU (without it the output gradient is used as is).
    private let preActivationGradient: Matrix
    private let inputGradient: Matrix
    private let threads: ComputeThreads

    /// Weights Glorot-uniform, biases U(±1/√in) (PyTorch's bias rule), both from `seed`.
    public init(
        inputWidth: Int, outputWidth: Int, relu: Bool, seed: UInt64, propagatesGradient: Bool = true, threads: ComputeThreads = .single
    ) {
        precondition(inputWidth > 0 && outputWidth > 0, "a linear layer needs positive widths, got \(inputWidth) → \(outputWidth)")
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.relu = relu
        self.propagatesGradient = propagatesGradient
        self.threads = threads
        weight = Parameter(name: "weight", rows: outputWidth, columns: inputWidth)
        bias = Parameter(name: "bias", rows: 1, columns: outputWidth)
        var generator = SeededGenerator(seed: seed)
        weight.value.fillGlorot(fanIn: inputWidth, fanOut: outputWidth, &generator)
        bias.value.fillUniform(bound: 1 / Float(inputWidth).squareRoot(), &generator)
        output = Matrix(rows: 0, columns: outputWidth)
        preActivationGradient = Matrix(rows: 0, columns: outputWidth)
        inputGradient = Matrix(rows: 0, columns: inputWidth)
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == inputWidth, "linear layer expects \(inputWidth) columns, got \(input.columns)")
        self.input = input
        let batch = input.rows
        output.resize(rows: batch)
        gemm(transposeB: true, m: batch, n: outputWidth, k: inputWidth, input.pointer, lda: inputWidth,
             weight.value.pointer, ldb: inputWidth, beta: 0, output.pointer, ldc: outputWidth)
        let b = bias.value.pointer, y = output.pointer, width = outputWidth, relu = relu
        threads.forEachRange(batch, minimumPerThread: rowsPerThread) { rows in
            for row in rows {
                let y = y + row * width
                if relu {
                    for j in 0 ..< width { y[j] = max(y[j] + b[j], 0) }
                } else {
                    for j in 0 ..< width { y[j] += b[j] }
                }
            }
        }
        return output
    }

    /// Fewest rows worth a thread in the element-wise passes: about 32k values (a few
    /// microseconds of work, the order of a thread wake-up), so narrow layers stay on one thread.
    private var rowsPerThread: Int { max(1, 32_768 / outputWidth) }

    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        let batch = input.rows
        precondition(outputGradient.rows == batch && outputGradient.columns == outputWidth, "output gradient shape mismatch")
        let dz: Matrix
        let width = outputWidth
        if relu {
            preActivationGradient.resize(rows: batch)
            let y = output.pointer, dy = outputGradient.pointer, target = preActivationGradient.pointer
            threads.forEachRange(batch, minimumPerThread: rowsPerThread) { rows in
                let start = rows.lowerBound * width
                Kernels.reluGradient(output: y + start, gradient: dy + start, into: target + start, count: rows.count * width)
            }
            dz = preActivationGradient
        } else {
            dz = outputGradient
        }
        gemm(transposeA: true, m: outputWidth, n: inputWidth, k: batch, dz.pointer, lda: outputWidth,
             input.pointer, ldb: inputWidth, beta: 0, weight.gradient.pointer, ldc: inputWidth)
        let sums = bias.gradient.pointer, z = dz.pointer
        threads.forEachRange(width, minimumPerThread: max(1, 32_768 / max(batch, 1))) { columns in
            Kernels.columnSums(z + columns.lowerBound, rows: batch, columns: columns.count, stride: width, into: sums + columns.lowerBound)
        }
        guard propagatesGradient else {
            inputGradient.resize(rows: 0)
            return inputGradient
        }
        inputGradient.resize(rows: batch)
        gemm(m: batch, n: inputWidth, k: outputWidth, dz.pointer, lda: outputWidth,
             weight.value.pointer, ldb: inputWidth, beta: 0, inputGradient.pointer, ldc: inputWidth)
        return inputGradient
    }
}

/// A stack of `Linear` layers built from a workload `MLP`: ReLU after every hidden layer, and
/// after the last one only when `finalReLU` (DLRM's bottom MLP ends in ReLU; a top MLP ending in
/// a logit, or a projection, does not). Parameters are named `<layer>.weight` / `<layer>.bias`.
public final class MLPNetwork: Layer {
    public let layers: [Linear]
    private let chain: LayerChain

    /// Layer i is seeded with `mix(seed, i)`. `propagatesGradient: false` when the input is data
    /// (see `Linear.propagatesGradient`): `backward` then returns an empty matrix.
    public init(_ shape: MLP, finalReLU: Bool, seed: UInt64, propagatesGradient: Bool = true, threads: ComputeThreads = .single) {
        precondition(!shape.layerWidths.isEmpty, "an MLP network needs at least one layer")
        let widths = [shape.inputWidth] + shape.layerWidths
        layers = (0 ..< shape.layerWidths.count).map { index in
            Linear(inputWidth: widths[index], outputWidth: widths[index + 1],
                   relu: index < shape.layerWidths.count - 1 || finalReLU, seed: SeededGenerator.mix(seed, UInt64(index)),
                   propagatesGradient: index > 0 || propagatesGradient, threads: threads)
        }
        chain = LayerChain(layers)
    }

    public var inputWidth: Int { chain.inputWidth }
    public var outputWidth: Int { chain.outputWidth }
    public var parameters: [Parameter] { chain.parameters }
    public func forward(_ input: Matrix) -> Matrix { chain.forward(input) }
    public func backward(_ outputGradient: Matrix) -> Matrix { chain.backward(outputGradient) }
}
