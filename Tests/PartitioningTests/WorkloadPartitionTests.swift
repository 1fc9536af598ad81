import Foundation
import Partitioning
import Testing
import Workload

/// `towerplan partition` end to end through the library function it wraps: the DLRM Criteo
/// Kaggle workload's 26 features, an embeddings file written to a temporary folder, every
/// strategy, a partition file written and read back.
@Suite struct WorkloadPartitionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func kaggle() throws -> Workload {
        try WorkloadLoader.load(path: root.appendingPathComponent("workloads/dlrm-criteo-kaggle.xml").path)
    }

    /// An embeddings file for `workload`: features in reverse order, 4 planted groups (feature i
    /// in group i mod 4), affinity 1 inside a group and 0.1 · noise across, representations near
    /// one axis per group.
    static func embeddings(for workload: Workload, madeFor name: String? = nil) -> FeatureAffinityFile {
        var random = SeededGenerator(seed: 9)
        let count = workload.features.count
        let group = (0..<count).map { $0 % 4 }
        var affinity = [[Double]](repeating: [Double](repeating: 0, count: count), count: count)
        for f in 0..<count {
            for g in (f + 1)..<count {
                let value = (group[f] == group[g] ? 1 : 0) + 0.1 * random.nextUnitDouble()
                affinity[f][g] = value
                affinity[g][f] = value
            }
        }
        let order = Array((0..<count).reversed())
        return FeatureAffinityFile(
            workload: name ?? workload.name, trained: .init(layout: "flat", data: "synthetic", seed: 1),
            representationMethod: "test vectors", affinityMethod: "planted blocks with noise",
            features: order.map { f in
                .init(
                    name: workload.features[f].name, representation: (0..<4).map { ($0 == group[f] ? 1 : 0) + 0.1 * random.nextUnitDouble() },
                    plantedGroup: group[f])
            },
            affinity: order.map { f in order.map { affinity[f][$0] } })
    }

    @Test func partitionWritesAFileThatReadsBackTheSame() throws {
        let workload = try Self.kaggle()
        let folder = try PartitionFileTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let embeddingsPath = folder.appendingPathComponent("embeddings.json").path
        try Self.embeddings(for: workload).write(to: embeddingsPath)
        let affinity = try FeatureAffinityFile.read(path: embeddingsPath).resolve(against: workload)
        #expect(affinity.plantedGroups == (0..<26).map { $0 % 4 })

        for strategy in PartitionStrategy.allCases where strategy != .manual {
            let result = try WorkloadPartition(
                workload: workload, affinity: affinity, partitioner: strategy.partitioner(), towers: 4, epsilon: 0.05, seed: 1, domains: nil)
            #expect(result.metrics.imbalance <= 1.05 + 1e-9, "\(strategy)")
            #expect(result.metrics.capturedAffinity != nil && result.metrics.adjustedRandIndex != nil)
            #expect(result.file.strategy == strategy.rawValue && result.file.workload == "dlrm-criteo-kaggle")
            #expect(result.notes.contains { $0.hasPrefix("domains: no cluster given") })
            let path = folder.appendingPathComponent("\(strategy.rawValue).json").path
            try result.file.write(to: path)
            let read = try PartitionFile.read(path: path)
            #expect(read == result.file)
            #expect(try read.resolve(against: workload) == result.resolved)

            // The written file, scored as a manual partition, gives the same metrics.
            let manual = ManualPartitioner(partition: try read.resolve(against: workload), file: path)
            let rescored = try WorkloadPartition(
                workload: workload, affinity: affinity, partitioner: manual, towers: 4, epsilon: 0.05, seed: 1, domains: nil)
            #expect(rescored.metrics == result.metrics && rescored.resolved == result.resolved)
        }
    }

    @Test func tpKeepsMoreAffinityThanTheCostOnlyStrategies() throws {
        let workload = try Self.kaggle()
        let affinity = try Self.embeddings(for: workload).resolve(against: workload)
        let captured = try [PartitionStrategy.tp, .random, .greedy, .roundRobin].map { strategy in
            try WorkloadPartition(
                workload: workload, affinity: affinity, partitioner: strategy.partitioner(), towers: 4, epsilon: 0.05, seed: 1, domains: nil
            ).metrics.capturedAffinity ?? 0
        }
        #expect(captured[0] > captured[1...].max() ?? 1)
    }

    @Test func towersArePlacedUnderDomainMemory() throws {
        let workload = try Self.kaggle()
        // Kaggle's tables with SGD: 16 fp32 values a row; C3 alone has 10,131,227 rows (648 MB).
        let roomy = TowerDomains(memoryBytes: [Double](repeating: 1e12, count: 6))
        let result = try WorkloadPartition(
            workload: workload, affinity: nil, partitioner: GreedyPartitioner(), towers: 4, epsilon: 0.05, seed: 1, domains: roomy)
        #expect(Set(result.resolved.domainOfTower).count == 4 && result.resolved.domainOfTower.allSatisfy { (0..<6).contains($0) })
        #expect(result.notes.isEmpty)
        #expect(result.metrics.crossDomainBytesPerGPU == CrossDomainTraffic.sptt(
            workload: workload, towerOfFeature: result.resolved.towerOfFeature, towerCount: 4, domains: 6, batch: 128))
        let tight = TowerDomains(memoryBytes: [Double](repeating: 0.5e9, count: 4))
        #expect {
            try WorkloadPartition(workload: workload, affinity: nil, partitioner: GreedyPartitioner(), towers: 4, epsilon: 0.05, seed: 1, domains: tight)
        } throws: { error in
            guard case .doesNotFit(_, let bytes, let roomiest, _) = error as? TowerPartitionError else { return false }
            return bytes > 0.5e9 && roomiest == 0.5e9
        }
    }

    @Test func embeddingsMadeForAnotherWorkloadAreNoted() throws {
        let workload = try Self.kaggle()
        let affinity = try Self.embeddings(for: workload, madeFor: "kaggle-v0").resolve(against: workload)
        let result = try WorkloadPartition(
            workload: workload, affinity: affinity, partitioner: MultilevelPartitioner(), towers: 4, epsilon: 0.05, seed: 1, domains: nil)
        #expect(result.notes.contains("embeddings: made for workload 'kaggle-v0', not 'dlrm-criteo-kaggle'; features were matched by name"))
    }

    @Test func tooManyTowersForKaggleSaysWhatWouldDo() throws {
        // C3 has 30 % of the rows: with 16 towers it alone is 2.71× the mean tower.
        #expect {
            try WorkloadPartition(workload: Self.kaggle(), affinity: nil, partitioner: GreedyPartitioner(), towers: 16, epsilon: 0.05, seed: 1, domains: nil)
        } throws: { error in
            "\(error)" == "feature C3 alone costs 2.71× the mean tower; the bound 1.05× cannot hold with 16 towers; try ε ≥ 1.71 or at most 6 towers"
        }
    }
}
