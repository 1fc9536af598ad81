import Foundation
import Workload
import Partitioning

/// `towerplan-bench partition [--dump DIR]`: the `tp` partitioner on planted affinity graphs
/// (1,024 features → 64 towers, 10,000 → 512), with the cost-only baselines beside it.
///
/// Each graph has one planted group per tower, 16 edges drawn per feature (20 % to random
/// features), and feature costs uniform in [0.5, 1.5]; weights and costs are whole numbers
/// (×1000), so the graphs `--dump` writes in METIS's format are exactly the ones partitioned here.
/// `--dump DIR` also writes each graph's tp result as JSON, for `Benchmarks/metis-compare.sh`.
/// The time is the median of 3 runs of the whole strategy (sparsification included).
func partitionBenchmark(dump: String?) throws {
    let epsilon = 0.05
    print("features  towers   edges   strategy      median time    cut weight  cut share  imbalance     ARI")
    for (features, towers) in [(1024, 64), (10_000, 512)] {
        let planted = PlantedAffinity(features: features, groups: towers, partners: 16, noise: 0.2, seed: 1)
        let graph = wholeWeights(planted.graph)
        var random = SeededGenerator(seed: 2)
        let costs = (0..<features).map { _ in Double(500 + Int(random.nextUnitDouble() * 1000)) }
        let problem = PartitionProblem(
            names: (0..<features).map { "f_\($0)" }, costs: costs, affinity: graph, towerCount: towers, epsilon: epsilon, seed: 1)
        let bound = try BalanceBound(problem)
        var tpResult: (seconds: Double, cut: Double, imbalance: Double)?
        for partitioner in [MultilevelPartitioner(), GreedyPartitioner(), RandomPartitioner()] as [any TowerPartitioner] {
            var part: [Int] = []
            let times = try (0..<3).map { _ in try seconds { part = try partitioner.partition(problem) } }.sorted()
            let cut = graph.cutWeight(part)
            let imbalance = bound.imbalance(part, costs: costs)
            print(
                String(format: "%8d  %6d  %6d   ", features, towers, graph.edgeCount) + pad(partitioner.name, 12)
                    + String(format: "  %9.4f s  %12.0f  %8.1f%%  %9.4f  %6.3f", times[1], cut, 100 * cut / graph.totalWeight, imbalance,
                        PartitionMetrics.adjustedRandIndex(part, planted.groupOfFeature)))
            if partitioner is MultilevelPartitioner { tpResult = (times[1], cut, imbalance) }
        }
        if let dump, let tpResult {
            let stem = URL(fileURLWithPath: dump).appendingPathComponent("planted-\(features)-\(towers)").path
            try metisText(graph, costs: costs).write(toFile: stem + ".graph", atomically: true, encoding: .utf8)
            let summary: [String: Any] = [
                "features": features, "towers": towers, "epsilon": epsilon, "seconds": tpResult.seconds, "cut": tpResult.cut,
                "imbalance": tpResult.imbalance,
            ]
            try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]).write(to: URL(fileURLWithPath: stem + ".towerplan.json"))
        }
    }
}

/// The graph with every weight rounded to a whole number of thousandths (METIS takes integers).
private func wholeWeights(_ graph: AffinityGraph) -> AffinityGraph {
    var edges: [(Int, Int, Double)] = []
    for v in 0..<graph.vertexCount {
        for edge in graph.offsets[v]..<graph.offsets[v + 1] where Int(graph.targets[edge]) > v {
            edges.append((v, Int(graph.targets[edge]), (graph.weights[edge] * 1000).rounded()))
        }
    }
    return AffinityGraph(vertexCount: graph.vertexCount, edges: edges)
}

/// METIS graph format: "n m 011" (vertex and edge weights), then per vertex its weight and
/// (1-based neighbour, weight) pairs.
private func metisText(_ graph: AffinityGraph, costs: [Double]) -> String {
    var lines = ["\(graph.vertexCount) \(graph.edgeCount) 011"]
    for v in 0..<graph.vertexCount {
        var line = "\(Int(costs[v]))"
        for edge in graph.offsets[v]..<graph.offsets[v + 1] { line += " \(graph.targets[edge] + 1) \(Int(graph.weights[edge]))" }
        lines.append(line)
    }
    return lines.joined(separator: "\n") + "\n"
}
