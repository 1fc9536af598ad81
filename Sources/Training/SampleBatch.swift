/// A mini-batch of training samples in the layout the models consume: dense features as one
/// row-major matrix, each sparse feature as a CSR column (per-sample offsets into a flat id
/// array), labels as 0/1 floats.
///
/// Why CSR per feature: an embedding bag pools a variable number of ids per sample, and the
/// flat id array is what both the lookup and the sparse gradient update walk, with no
/// per-sample allocation. Ids are Int32 — every table we train on CPU has fewer than 2³¹ rows —
/// and are already reduced into the table (`0 ≤ id < tableRows`).
public struct SampleBatch: Sendable, Equatable {
    /// Samples in the batch.
    public var count: Int
    /// Dense (float) features per sample.
    public var denseWidth: Int
    /// count × denseWidth values, row-major (sample i's features at i·denseWidth ..< (i+1)·denseWidth).
    public var dense: [Float]
    /// One column per sparse feature, in the workload's feature order.
    public var sparse: [SparseColumn]
    /// count labels, each 0 or 1.
    public var labels: [Float]

    public init(count: Int, denseWidth: Int, dense: [Float], sparse: [SparseColumn], labels: [Float]) {
        precondition(dense.count == count * denseWidth, "dense must hold count × denseWidth values")
        precondition(labels.count == count, "one label per sample")
        precondition(sparse.allSatisfy { $0.offsets.count == count + 1 }, "each sparse column needs count + 1 offsets")
        self.count = count
        self.denseWidth = denseWidth
        self.dense = dense
        self.sparse = sparse
        self.labels = labels
    }
}

/// One sparse feature's ids for a batch, compressed-sparse-row: sample i's ids are
/// `ids[offsets[i] ..< offsets[i+1]]`. `offsets[0] == 0`, offsets never decrease, and
/// `offsets.last == ids.count`. A sample may have no ids (its pooled embedding is zero).
public struct SparseColumn: Sendable, Equatable {
    public var offsets: [Int32]
    public var ids: [Int32]

    public init(offsets: [Int32], ids: [Int32]) {
        self.offsets = offsets
        self.ids = ids
    }

    /// Ids of sample `index`.
    @inlinable
    public func ids(ofSample index: Int) -> ArraySlice<Int32> {
        ids[Int(offsets[index]) ..< Int(offsets[index + 1])]
    }
}

/// A stream of batches: the synthetic generator and the Criteo reader both are one.
///
/// Streams are positioned by sample index so a resumed run can continue exactly where a
/// checkpoint left off (`skip(samples:)`), and they never hold more than one batch in memory.
public protocol BatchSource {
    /// Sparse features per sample (the workload's feature count).
    var featureCount: Int { get }
    /// Dense features per sample.
    var denseWidth: Int { get }
    /// The next `size` samples, fewer at the end of a finite stream, nil once it is exhausted.
    mutating func next(size: Int) throws -> SampleBatch?
    /// Advances past `samples` samples without returning them (used by `--resume`).
    mutating func skip(samples: Int) throws
}
