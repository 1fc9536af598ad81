import Workload

/// What one feature costs the tower that holds it (DESIGN §1.2, TP): lookup bytes + tower-module
/// FLOPs + table memory. The three terms have different units, so each is divided by its total
/// over the features and the shares are combined with `weights`; a feature's cost is then the
/// fraction of the whole model's load it brings, and the costs of all features sum to 1.
///
/// - lookup: `SparseFeature.lookupBytesPerSample` in the table's storage format (memory read per
///   sample, the embedding-bound part of a tower GPU's step);
/// - module: the feature's share of the tower module's forward FLOPs, `TowerModule.forwardFLOPs`
///   of one tower holding every feature divided by F. Every feature has the model's width D, so
///   the share is the same for all: the term counts features, which keeps the tower modules
///   (superlinear in F_t for compressing and dot modules) of similar size;
/// - memory: `SparseFeature.tableBytes` plus the sparse optimizer's state for every row.
///
/// A term whose total is zero (an identity tower module has no FLOPs) drops out, and the other
/// weights are renormalised. Cost: O(F).
public struct FeatureCostModel: Sendable, Hashable {
    /// Relative weights of the lookup, module and memory terms; the default weighs them equally.
    public var lookup: Double
    public var module: Double
    public var memory: Double

    public init(lookup: Double = 1, module: Double = 1, memory: Double = 1) {
        self.lookup = lookup
        self.module = module
        self.memory = memory
    }

    /// Bytes of a feature's table and its sparse-optimizer state: what its tower domain must hold.
    public static func memoryBytes(_ feature: SparseFeature, training: TrainingSetup) -> Double {
        feature.tableBytes(storage: training.precisions.embedding)
            + Double(feature.tableRows) * training.sparseOptimizer.stateBytesPerRow(dimension: feature.dimension)
    }

    /// The cost of each of `workload`'s features, summing to 1 (empty for a workload without
    /// sparse features).
    public func costs(of workload: Workload) -> [Double] {
        guard let model = workload.recommendation, !model.features.isEmpty else { return [] }
        let features = model.features
        let training = workload.training
        let moduleShare =
            model.towerModule.forwardFLOPs(features: features.count, dimension: model.embeddingDimension, batch: 1) / Double(features.count)
        let terms: [(weight: Double, values: [Double])] = [
            (lookup, features.map { $0.lookupBytesPerSample(storage: training.precisions.embedding) }),
            (module, features.map { _ in moduleShare }),
            (memory, features.map { Self.memoryBytes($0, training: training) }),
        ]
        let used = terms.compactMap { term -> (weight: Double, values: [Double], total: Double)? in
            let total = term.values.reduce(0, +)
            return total > 0 && term.weight > 0 ? (term.weight, term.values, total) : nil
        }
        let weightSum = used.reduce(0) { $0 + $1.weight }
        guard weightSum > 0 else { return features.map { _ in 1 / Double(features.count) } }
        return features.indices.map { index in
            used.reduce(0) { $0 + $1.weight * $1.values[index] / $1.total } / weightSum
        }
    }
}
