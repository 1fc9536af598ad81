import Training
import Workload

/// How a model is spread over the ranks of a distributed run.
public enum DistributedLayout: Sendable, Hashable {
    /// TorchRec's flat baseline (DESIGN §1.1): every table on one rank, balanced over all N ranks;
    /// one global all-to-all of ids and of pooled embeddings.
    case flat
    /// SPTT (DESIGN §1.2): ranks in domains of `ranksPerDomain` (L) consecutive ranks, H = N/L
    /// domains, tower t (global feature indices, in interaction order) on domain t — so there are
    /// exactly H towers. Each tower's tables are spread table-wise over its domain.
    case sptt(ranksPerDomain: Int, towers: [[Int]])
}

/// Where everything of a distributed run lives: which domain and local rank each rank has, which
/// tower each domain serves and which rank owns each table. A pure value, the same on every rank
/// (so each rank derives it alone) and computable before launch, where it rejects rank counts,
/// domain sizes and partitions that do not fit.
///
/// Inside a domain tables are placed whole (table-wise), not split by rows or columns: every
/// table starts exactly as in the single-process model (whole tables are seeded per feature), a
/// lookup is one owner's gather with no partial sums to reduce, and the intra-domain exchange is
/// the same all-to-all as the flat layout's global one. The cost is balance: a domain with fewer
/// tables than ranks leaves ranks without tables, and one huge table is not spread.
public struct DistributedPlan: Sendable, Hashable {
    public let layout: DistributedLayout
    /// N.
    public let ranks: Int
    /// L: ranks per domain (N for flat, one domain).
    public let ranksPerDomain: Int
    /// Global feature indices of the tower each domain serves, in interaction order (flat: one
    /// tower of every feature, in feature order).
    public let towerFeatures: [[Int]]
    /// World rank that owns each feature's table.
    public let ownerOfFeature: [Int]

    /// H: domains, which is also the tower count.
    public var domains: Int { ranks / ranksPerDomain }
    /// The domain of world rank `rank` (ranks are grouped consecutively).
    public func domain(ofRank rank: Int) -> Int { rank / ranksPerDomain }
    /// The rank's index inside its domain: its peers share it.
    public func localRank(ofRank rank: Int) -> Int { rank % ranksPerDomain }
    /// Features whose tables `rank` holds, in its tower's order.
    public func ownedFeatures(ofRank rank: Int) -> [Int] {
        towerFeatures[domain(ofRank: rank)].filter { ownerOfFeature[$0] == rank }
    }

    /// The layout the single-process `RecommendationNetwork` computing the same model has (and
    /// whose parameter names the distributed state uses).
    public var networkLayout: RecommendationNetwork.Layout {
        switch layout {
        case .flat: .flat
        case .sptt: .towers(towerFeatures)
        }
    }

    /// Checks that `layout` fits `ranks` ranks and the workload's features, and places the tables:
    /// inside each domain by greedy longest-processing-time over the per-table lookup cost
    /// (`lookupBytesPerSample`, the rows a sample reads — gather and update both scale with it):
    /// tables by decreasing cost, ties by feature index, each to the least-loaded rank, ties to the
    /// lowest. The most-loaded rank is within 4/3 of the optimum (Graham's bound). O(F·L).
    public init(workload: Workload, layout: DistributedLayout, ranks: Int) throws(DistributedError) {
        let features = workload.features
        guard !features.isEmpty else { throw .plan("workload \(workload.name) has no sparse features to place") }
        guard ranks >= 1 else { throw .plan("a run needs at least one rank, got \(ranks)") }
        self.layout = layout
        self.ranks = ranks
        switch layout {
        case .flat:
            ranksPerDomain = ranks
            towerFeatures = [Array(features.indices)]
        case .sptt(let perDomain, let towers):
            guard perDomain >= 1, ranks % perDomain == 0 else {
                throw .plan("\(ranks) ranks do not split into domains of \(perDomain); pick ranks per host dividing \(ranks)")
            }
            guard towers.count == ranks / perDomain else {
                throw .plan("SPTT puts one tower on each domain: \(ranks) ranks in domains of \(perDomain) need \(ranks / perDomain) towers, the partition has \(towers.count)")
            }
            try Self.checkPartition(towers, featureCount: features.count)
            ranksPerDomain = perDomain
            towerFeatures = towers
        }
        var owner = [Int](repeating: 0, count: features.count)
        let perDomain = ranksPerDomain
        for (domain, members) in towerFeatures.enumerated() {
            let bins = Self.longestProcessingTime(costs: members.map { features[$0].lookupBytesPerSample(storage: .fp32) }, bins: perDomain)
            for (feature, bin) in zip(members, bins) { owner[feature] = domain * perDomain + bin }
        }
        ownerOfFeature = owner
    }

    /// Every feature in exactly one non-empty tower.
    private static func checkPartition(_ towers: [[Int]], featureCount: Int) throws(DistributedError) {
        var tower = [Int?](repeating: nil, count: featureCount)
        for (index, members) in towers.enumerated() {
            guard !members.isEmpty else { throw .plan("tower \(index) has no features") }
            for feature in members {
                guard (0 ..< featureCount).contains(feature) else { throw .plan("tower \(index) names feature \(feature); the workload has features 0 ..< \(featureCount)") }
                if let other = tower[feature] { throw .plan("feature \(feature) is in towers \(other) and \(index)") }
                tower[feature] = index
            }
        }
        if let missing = tower.firstIndex(where: { $0 == nil }) { throw .plan("feature \(missing) is in no tower") }
    }

    /// The bin of each item under greedy LPT (see `init`).
    static func longestProcessingTime(costs: [Double], bins: Int) -> [Int] {
        var load = [Double](repeating: 0, count: bins)
        var bin = [Int](repeating: 0, count: costs.count)
        for item in costs.indices.sorted(by: { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }) {
            let lightest = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            bin[item] = lightest
            load[lightest] += costs[item]
        }
        return bin
    }
}

/// Why a distributed run could not be planned or could not go on.
public enum DistributedError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The rank count, domain size or tower partition does not fit the workload.
    case plan(String)
    /// The model cannot be built (shape, towers) or its state not restored.
    case model(RecommendationNetworkError)
    /// An MPI call failed.
    case mpi(MPIError)
    /// A rank's batch does not fit the model or the other ranks' batches.
    case batch(String)
    /// The training data could not be read.
    case data(String)

    public var description: String {
        switch self {
        case .plan(let problem): "distributed plan: \(problem)"
        case .model(let error): "\(error)"
        case .mpi(let error): "\(error)"
        case .batch(let problem): "distributed batch: \(problem)"
        case .data(let problem): "training data: \(problem)"
        }
    }
}
