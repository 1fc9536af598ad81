import Workload

/// The tower domains a partition is placed on, as plain numbers: the CLI reads them off a
/// cluster (this module knows no clusters, DESIGN §2).
public struct TowerDomains: Sendable, Hashable {
    /// Memory each domain has for tables and optimizer state, bytes; one entry per domain (H).
    public var memoryBytes: [Double]

    public init(memoryBytes: [Double]) {
        self.memoryBytes = memoryBytes
    }

    /// H.
    public var count: Int { memoryBytes.count }
}

/// A workload partitioned end to end — costs, strategy, placement, metrics — as
/// `towerplan partition` and `towerplan compare` do it.
public struct WorkloadPartition: Sendable {
    /// The partition as a file (feature names per tower, each tower's domain).
    public let file: PartitionFile
    /// The same, as indices.
    public let resolved: ResolvedPartition
    public let metrics: PartitionMetrics
    /// What the reader should know: the embeddings were made for another workload, a manual
    /// partition misses the bound, the domain count was assumed.
    public let notes: [String]

    /// Partitions `workload`'s features into `towers` towers with `partitioner`.
    ///
    /// - `affinity`: the resolved embeddings file, or nil (only cost-only strategies then run).
    /// - `domains`: where towers go; each tower is placed by `TowerPlacement` under the domains'
    ///   memory. Without it, towers keep a manual file's domains or sit on domains 0 … T−1, and the
    ///   cross-domain traffic assumes T domains.
    ///
    /// Cost: that of the strategy, plus O(F + E) for the metrics.
    public init(
        workload: Workload, affinity: FeatureAffinity?, partitioner: any TowerPartitioner, towers: Int, epsilon: Double, seed: UInt64,
        domains: TowerDomains?, costModel: FeatureCostModel = FeatureCostModel()
    ) throws(TowerPartitionError) {
        let features = workload.features
        guard !features.isEmpty else {
            throw .invalidProblem("workload '\(workload.name)' has no sparse features to partition; use a recommendation workload")
        }
        let costs = costModel.costs(of: workload)
        let graph = affinity?.graph
        let problem = PartitionProblem(
            names: features.map(\.name), costs: costs, affinity: graph, representations: affinity?.representations, towerCount: towers,
            epsilon: epsilon, seed: seed)
        let part = try partitioner.partition(problem)
        var notes: [String] = []
        let domainOfTower: [Int]
        if let domains {
            domainOfTower = try TowerPlacement.place(
                towerBytes: TowerPlacement.towerBytes(part, towerCount: towers, workload: workload), domainBytes: domains.memoryBytes)
        } else if let manual = partitioner as? ManualPartitioner {
            domainOfTower = manual.partition.domainOfTower
        } else {
            domainOfTower = Array(0..<towers)
            notes.append("domains: no cluster given, so tower t sits on domain t and traffic assumes \(towers) domains")
        }
        if let affinity, affinity.madeFor != workload.name {
            notes.append("embeddings: made for workload '\(affinity.madeFor)', not '\(workload.name)'; features were matched by name")
        }
        metrics = PartitionMetrics(
            towerOfFeature: part, towerCount: towers, costs: costs, affinity: graph, plantedGroups: affinity?.plantedGroups,
            workload: workload, domains: domains?.count ?? towers)
        if metrics.imbalance > 1 + epsilon + 1e-9 {
            notes.append(
                "balance: the heaviest tower costs \(String(format: "%.3f", metrics.imbalance))× the mean, over the bound \(String(format: "%.3f", 1 + epsilon))×")
        }
        var names = [[String]](repeating: [], count: towers)
        for (feature, tower) in part.enumerated() { names[tower].append(features[feature].name) }
        file = PartitionFile(
            workload: workload.name, strategy: partitioner.name,
            towers: (0..<towers).map { PartitionFile.Tower(tower: $0, domain: domainOfTower[$0], features: names[$0]) })
        resolved = ResolvedPartition(towerOfFeature: part, domainOfTower: domainOfTower)
        self.notes = notes
    }
}
