import Workload

/// The embedding tables of a set of sparse features, with sum pooling and a sparse optimizer
/// applied in place during the backward pass (as FBGEMM's fused table-batched embeddings do:
/// the gradient of a table is never materialised densely).
///
/// Forward: for each sample and feature, the sum of the rows its CSR ids name (zero for a sample
/// without ids), written to a B × (F·D) matrix with feature c of `features` at columns c·D.
/// Splits over samples. Backward: splits over tables (one table is touched by one thread only),
/// so updates never race and do not depend on the thread count.
///
/// Duplicate ids (in one sample or across samples) get the sum of their gradients, as the
/// pooled sum's derivative says. SGD applies each occurrence's share in sample order (the rule is
/// linear, so this equals one update with the summed gradient, minus a rounding); the stateful
/// rules first sum the gradient per distinct row — in order of first occurrence, through a
/// row → slot map that costs 4 bytes per table row — and update each touched row once.
///
/// Rules (ε = 1e-8, FBGEMM's default; only rows the batch touches change, "lazy" for Adam):
/// - sgd: w −= lr·g
/// - adagrad: G += g² (per element), w −= lr·g/(√G + ε)
/// - rowwise-adagrad: G_row += mean(g²) over the row, w −= lr·g/(√G_row + ε) (TorchRec/FBGEMM)
/// - adam: m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², w −= lr·m̂/(√v̂ + ε) with the bias corrections of
///   the global step t, β = (0.9, 0.999)
public final class EmbeddingBagCollection {
    /// Global feature indices (into `SampleBatch.sparse`), in output order.
    public let features: [Int]
    public let dimension: Int
    public let optimizer: SparseOptimizer
    /// One tableRows × D table per feature, in `features` order.
    public let tables: [Matrix]
    public var outputWidth: Int { features.count * dimension }

    static let epsilon: Float = 1e-8

    private let threads: ComputeThreads
    private let output: Matrix
    private var columns: [SparseColumn] = []
    /// Per-table optimizer state and aggregation scratch.
    private let states: [TableState]

    /// `features` pairs each global feature index with its table's rows. Table of feature f is
    /// seeded with `mix(seed, f)` and drawn from U(±√(1/rows)) (DLRM's and TorchRec's default), so
    /// the same feature gets the same table whatever collection it is placed in.
    public init(features: [(index: Int, rows: Int)], dimension: Int, optimizer: SparseOptimizer, seed: UInt64, threads: ComputeThreads = .single) {
        precondition(features.allSatisfy { $0.rows > 0 && $0.rows <= Int(Int32.max) }, "table rows must be in 1 … 2³¹−1")
        self.features = features.map(\.index)
        self.dimension = dimension
        self.optimizer = optimizer
        self.threads = threads
        tables = features.map { feature in
            let table = Matrix(rows: feature.rows, columns: dimension, hugePages: true)
            var generator = SeededGenerator(seed: SeededGenerator.mix(seed, UInt64(feature.index)))
            table.fillUniform(bound: (1 / Float(feature.rows)).squareRoot(), &generator)
            return table
        }
        states = features.map { TableState(rows: $0.rows, dimension: dimension, optimizer: optimizer.kind) }
        output = Matrix(rows: 0, columns: features.count * dimension)
    }

    /// Weights and optimizer state, named `<feature>.weight`, `<feature>.accumulator`,
    /// `<feature>.momentum`, `<feature>.velocity` (those the optimizer keeps).
    public var tensors: [(name: String, matrix: Matrix)] {
        zip(features, zip(tables, states)).flatMap { feature, pair in
            [(name: "\(feature).weight", matrix: pair.0)] + pair.1.tensors.map { (name: "\(feature).\($0.name)", matrix: $0.matrix) }
        }
    }

    /// Pooled embeddings of `batch`: B × (F·D). The result is this collection's workspace.
    public func forward(_ batch: SampleBatch) -> Matrix {
        columns.removeAll(keepingCapacity: true)
        for feature in features {
            precondition(feature < batch.sparse.count, "the batch has \(batch.sparse.count) sparse features, feature \(feature) is missing")
            columns.append(batch.sparse[feature])
        }
        return pool(count: batch.count)
    }

    /// Pooled embeddings of `count` samples given only this collection's ids: `columns[c]` holds
    /// feature `features[c]`'s ids (count + 1 offsets). For a caller without a whole batch — an
    /// MPI rank that owns these tables and received their ids from the other ranks. Same result,
    /// workspace and cost as `forward(_:)`; `backward` then updates the rows these ids name.
    public func forward(columns: [SparseColumn], count: Int) -> Matrix {
        precondition(columns.count == features.count, "\(features.count) tables need \(features.count) id columns, got \(columns.count)")
        precondition(columns.allSatisfy { $0.offsets.count == count + 1 }, "each id column needs count + 1 = \(count + 1) offsets")
        self.columns = columns
        return pool(count: count)
    }

    /// Sums the rows `columns` name into the output workspace (count × F·D).
    private func pool(count: Int) -> Matrix {
        for (slot, column) in columns.enumerated() {
            let rows = tables[slot].rows
            precondition(column.ids.allSatisfy { $0 >= 0 && Int($0) < rows }, "feature \(features[slot]) has an id outside its \(rows)-row table")
        }
        let d = dimension, width = outputWidth
        output.resize(rows: count)
        let out = output.pointer
        threads.forEachRange(count) { range in
            for (slot, column) in self.columns.enumerated() {
                let table = self.tables[slot].pointer
                column.offsets.withUnsafeBufferPointer { offsets in
                    column.ids.withUnsafeBufferPointer { ids in
                        for sample in range {
                            // The first row is copied rather than added to zeros: one pass less
                            // over the output, and a short loop body keeps more of the independent
                            // (cache-missing) row reads in flight.
                            let pooled = out + sample * width + slot * d
                            let first = Int(offsets[sample]), end = Int(offsets[sample + 1])
                            guard first < end else {
                                pooled.update(repeating: 0, count: d)
                                continue
                            }
                            Kernels.copy(table + Int(ids[first]) * d, to: pooled, count: d)
                            for position in first + 1 ..< end {
                                Kernels.add(table + Int(ids[position]) * d, into: pooled, count: d)
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Applies the optimizer to the rows the last forward batch touched, given ∂loss/∂pooled
    /// (B × F·D). `step` is the 1-based global step, used by Adam's bias correction.
    public func backward(_ pooledGradient: Matrix, step: Int) {
        precondition(pooledGradient.columns == outputWidth && pooledGradient.rows == output.rows, "pooled gradient shape mismatch")
        let learningRate = Float(optimizer.learningRate)
        threads.forEachRange(features.count, minimumPerThread: 1) { range in
            for slot in range {
                self.update(slot: slot, gradient: pooledGradient, learningRate: learningRate, step: step)
            }
        }
    }

    private func update(slot: Int, gradient: Matrix, learningRate: Float, step: Int) {
        let column = columns[slot]
        column.offsets.withUnsafeBufferPointer { offsets in
            column.ids.withUnsafeBufferPointer { ids in
                states[slot].update(
                    table: tables[slot].pointer, ids: ids, offsets: offsets, gradient: gradient.pointer + slot * dimension,
                    stride: gradient.columns, learningRate: learningRate, step: step)
            }
        }
    }
}

/// One table's optimizer state and the scratch that sums duplicate ids' gradients.
private final class TableState {
    /// The optimizers that keep per-row state, with that state; SGD has none.
    private enum StatefulRule {
        case adagrad(accumulator: Matrix)
        case rowwiseAdagrad(accumulator: Matrix)
        case adam(momentum: Matrix, velocity: Matrix)
    }

    private let dimension: Int
    /// nil for SGD.
    private let rule: StatefulRule?
    /// Row → slot in `rowGradients` during an update, −1 otherwise (stateful rules only).
    private var slotOfRow: [Int32]
    /// Distinct rows of the current batch, in order of first occurrence.
    private var touchedRows: [Int32] = []
    /// Summed gradient per distinct row.
    private let rowGradients: Matrix

    init(rows: Int, dimension: Int, optimizer: SparseOptimizer.Kind) {
        self.dimension = dimension
        switch optimizer {
        case .sgd: rule = nil
        case .adagrad: rule = .adagrad(accumulator: Matrix(rows: rows, columns: dimension, hugePages: true))
        case .rowwiseAdagrad: rule = .rowwiseAdagrad(accumulator: Matrix(rows: rows, columns: 1, hugePages: true))
        case .adam:
            rule = .adam(momentum: Matrix(rows: rows, columns: dimension, hugePages: true),
                         velocity: Matrix(rows: rows, columns: dimension, hugePages: true))
        }
        slotOfRow = optimizer == .sgd ? [] : Array(repeating: -1, count: rows)
        rowGradients = Matrix(rows: 0, columns: dimension)
    }

    var tensors: [(name: String, matrix: Matrix)] {
        switch rule {
        case nil: []
        case .adagrad(let accumulator), .rowwiseAdagrad(let accumulator): [(name: "accumulator", matrix: accumulator)]
        case .adam(let momentum, let velocity): [(name: "momentum", matrix: momentum), (name: "velocity", matrix: velocity)]
        }
    }

    /// Applies one batch's gradient (row `sample` of ∂loss/∂pooled at `gradient + sample·stride`).
    func update(
        table: UnsafeMutablePointer<Float>, ids: UnsafeBufferPointer<Int32>, offsets: UnsafeBufferPointer<Int32>,
        gradient: UnsafePointer<Float>, stride: Int, learningRate: Float, step: Int
    ) {
        let d = dimension
        guard let rule else {
            for sample in 0 ..< offsets.count - 1 {
                for position in Int(offsets[sample]) ..< Int(offsets[sample + 1]) {
                    Kernels.axpy(-learningRate, gradient + sample * stride, table + Int(ids[position]) * d, count: d)
                }
            }
            return
        }
        aggregate(ids: ids, offsets: offsets, gradient: gradient, stride: stride)
        let epsilon = EmbeddingBagCollection.epsilon
        let corrections = UpdateRules.adamCorrections(step: step)
        for (slot, row) in touchedRows.enumerated() {
            let g = rowGradients.row(slot), w = table + Int(row) * d
            switch rule {
            case .adagrad(let accumulator):
                UpdateRules.adagrad(w, g, accumulator: accumulator.row(Int(row)), count: d, learningRate: learningRate, epsilon: epsilon)
            case .rowwiseAdagrad(let accumulator):
                let sum = accumulator.row(Int(row))
                sum[0] += Kernels.dot(g, g, count: d) / Float(d)
                Kernels.axpy(-learningRate / (sum[0].squareRoot() + epsilon), g, w, count: d)
            case .adam(let momentum, let velocity):
                UpdateRules.adam(w, g, momentum: momentum.row(Int(row)), velocity: velocity.row(Int(row)), count: d,
                                 learningRate: learningRate, corrections: corrections, epsilon: epsilon)
            }
        }
    }

    /// Sums each distinct row's gradient over its occurrences, in sample order.
    private func aggregate(ids: UnsafeBufferPointer<Int32>, offsets: UnsafeBufferPointer<Int32>, gradient: UnsafePointer<Float>, stride: Int) {
        let d = dimension
        touchedRows.removeAll(keepingCapacity: true)
        rowGradients.resize(rows: ids.count)
        slotOfRow.withUnsafeMutableBufferPointer { slots in
            for sample in 0 ..< offsets.count - 1 {
                let g = gradient + sample * stride
                for position in Int(offsets[sample]) ..< Int(offsets[sample + 1]) {
                    let row = Int(ids[position])
                    var slot = Int(slots[row])
                    if slot < 0 {
                        slot = touchedRows.count
                        slots[row] = Int32(slot)
                        touchedRows.append(Int32(row))
                        rowGradients.row(slot).update(repeating: 0, count: d)
                    }
                    Kernels.add(g, into: rowGradients.row(slot), count: d)
                }
            }
            for row in touchedRows { slots[Int(row)] = -1 }
        }
    }
}
