import Partitioning
import Simulation
import Topology
import Workload

/// The first stage: the layouts worth costing (TorchRec's `Enumerator`).
public protocol PlanEnumerator: Sendable {
    /// Every candidate, flat baselines first, in a fixed order (ties in later stages keep it).
    func enumerate(_ problem: PlanningProblem) throws(PlannerError) -> [PlanLayout]
}

/// The product of a few small choices per axis (DESIGN §1.2), each defaulting to what matters on
/// the cluster and workload at hand:
///
/// - **flat baselines**: TorchRec's sharding types that need no replication (tw, rw, cw, twrw);
///   the fastest that fits is what DMT is measured against;
/// - **tower level**: every level strictly between the root and the accelerators whose domains hold
///   equal shares of the GPUs and number at least two (Grand Teton: host, rack; Llama 3: host,
///   rack, pod);
/// - **tower count**: H (one tower per domain) and halvings H/2, H/4 down to 2, at most
///   `maximumTowerCounts` of them and never more than the features. Fewer towers than domains
///   leave domains idle for the sparse part, which the simulation prices;
/// - **compression**: for a compressing tower module, ratios up to the workload's own (its
///   author's quality budget); higher ratios only when `allowHigherCompression` is set (the AUC
///   guard then checks what they cost). Identity modules have nothing to choose;
/// - **intra-domain sharding**: rw and cw;
/// - **strategy**: the partition strategies asked for; `tp` and `kmeans` only with an affinity.
///
/// Cost: O(levels · counts · ratios · 2 · strategies) candidates, all cheap to list.
public struct GridEnumerator: PlanEnumerator {
    public var flatShardings: [ShardingType]
    /// Levels to try; nil for every eligible level.
    public var levels: [String]?
    /// Tower counts to try on every level (those above a level's domain count are dropped); nil for H and its halvings.
    public var towerCounts: [Int]?
    public var maximumTowerCounts: Int
    /// Ratios to try; nil for `defaultCompressions` filtered as above.
    public var compressions: [Double]?
    public var allowHigherCompression: Bool
    public var intraDomain: [SPTTLayout.IntraDomainSharding]
    public var strategies: [PartitionStrategy]

    /// Powers of two up to 16: DMT's reported tower modules compress by 2–8 (Luo et al. 2024).
    public static let defaultCompressions: [Double] = [1, 2, 4, 8, 16]

    public init(
        flatShardings: [ShardingType] = [.tableWise, .rowWise, .columnWise, .tableRowWise], levels: [String]? = nil,
        towerCounts: [Int]? = nil, maximumTowerCounts: Int = 4, compressions: [Double]? = nil, allowHigherCompression: Bool = false,
        intraDomain: [SPTTLayout.IntraDomainSharding] = [.rowWise, .columnWise], strategies: [PartitionStrategy] = [.tp]
    ) {
        self.flatShardings = flatShardings
        self.levels = levels
        self.towerCounts = towerCounts
        self.maximumTowerCounts = maximumTowerCounts
        self.compressions = compressions
        self.allowHigherCompression = allowHigherCompression
        self.intraDomain = intraDomain
        self.strategies = strategies
    }

    public func enumerate(_ problem: PlanningProblem) throws(PlannerError) -> [PlanLayout] {
        let cluster = problem.cluster
        guard let model = problem.workload.recommendation, !model.features.isEmpty else {
            throw .invalid("workload '\(problem.workload.name)' has no sparse features; the planner needs a recommendation model")
        }
        if problem.affinity == nil, let needing = strategies.first(where: \.needsEmbeddings) {
            throw .invalid("strategy \(needing.rawValue) learns from embeddings; give an embeddings file or learn them, or use random, greedy, round-robin")
        }
        if strategies.contains(.manual) {
            throw .invalid("the planner searches partitions; to score a partition file of your own use `towerplan simulate --partition` or `towerplan compare`")
        }
        let eligible = Self.towerLevels(of: cluster)
        let chosenLevels: [Level]
        if let levels {
            chosenLevels = try levels.map { name throws(PlannerError) in
                guard let level = eligible.first(where: { $0.level.name == name })?.level else {
                    throw .invalid(
                        "level '\(name)' cannot hold towers on \(cluster.name); eligible levels: \(eligible.map(\.level.name).joined(separator: ", "))")
                }
                return level
            }
        } else {
            chosenLevels = eligible.map(\.level)
        }
        let featureCount = model.features.count
        var layouts = flatShardings.map(PlanLayout.flat)
        for level in chosenLevels {
            let domains = eligible.first { $0.level == level }?.domains ?? 0
            for towers in counts(domains: domains, features: featureCount) {
                for compression in ratios(model.towerModule) {
                    for sharding in intraDomain {
                        for strategy in strategies {
                            layouts.append(.towers(TowerConfiguration(
                                level: level.name, towers: towers, compression: compression, intraDomain: sharding, strategy: strategy)))
                        }
                    }
                }
            }
        }
        return layouts
    }

    /// Levels that can hold towers: below the root, at least two domains, equal GPUs in each (the
    /// peer groups of SPTT pair local ranks). O(levels · domains).
    public static func towerLevels(of cluster: Cluster) -> [(level: Level, domains: Int)] {
        cluster.levels.dropFirst().compactMap { level in
            guard let grid = try? DomainGrid(cluster: cluster, level: level), grid.count >= 2 else { return nil }
            return (level, grid.count)
        }
    }

    private func counts(domains: Int, features: Int) -> [Int] {
        if let towerCounts { return towerCounts.filter { $0 >= 1 && $0 <= domains && $0 <= features } }
        var result: [Int] = []
        var count = min(domains, features)
        while count >= 2 && result.count < maximumTowerCounts {
            result.append(count)
            count /= 2
        }
        return result.isEmpty ? [1] : result
    }

    private func ratios(_ module: TowerModule) -> [Double?] {
        if case .identity = module.kind { return [nil] }
        let own: Double? = if case .compression(let ratio) = module.output { ratio } else { nil }
        let chosen = compressions ?? Self.defaultCompressions.filter { ratio in allowHigherCompression || own.map { ratio <= $0 } ?? true }
        return chosen.isEmpty ? [nil] : chosen.map(Optional.some)
    }
}
