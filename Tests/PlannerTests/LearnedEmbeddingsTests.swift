import Foundation
import Partitioning
import Testing
import Training
import Workload

@testable import Planner

/// The CPU proxy a production workload's affinity is learned on.
@Suite struct LearnedEmbeddingsTests {
    static func shipped(_ name: String) throws -> Workload {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("workloads/\(name).xml").path
        return try WorkloadLoader.load(path: path)
    }

    @Test func proxyKeepsFeaturesAndShrinksTablesPoolingAndWidth() throws {
        let workload = try Self.shipped("prod-512")
        var shape = LearnedEmbeddings.ProxyShape()
        shape.maximumRows = 1_000
        shape.dimension = 8
        let proxy = try LearnedEmbeddings.proxy(of: workload, shape: shape)
        let model = try #require(proxy.recommendation)
        #expect(model.features.map(\.name) == workload.features.map(\.name))
        #expect(model.features.allSatisfy { $0.pooling == 1 })
        // 1,000 rows plus the cost stratum: 512 features in 4 planted groups make 128 strata.
        #expect(model.features.allSatisfy { $0.tableRows >= 1_000 && $0.tableRows <= 1_127 && $0.dimension == 8 })
        #expect(model.denseFeatures == 0 && model.bottomMLP == nil)
        #expect(model.interaction == .dot && model.towerModule == .identity)
        #expect(model.topMLP.layerWidths == shape.topHidden + [1])
        #expect(proxy.training.batchPerGPU == shape.batch)
        guard case .synthetic = proxy.data else { Issue.record("the proxy trains on synthetic data"); return }
    }

    /// The proxy plants its groups by the real features' cost strata, so the planted partition is
    /// balanced in the real workload and a partitioner under a 5 % bound can recover it. With every
    /// capped table equal the groups were dealt at random and prod-128's cost up to 1.096× the mean.
    @Test func proxyPlantedGroupsAreBalancedUnderTheRealCosts() throws {
        let workload = try Self.shipped("prod-128")
        let planted = try SyntheticDataset(workload: LearnedEmbeddings.proxy(of: workload)).plantedGroups
        let costs = FeatureCostModel(lookup: 1, module: 1, memory: 0).costs(of: workload)
        var loads = [Double](repeating: 0, count: 8)
        for (feature, group) in planted.enumerated() { loads[group] += costs[feature] }
        let imbalance = loads.max()! / (loads.reduce(0, +) / 8)
        #expect(Set(planted).count == 8)
        #expect(imbalance <= 1.05, "planted groups cost up to \(imbalance)× the mean")
    }

    @Test func learnWritesAnAffinityFileForEveryFeatureWithPlantedGroups() throws {
        let workload = try Self.shipped("synthetic-planted")
        var shape = LearnedEmbeddings.ProxyShape()
        shape.batch = 128
        shape.affinitySamples = 256
        shape.topHidden = [16]
        // A zero budget stops before the first step; the file is still complete and valid.
        let result = try LearnedEmbeddings.learn(workload: workload, steps: 20, budgetSeconds: 0, seed: 5, shape: shape)
        #expect(result.stoppedByBudget && result.report.steps == 0)
        #expect(result.file.features.map(\.name) == workload.features.map(\.name))
        #expect(result.file.features.allSatisfy { $0.plantedGroup != nil })
        try result.file.validate()
    }
}
