import Foundation
import Partitioning
import Topology
import Workload

@testable import Planner

/// Shared inputs: shipped files by path, a small 64-GPU Grand Teton (4 racks of 2 hosts, cut from
/// the shipped file by `ClusterScaling`), and a planted affinity for the default workload.
enum PlannerFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static let grandTetonPath = path("topologies/grand-teton-h100-512.xml")
    static let workloadPath = path("workloads/prod-128.xml")

    static func grandTeton(gpus: Int = 64) throws -> Cluster {
        try ClusterScaling.scaled(ClusterLoader.loadSpec(path: grandTetonPath), gpus: gpus)
    }

    static func workload() throws -> Workload { try WorkloadLoader.load(path: workloadPath) }

    /// An affinity with 8 planted groups over the workload's features (what training would learn
    /// on its synthetic data), as the embeddings file would give it.
    static func affinity(for workload: Workload, groups: Int = 8) -> FeatureAffinity {
        let count = workload.features.count
        let planted = PlantedAffinity(features: count, groups: groups, partners: 12, noise: 0.1, seed: 7)
        var matrix = [Double](repeating: 0, count: count * count)
        let graph = planted.graph
        for vertex in 0..<count {
            for slot in graph.offsets[vertex]..<graph.offsets[vertex + 1] { matrix[vertex * count + Int(graph.targets[slot])] = graph.weights[slot] }
        }
        return FeatureAffinity(
            matrix: matrix, representations: planted.groupOfFeature.map { [Double($0)] }, plantedGroups: planted.groupOfFeature, madeFor: workload.name)
    }

    /// A problem on the 64-GPU cluster with the planted affinity.
    static func problem() throws -> PlanningProblem {
        let workload = try workload()
        return PlanningProblem(cluster: try grandTeton(), workload: workload, affinity: affinity(for: workload))
    }

    /// A small search: host and rack, two tower counts, ratios up to the workload's 4, rw and cw,
    /// tp and greedy.
    static let search = GridEnumerator(flatShardings: [.tableWise, .tableRowWise], maximumTowerCounts: 2, strategies: [.tp, .greedy])
}
