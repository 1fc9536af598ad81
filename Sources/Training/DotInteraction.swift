/// DLRM's pairwise dot interaction: each row holds `vectors` vectors of width `dimension`; the
/// output is the first `passthroughWidth` input values followed by the dot products of every
/// pair below the diagonal of the Gram matrix, in DLRM's order (i = 1 …, j = 0 ..< i).
///
/// - Global interaction: the row is [dense vector, embeddings…] and the passthrough is the dense
///   vector, so the width is denseWidth + n(n−1)/2 (`Interaction.outputWidth`).
/// - Dot tower module: the passthrough is the whole row (the flattened embeddings are kept).
///
/// Why a hand loop over the lower triangle instead of a batched Gram sgemm: with n ≈ 27 and
/// D = 16 a per-sample sgemm spends more in call overhead than in arithmetic, and the loop does
/// only the n(n−1)/2 products that are used (about half of the n² the cost model charges, see
/// `Interaction.forwardFLOPs`). Samples are independent, so both passes split over threads with
/// results that do not depend on the split. No parameters.
public final class DotInteraction: Layer {
    public let vectors: Int
    public let dimension: Int
    public let passthroughWidth: Int
    public var parameters: [Parameter] { [] }
    public var inputWidth: Int { vectors * dimension }
    public var outputWidth: Int { passthroughWidth + Self.pairCount(vectors) }

    private let threads: ComputeThreads
    private var input: Matrix?
    private let output: Matrix
    private let inputGradient: Matrix

    public init(vectors: Int, dimension: Int, passthroughWidth: Int, threads: ComputeThreads = .single) {
        precondition(vectors > 0 && dimension > 0, "dot interaction needs at least one vector of positive width")
        precondition(passthroughWidth >= 0 && passthroughWidth <= vectors * dimension, "passthrough must lie inside the row")
        self.vectors = vectors
        self.dimension = dimension
        self.passthroughWidth = passthroughWidth
        self.threads = threads
        output = Matrix(rows: 0, columns: passthroughWidth + Self.pairCount(vectors))
        inputGradient = Matrix(rows: 0, columns: vectors * dimension)
    }

    /// n(n−1)/2: pairs below the diagonal.
    public static func pairCount(_ vectors: Int) -> Int { vectors * (vectors - 1) / 2 }

    /// Output column of the product of vectors i and j (i ≠ j, either order).
    public func column(ofPair i: Int, _ j: Int) -> Int {
        precondition(i != j && i >= 0 && j >= 0 && i < vectors && j < vectors, "pair (\(i), \(j)) is not below the diagonal of \(vectors) vectors")
        let (high, low) = i > j ? (i, j) : (j, i)
        return passthroughWidth + high * (high - 1) / 2 + low
    }

    public func forward(_ input: Matrix) -> Matrix {
        precondition(input.columns == inputWidth, "dot interaction expects \(inputWidth) columns, got \(input.columns)")
        self.input = input
        let batch = input.rows
        output.resize(rows: batch)
        let (n, d, pass) = (vectors, dimension, passthroughWidth)
        let inWidth = inputWidth, outWidth = outputWidth
        let x = input.pointer, z = output.pointer
        threads.forEachRange(batch) { range in
            for sample in range {
                let row = x + sample * inWidth, out = z + sample * outWidth
                out.update(from: row, count: pass)
                var column = pass
                for i in 1 ..< max(n, 1) {
                    for j in 0 ..< i {
                        out[column] = Kernels.dot(row + i * d, row + j * d, count: d)
                        column += 1
                    }
                }
            }
        }
        return output
    }

    /// dx_i += Σ_j dz_ij · x_j and dx_j += dz_ij · x_i over the pairs, plus the passthrough gradient.
    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        let batch = input.rows
        precondition(outputGradient.rows == batch && outputGradient.columns == outputWidth, "output gradient shape mismatch")
        inputGradient.resize(rows: batch)
        let (n, d, pass) = (vectors, dimension, passthroughWidth)
        let inWidth = inputWidth, outWidth = outputWidth
        let x = input.pointer, dz = outputGradient.pointer, dx = inputGradient.pointer
        threads.forEachRange(batch) { range in
            for sample in range {
                let row = x + sample * inWidth, gradient = dx + sample * inWidth, dOut = dz + sample * outWidth
                gradient.update(repeating: 0, count: inWidth)
                gradient.update(from: dOut, count: pass)
                var column = pass
                for i in 1 ..< max(n, 1) {
                    for j in 0 ..< i {
                        let g = dOut[column]
                        Kernels.axpy(g, row + j * d, gradient + i * d, count: d)
                        Kernels.axpy(g, row + i * d, gradient + j * d, count: d)
                        column += 1
                    }
                }
            }
        }
        return inputGradient
    }
}
