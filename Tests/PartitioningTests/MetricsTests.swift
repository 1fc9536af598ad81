import Foundation
import Partitioning
import Testing
import Workload

/// Metrics, costs and placement against hand-computed values.
@Suite struct MetricsTests {
    /// Two features, D = 4, 8-byte ids, fp32: a (100 rows, 1 id per sample), b (700 rows, 3 ids).
    static func pair(module: String = "", optimizer: String = "sgd") throws -> Workload {
        let text = """
            <workload name="pair">
              <recommendation>
                <sparse dimension="4" id-bytes="8"><feature name="a" rows="100"/><feature name="b" rows="700" pooling="3"/></sparse>
                <interaction kind="dot"/>
                <top-mlp widths="1"/>
                \(module)
              </recommendation>
              <training batch-per-gpu="10">
                <sparse-optimizer kind="\(optimizer)" learning-rate="0.1"/>
                <dense-optimizer kind="sgd" learning-rate="0.1"/>
              </training>
            </workload>
            """
        return try WorkloadLoader.load(data: Data(text.utf8), name: "pair.xml")
    }

    @Test func adjustedRandIndexOfKnownExamples() {
        #expect(abs(PartitionMetrics.adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]) - 4.0 / 7) < 1e-12)
        #expect(abs(PartitionMetrics.adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]) + 0.5) < 1e-12)
        // Σ C(n_ij, 2) = 2, row pairs 6, column pairs 3, C(6, 2) = 15: (2 − 1.2) / (4.5 − 1.2).
        #expect(abs(PartitionMetrics.adjustedRandIndex([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) - 0.8 / 3.3) < 1e-12)
        #expect(PartitionMetrics.adjustedRandIndex([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 9, 9]) == 1)
        #expect(PartitionMetrics.adjustedRandIndex([0, 0, 0], [1, 1, 1]) == 1)
    }

    @Test func capturedAffinityIsTheShareInsideTowers() {
        let graph = AffinityGraph(vertexCount: 4, edges: [(0, 1, 3), (1, 2, 1), (2, 3, 2), (0, 3, 4), (3, 0, 0), (2, 2, 7)])
        #expect(graph.edgeCount == 4 && graph.totalWeight == 10)
        #expect(PartitionMetrics.capturedAffinity([0, 0, 0, 1], graph: graph) == 0.4)
        #expect(PartitionMetrics.capturedAffinity([0, 0, 1, 1], graph: graph) == 0.5)
        #expect(graph.cutWeight([0, 1, 2, 3]) == 10)
        #expect(PartitionMetrics.capturedAffinity([0, 1], graph: AffinityGraph(vertexCount: 2, edges: [])) == 1)
    }

    @Test func costsAreWeightedSharesOfLookupModuleAndMemory() throws {
        // Lookup bytes 16 and 48 (shares 1/4, 3/4); memory 1,600 and 11,200 (1/8, 7/8); identity: no module term.
        let identity = FeatureCostModel().costs(of: try Self.pair())
        #expect(zip(identity, [0.1875, 0.8125]).allSatisfy { abs($0 - $1) < 1e-12 })
        // A linear module adds an equal share (1/2, 1/2) per feature.
        let linear = FeatureCostModel().costs(of: try Self.pair(module: #"<tower-module kind="linear" compression="2"/>"#))
        #expect(zip(linear, [0.875 / 3, 2.125 / 3]).allSatisfy { abs($0 - $1) < 1e-12 })
        // Memory only: row-wise Adagrad adds 4 bytes a row to 16: 2,000 and 14,000.
        let memory = FeatureCostModel(lookup: 0, module: 0, memory: 1).costs(of: try Self.pair(optimizer: "rowwise-adagrad"))
        #expect(zip(memory, [0.125, 0.875]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(FeatureCostModel.memoryBytes(try Self.pair(optimizer: "rowwise-adagrad").features[1], training: try Self.pair(optimizer: "rowwise-adagrad").training) == 14_000)
    }

    @Test func crossDomainBytesFollowTheDesignTable() throws {
        // B = 10, H = 4, towers {a}, {b}. Ids 8 + 24 = 32 bytes a sample; identity outputs 4 + 4 values of 4 bytes,
        // forward and backward: 64. 10 · 96 · 3/4 = 720 — the table's B·F·(p·s + D·b)·(H−1)/H.
        let identity = try Self.pair()
        #expect(CrossDomainTraffic.sptt(workload: identity, towerOfFeature: [0, 1], towerCount: 2, domains: 4, batch: 10) == 720)
        // Compressing 2×: d_t = 2 each, outputs 2 · 2 · 8 = 32: 10 · 64 · 3/4.
        let linear = try Self.pair(module: #"<tower-module kind="linear" compression="2"/>"#)
        #expect(CrossDomainTraffic.sptt(workload: linear, towerOfFeature: [0, 1], towerCount: 2, domains: 4, batch: 10) == 480)
        // One tower of both: d_t = ⌈8 / 2⌉ = 4.
        #expect(CrossDomainTraffic.sptt(workload: linear, towerOfFeature: [0, 0], towerCount: 1, domains: 4, batch: 10) == 480)
        #expect(CrossDomainTraffic.sptt(workload: linear, towerOfFeature: [0, 1], towerCount: 2, domains: 1, batch: 10) == 0)
        // Flat on 16 GPUs in domains of 4: 10 · (40 + 56) · 12/16.
        #expect(CrossDomainTraffic.flat(workload: identity, gpus: 16, gpusPerDomain: 4, batch: 10) == 720)
    }

    @Test func metricsOfAPartitionTogether() throws {
        let workload = try Self.pair()
        let graph = AffinityGraph(vertexCount: 2, edges: [(0, 1, 2)])
        let metrics = PartitionMetrics(
            towerOfFeature: [0, 1], towerCount: 2, costs: [0.25, 0.75], affinity: graph, plantedGroups: [0, 0], workload: workload, domains: 4)
        #expect(metrics.imbalance == 1.5)
        #expect(metrics.capturedAffinity == 0)
        #expect(metrics.crossDomainBytesPerGPU == 720)
        #expect(metrics.adjustedRandIndex == 0)
    }

    @Test func placementPutsTheHeaviestTowerOnTheRoomiestDomain() throws {
        #expect(try TowerPlacement.place(towerBytes: [5, 9, 2], domainBytes: [10, 6, 9, 3]) == [2, 0, 1])
        #expect(try TowerPlacement.place(towerBytes: [1, 1], domainBytes: [4, 4, 4]) == [0, 1])
    }

    @Test func placementSaysWhichTowerDoesNotFitAndByHowMuch() {
        #expect(throws: TowerPartitionError.doesNotFit(tower: 2, bytes: 8e9, roomiest: 7e9, freeDomains: 2)) {
            try TowerPlacement.place(towerBytes: [5e9, 9e9, 8e9], domainBytes: [10e9, 6e9, 7e9])
        }
        #expect(
            TowerPartitionError.doesNotFit(tower: 2, bytes: 8e9, roomiest: 7e9, freeDomains: 2).description.hasPrefix(
                "tower 2 needs 8 GB for its tables and optimizer state, but the roomiest of the 2 free domains has 7 GB: short by 1 GB"))
        #expect(throws: TowerPartitionError.moreTowersThanDomains(towers: 3, domains: 2)) {
            try TowerPlacement.place(towerBytes: [1, 1, 1], domainBytes: [4, 4])
        }
    }

    @Test func towerBytesAddTablesAndOptimizerState() throws {
        let workload = try Self.pair(optimizer: "adagrad")
        // Adagrad keeps D = 4 fp32 values a row: 32 bytes a row, 100 and 700 rows.
        #expect(TowerPlacement.towerBytes([1, 1], towerCount: 2, workload: workload) == [0, 25_600])
    }
}
