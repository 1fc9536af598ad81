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
///
/// Both loops are register-blocked, with no horizontal sum and no read-modify-write of memory in
/// the innermost loop and four independent accumulators (`forEachGroup`); on the DLRM benchmark
/// this took about 40% off the layer's time against one SIMD dot, or one axpy, per pair. The
/// forward pass transposes the sample's vectors into a D × n scratch on the stack (n·D copies,
/// small next to the n²·D/2 multiply-adds) and computes the dots of vector i with eight vectors j
/// at a time, one SIMD8 lane each, summing over the D components in order; the backward pass
/// keeps eight components of ∂x_i in a SIMD8 accumulator while it runs over j, reading dz from
/// an n × n symmetric scratch (n² copies per sample).
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
        // Transposed row: component k of vector j at k·lanes + j, rows padded to whole SIMD8 blocks.
        let lanes = (n + 7) / 8 * 8
        let x = input.pointer, z = output.pointer
        threads.forEachRange(batch) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: d * lanes) { scratch in
                let transposed = scratch.baseAddress!
                // The padding lanes stay zero: their dots are computed and dropped.
                transposed.initialize(repeating: 0, count: d * lanes)
                for sample in range {
                    let row = x + sample * inWidth, out = z + sample * outWidth
                    out.update(from: row, count: pass)
                    for j in 0 ..< n {
                        for k in 0 ..< d { transposed[k * lanes + j] = row[j * d + k] }
                    }
                    // The dots of vectors i ..< i + 4 with vectors block ..< block + 8, lane l of
                    // vector i's accumulator summing x_i[k]·x_(block+l)[k] in k order.
                    Self.forEachGroup(of: n, from: 1) { group in
                        let xs = (row + group.0 * d, row + group.1 * d, row + group.2 * d, row + group.3 * d)
                        for block in stride(from: 0, to: group.3, by: 8) {
                            var sums = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
                            var column = UnsafePointer(transposed + block)
                            for k in 0 ..< d {
                                let v = Self.load(column)
                                sums.0 += SIMD8(repeating: xs.0[k]) * v
                                sums.1 += SIMD8(repeating: xs.1[k]) * v
                                sums.2 += SIMD8(repeating: xs.2[k]) * v
                                sums.3 += SIMD8(repeating: xs.3[k]) * v
                                column += lanes
                            }
                            // Lanes j < i only: pair (i, j) sits at column pass + i(i−1)/2 + j.
                            func store(_ dots: SIMD8<Float>, _ i: Int) {
                                let target = out + pass + i * (i - 1) / 2 + block
                                for lane in 0 ..< max(0, min(8, i - block)) { target[lane] = dots[lane] }
                            }
                            store(sums.0, group.0)
                            store(sums.1, group.1)
                            store(sums.2, group.2)
                            store(sums.3, group.3)
                        }
                    }
                }
            }
        }
        return output
    }

    /// dx_i = passthrough gradient + Σ_j G_ij · x_j, j ascending, where G is dz made symmetric
    /// with a zero diagonal (built per sample in an n × n scratch on the stack). Vector i's own
    /// term adds 0·x_i, which changes nothing but the sign of a zero.
    public func backward(_ outputGradient: Matrix) -> Matrix {
        guard let input else { preconditionFailure("backward before forward") }
        let batch = input.rows
        precondition(outputGradient.rows == batch && outputGradient.columns == outputWidth, "output gradient shape mismatch")
        inputGradient.resize(rows: batch)
        let (n, d, pass) = (vectors, dimension, passthroughWidth)
        let inWidth = inputWidth, outWidth = outputWidth
        let x = input.pointer, dz = outputGradient.pointer, dx = inputGradient.pointer
        threads.forEachRange(batch) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n * n) { scratch in
                let gram = scratch.baseAddress!
                gram.initialize(repeating: 0, count: n * n)
                for sample in range {
                    let row = x + sample * inWidth, gradient = dx + sample * inWidth, dOut = dz + sample * outWidth
                    gradient.update(from: dOut, count: pass)
                    (gradient + pass).update(repeating: 0, count: inWidth - pass)
                    var pair = pass
                    for i in 1 ..< max(n, 1) {
                        for j in 0 ..< i {
                            gram[i * n + j] = dOut[pair]
                            gram[j * n + i] = dOut[pair]
                            pair += 1
                        }
                    }
                    // ∂x of vectors i ..< i + 4, eight components at a time, then the components
                    // past the last whole eight one by one.
                    Self.forEachGroup(of: n, from: 0) { group in
                        let gs = (UnsafePointer(gram + group.0 * n), UnsafePointer(gram + group.1 * n),
                                  UnsafePointer(gram + group.2 * n), UnsafePointer(gram + group.3 * n))
                        var component = 0
                        while component + 8 <= d {
                            let targets = (gradient + group.0 * d + component, gradient + group.1 * d + component,
                                           gradient + group.2 * d + component, gradient + group.3 * d + component)
                            var sums = (Self.load(targets.0), Self.load(targets.1), Self.load(targets.2), Self.load(targets.3))
                            var xj = UnsafePointer(row + component)
                            for j in 0 ..< n {
                                let v = Self.load(xj)
                                sums.0 += SIMD8(repeating: gs.0[j]) * v
                                sums.1 += SIMD8(repeating: gs.1[j]) * v
                                sums.2 += SIMD8(repeating: gs.2[j]) * v
                                sums.3 += SIMD8(repeating: gs.3[j]) * v
                                xj += d
                            }
                            Self.store(sums.0, targets.0)
                            Self.store(sums.1, targets.1)
                            Self.store(sums.2, targets.2)
                            Self.store(sums.3, targets.3)
                            component += 8
                        }
                        for i in group.0 ... group.3 where component < d {
                            let dxi = gradient + i * d
                            for j in 0 ..< n {
                                let g = gram[i * n + j], xj = row + j * d
                                for k in component ..< d { dxi[k] += g * xj[k] }
                            }
                        }
                    }
                }
            }
        }
        return inputGradient
    }

    /// Calls `body` with the vectors first ..< n in groups of four, ascending; the last group
    /// repeats its last vector to make four. Four rows at once give four independent accumulator
    /// chains, which hide the latency of SIMD adds that a single chain waits on (the kernels were
    /// latency-bound with one). A repeated vector computes the same values again and stores them
    /// over themselves.
    @inline(__always)
    private static func forEachGroup(of n: Int, from first: Int, _ body: ((Int, Int, Int, Int)) -> Void) {
        for start in stride(from: first, to: n, by: 4) {
            let last = min(start + 3, n - 1)
            body((start, min(start + 1, last), min(start + 2, last), last))
        }
    }

    /// Eight consecutive values from `pointer` (no alignment needed).
    @inline(__always)
    private static func load(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Stores eight values at `pointer` (no alignment needed).
    @inline(__always)
    private static func store(_ values: SIMD8<Float>, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: values, as: SIMD8<Float>.self)
    }
}
