import Workload

/// TorchRec's sharding types for embedding tables (DESIGN.md §1.1).
public enum ShardingType: String, Sendable, Hashable, CaseIterable {
    /// Table-wise: each table whole on one GPU. Ids go to the owner (all-to-all), pooled
    /// embeddings come back (all-to-all). Cheap per table, but a heavy table makes its GPU a straggler.
    case tableWise = "tw"
    /// Row-wise: every table's rows split evenly over all GPUs. Each id goes to its row's owner;
    /// the owners' partial sums are reduce-scattered to the sample owners, gradients all-gathered back.
    case rowWise = "rw"
    /// Column-wise: tables cut into column blocks placed like tables; every block needs every id.
    case columnWise = "cw"
    /// Table-row-wise: each table on one host, rows split over that host's GPUs; partial sums are
    /// reduce-scattered inside the host, then sent to the sample owners among same-local-rank peers.
    case tableRowWise = "twrw"
    /// Data-parallel: every GPU holds every table; table gradients are all-reduced.
    case dataParallel = "dp"

    /// Readable name for reports.
    public var title: String {
        switch self {
        case .tableWise: "table-wise"
        case .rowWise: "row-wise"
        case .columnWise: "column-wise"
        case .tableRowWise: "table-row-wise"
        case .dataParallel: "data-parallel"
        }
    }
}

/// A piece of one embedding table and the GPUs that hold it.
public struct TableShard: Sendable, Hashable {
    /// Index into the workload's features.
    public var feature: Int
    /// First embedding column of the shard and how many columns it holds (0 and D for whole-width shards).
    public var firstColumn: Int
    public var columns: Int
    /// GPUs holding the shard: its rows are split evenly among them (a single rank for TW and CW
    /// shards), or, when `replicated`, each holds all rows.
    public var ranks: Range<Int32>
    public var replicated: Bool

    public init(feature: Int, firstColumn: Int = 0, columns: Int, ranks: Range<Int32>, replicated: Bool = false) {
        self.feature = feature
        self.firstColumn = firstColumn
        self.columns = columns
        self.ranks = ranks
        self.replicated = replicated
    }
}

/// Where every embedding table lives, and the per-GPU costs that follow from it.
///
/// Sample accounting (TorchRec semantics): a sharded (non-replicated) shard serves the ids of all
/// `globalBatch` samples, spread evenly over its ranks by row (ids assumed uniformly spread over
/// rows; skew would load some row owners more); a replicated shard serves only the GPU's own
/// `localBatch` samples. The per-rank figures are what make imbalance visible: a GPU that owns a
/// heavy table does more lookups and updates than the others.
public struct ShardingPlan: Sendable {
    public var shards: [TableShard]
    public let rankCount: Int
    public let features: [SparseFeature]
    public let training: TrainingSetup
    /// Samples a sharded table serves per step: local batch × GPUs.
    public let globalBatch: Int

    public init(shards: [TableShard], rankCount: Int, features: [SparseFeature], training: TrainingSetup) {
        self.shards = shards
        self.rankCount = rankCount
        self.features = features
        self.training = training
        globalBatch = training.batchPerGPU * rankCount
    }

    private var storage: NumericFormat { training.precisions.embedding }

    /// Sums `value(shard, ranksSharing)` onto every rank of every shard.
    private func perRank(_ value: (TableShard, Double) -> Double) -> [Double] {
        var totals = [Double](repeating: 0, count: rankCount)
        for shard in shards {
            let amount = value(shard, shard.replicated ? 1 : Double(shard.ranks.count))
            for rank in shard.ranks { totals[Int(rank)] += amount }
        }
        return totals
    }

    /// Bytes of tables and optimizer state each rank holds.
    public var memoryBytesPerRank: [Double] {
        perRank { shard, sharing in
            Self.memoryBytes(of: shard, feature: features[shard.feature], training: training) / sharing
        }
    }

    /// Memory of a whole shard: rows × (row bytes + optimizer state bytes), for its column width.
    public static func memoryBytes(of shard: TableShard, feature: SparseFeature, training: TrainingSetup) -> Double {
        Double(feature.tableRows)
            * (training.precisions.embedding.embeddingRowBytes(dimension: shard.columns)
                + training.sparseOptimizer.stateBytesPerRow(dimension: shard.columns))
    }

    /// Forward lookup on each rank: gathers of pooling × row bytes for every id it serves.
    public var lookupWorkPerRank: [ComputeWork] {
        perRank { shard, sharing in
            let feature = features[shard.feature]
            let samples = shard.replicated ? Double(training.batchPerGPU) : Double(globalBatch) / sharing
            return samples * feature.pooling * storage.embeddingRowBytes(dimension: shard.columns)
        }.map { ComputeWork(gatheredBytes: $0) }
    }

    /// Backward lookup fused with the optimizer (FBGEMM's fused TBE backward) on each rank: the
    /// pooled gradient row of every id served is read — the mirror of the forward's gather, as many
    /// rows of as many bytes; FBGEMM then reduces each row's sorted segment on chip — and every
    /// touched row is read and written with its optimizer state (`SparseOptimizer.updateBytesPerRow`).
    /// All of it is scattered bytes (`ComputeWork.scatteredBytes`): a CPU's per-row sums through
    /// memory (towerplan's trainer) cost more per byte than its gathers, which calibration's
    /// measured scatter bandwidth takes in, as it counts bytes this way.
    /// Touched rows of a sharded shard are min(rows, ids served) — ids assumed distinct up to the
    /// table size, an upper bound for skewed data. Replicated tables receive a dense gradient and
    /// update every row, as TorchRec's data-parallel tables do (streamed, not gathered).
    public var updateWorkPerRank: [ComputeWork] {
        var work = [ComputeWork](repeating: .zero, count: rankCount)
        let lookup = lookupWorkPerRank
        for shard in shards {
            let feature = features[shard.feature]
            let rowBytes = training.sparseOptimizer.updateBytesPerRow(dimension: shard.columns, storage: storage)
            let item: ComputeWork
            if shard.replicated {
                item = ComputeWork(streamedBytes: Double(feature.tableRows) * rowBytes)
            } else {
                let touched = min(Double(feature.tableRows), Double(globalBatch) * feature.pooling) / Double(shard.ranks.count)
                item = ComputeWork(scatteredBytes: touched * rowBytes)
            }
            for rank in shard.ranks { work[Int(rank)] = work[Int(rank)] + item }
        }
        return zip(work, lookup).map { $0 + ComputeWork(scatteredBytes: $1.gatheredBytes) }
    }

    /// The placement cost TorchRec's greedy proposer balances, for one whole shard on one GPU:
    /// lookup bytes + optimizer bytes per step when it serves all `globalBatch` samples.
    public static func placementCost(of shard: TableShard, feature: SparseFeature, training: TrainingSetup, globalBatch: Int) -> Double {
        let storage = training.precisions.embedding
        let ids = Double(globalBatch) * feature.pooling
        return ids * storage.embeddingRowBytes(dimension: shard.columns)
            + min(Double(feature.tableRows), ids) * training.sparseOptimizer.updateBytesPerRow(dimension: shard.columns, storage: storage)
    }

    /// Input-distribution scale per rank: id bytes per sample it receives from every sender. Each id
    /// goes to the rank holding its row (1/n of a shard's ids to each of its n ranks), and every
    /// column block gets its own copy; with `lengthBytes` > 0 every shard's rank also receives
    /// each sample's id count for that feature (a KJT's lengths). Multiplied by the samples a
    /// sender holds, this is the destination scale of the ids all-to-all.
    public func idBytesPerSamplePerRank(lengthBytes: Double = 0) -> [Double] {
        perRank { shard, sharing in shard.replicated ? 0 : features[shard.feature].idBytesPerSample / sharing + lengthBytes }
    }

    /// Pooled values per sample each rank returns for its single-owner shards (TW, CW), bytes in
    /// `direction`'s wire format: the source scale of the output all-to-all (forward) or the
    /// destination scale of the gradient all-to-all (backward).
    public func pooledBytesPerSamplePerRank(_ direction: PassDirection) -> [Double] {
        let bytes = training.precisions.communication(direction).bytes
        return perRank { shard, _ in Double(shard.columns) * bytes }
    }

    /// Pooled bytes per sample of the features whose shards cover `ranks` exactly (the row-split
    /// shards of one group): what one sample's partial sums weigh in that group's reduce-scatter.
    public func pooledBytesPerSample(onRanks ranks: Range<Int32>, _ direction: PassDirection) -> Double {
        let bytes = training.precisions.communication(direction).bytes
        return shards.lazy.filter { $0.ranks == ranks }.reduce(0) { $0 + Double($1.columns) * bytes }
    }
}
