import Workload

/// Which tower each sparse feature belongs to under DMT: the tower partitioner's output, and the
/// input the SPTT layout places.
public struct TowerAssignment: Sendable, Hashable {
    /// Tower of each feature, indexed like the workload's features.
    public let towerOfFeature: [Int]
    public let towerCount: Int

    /// Checks that every feature names a tower in 0..<towerCount. Towers may be empty (a tower
    /// domain with no tables still hosts data-parallel work).
    public init(towerOfFeature: [Int], towerCount: Int) throws(SimulationError) {
        guard towerCount >= 1 else { throw SimulationError("a tower assignment needs at least one tower, got \(towerCount)") }
        if let bad = towerOfFeature.firstIndex(where: { !(0..<towerCount).contains($0) }) {
            throw SimulationError("feature \(bad) is assigned to tower \(towerOfFeature[bad]), but there are towers 0 to \(towerCount - 1)")
        }
        self.towerOfFeature = towerOfFeature
        self.towerCount = towerCount
    }

    /// Feature indices of each tower, in feature order.
    public var featuresByTower: [[Int]] {
        var result = [[Int]](repeating: [], count: towerCount)
        for (feature, tower) in towerOfFeature.enumerated() { result[tower].append(feature) }
        return result
    }

    /// A load-balanced split without regard to which features interact: features by decreasing
    /// placement cost (`ShardingPlan.placementCost`), each onto the tower with the least cost so far.
    /// It is the stand-in used when no partition is given; the tower partitioner replaces it with
    /// one that also keeps strongly interacting features together.
    public static func balanced(features: [SparseFeature], training: TrainingSetup, globalBatch: Int, towerCount: Int) throws(SimulationError) -> TowerAssignment {
        let items = features.enumerated().map { index, feature in
            GreedyPlacement.Item(
                cost: ShardingPlan.placementCost(
                    of: TableShard(feature: index, columns: feature.dimension, ranks: 0..<1), feature: feature, training: training,
                    globalBatch: globalBatch),
                bytes: 0, name: feature.name)
        }
        let towers = try GreedyPlacement.place(items, capacities: [Double](repeating: 0, count: towerCount)) { "tower \($0)" }
        return try TowerAssignment(towerOfFeature: towers, towerCount: towerCount)
    }
}
