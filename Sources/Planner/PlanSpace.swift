import Partitioning
import Simulation
import Topology
import Workload

/// One DMT configuration the planner can try: where the towers go, how many, how much each tower
/// module compresses, how tables are split inside a tower domain, and which strategy groups the
/// features (DESIGN §1.2).
public struct TowerConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// Level whose domains hold the towers (host, rack, …).
    public var level: String
    /// T: towers, one per domain, on the first T domains' worth of placement.
    public var towers: Int
    /// Compression ratio c of every tower module (d_t = ⌈F_t·D / c⌉); nil keeps the workload's own
    /// output width (the only choice when its module is the identity).
    public var compression: Double?
    public var intraDomain: SPTTLayout.IntraDomainSharding
    public var strategy: PartitionStrategy

    public init(
        level: String, towers: Int, compression: Double? = nil, intraDomain: SPTTLayout.IntraDomainSharding = .rowWise,
        strategy: PartitionStrategy = .tp
    ) {
        self.level = level
        self.towers = towers
        self.compression = compression
        self.intraDomain = intraDomain
        self.strategy = strategy
    }

    /// "64 towers on host, c = 4, rw, tp".
    public var description: String {
        "\(towers) towers on \(level), " + (compression.map { "c = \(PlanText.ratio($0)), " } ?? "") + "\(intraDomain.rawValue), \(strategy.rawValue)"
    }
}

/// A candidate layout: the flat TorchRec baseline with one sharding type, or DMT towers.
public enum PlanLayout: Sendable, Hashable, CustomStringConvertible {
    case flat(ShardingType)
    case towers(TowerConfiguration)

    public var description: String {
        switch self {
        case .flat(let sharding): "flat, \(sharding.rawValue)"
        case .towers(let configuration): configuration.description
        }
    }

    /// The tower configuration, nil for flat.
    public var towers: TowerConfiguration? {
        if case .towers(let configuration) = self { return configuration }
        return nil
    }
}

/// What the planner plans for: a cluster, a workload, what is known about how its features
/// interact, and the balance constraint every tower partition must meet.
public struct PlanningProblem: Sendable {
    public var cluster: Cluster
    public var workload: Workload
    /// Learned affinity and representations (`tp`, `kmeans`); nil restricts the search to the
    /// cost-only strategies.
    public var affinity: FeatureAffinity?
    /// Balance bound: every tower's cost ≤ (1 + ε) × the mean.
    public var epsilon: Double
    /// What a feature costs its tower. The planner's default weighs lookup bytes and tower-module
    /// FLOPs only (1, 1, 0): table memory costs no time per step and is checked on its own when
    /// towers are placed, so balancing it would trade step time for nothing the search ranks.
    public var costModel: FeatureCostModel
    public var seed: UInt64

    public init(
        cluster: Cluster, workload: Workload, affinity: FeatureAffinity? = nil, epsilon: Double = 0.05,
        costModel: FeatureCostModel = FeatureCostModel(lookup: 1, module: 1, memory: 0), seed: UInt64 = 1
    ) {
        self.cluster = cluster
        self.workload = workload
        self.affinity = affinity
        self.epsilon = epsilon
        self.costModel = costModel
        self.seed = seed
    }
}

/// Number formatting shared by descriptions and reasons.
enum PlanText {
    /// 4 → "4", 2.5 → "2.5".
    static func ratio(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.3g", value)
    }

    /// 0.1234 → "12.3%".
    static func percent(_ fraction: Double) -> String {
        String(format: "%.1f%%", fraction * 100)
    }
}
