import Foundation
import Partitioning
import Testing
import Topology
import Workload

@testable import Planner

/// Cluster scaling, workload variants, and the parallel sweep.
@Suite struct PlannerFilesTests {
    @Test func scalesTheOutermostRepeatedLevel() throws {
        let spec = try ClusterLoader.loadSpec(path: PlannerFixtures.grandTetonPath)
        #expect(try ClusterScaling.unit(of: spec) == ClusterScaling.Unit(level: "rack", count: 32, gpusPerInstance: 16))
        let small = try ClusterScaling.scaled(spec, gpus: 64)
        #expect(small.accelerators.count == 64)
        #expect(small.name == "grand-teton-h100-512@64")
        #expect(small.level(named: "host").map { small.domains(at: $0).count } == 8)
        let same = try ClusterScaling.scaled(spec, gpus: 512)
        #expect(same.name == spec.name)
        #expect(same.links.count == (try Cluster(spec: spec)).links.count)
        #expect(throws: PlannerError.self) { try ClusterScaling.scaled(spec, gpus: 100) }
        #expect(throws: PlannerError.self) { try ClusterScaling.scaled(spec, gpus: 8) }
    }

    @Test func workloadVariantReadsBackWithTheNewRatio() throws {
        let original = try PlannerFixtures.workload()
        let text = try WorkloadVariantFile.text(of: original, path: PlannerFixtures.workloadPath, compression: 8)
        #expect(text.contains(#"<tower-module kind="linear" compression="8"/>"#))
        #expect(text.contains(#"name="prod-128-c8""#))
        let loaded = try WorkloadLoader.load(data: Data(text.utf8), name: PlannerFixtures.workloadPath)
        #expect(loaded.recommendation?.towerModule.output == .compression(8))
        #expect(loaded.features.map(\.name) == original.features.map(\.name))
        // Unchanged ratio: the workload itself.
        #expect(LayoutPlans.workload(original, compression: 4).name == original.name)
    }

    @Test func workloadVariantRefusesAFileWithoutATowerModule() throws {
        let path = PlannerFixtures.path("workloads/dlrm-criteo-kaggle.xml")
        let workload = try WorkloadLoader.load(path: path)
        #expect(throws: PlannerError.self) { try WorkloadVariantFile.text(of: workload, path: path, compression: 2) }
    }

    @Test func sweepPlansEveryPointInOrder() throws {
        let workloadPath = PlannerFixtures.workloadPath
        let spec = try ClusterLoader.loadSpec(path: PlannerFixtures.grandTetonPath)
        let points = Sweep.points(topologies: [PlannerFixtures.grandTetonPath], workloads: [workloadPath], gpus: [32, 64, 50])
        #expect(points.map(\.gpus) == [32, 64, 50])
        let search = GridEnumerator(flatShardings: [.tableWise], levels: ["host"], maximumTowerCounts: 1, compressions: [4], intraDomain: [.columnWise], strategies: [.greedy])
        let rows = Sweep.run(
            points, specs: [PlannerFixtures.grandTetonPath: spec], workloads: [workloadPath: try PlannerFixtures.workload()], enumerator: search, epsilon: 0.1,
            seed: 1, threads: 2)
        #expect(rows.map(\.gpus) == [32, 64, 50])
        #expect(rows[0].speedup != nil && rows[1].speedup != nil)
        #expect(rows[2].error?.contains("multiple") == true)
        // The same point planned alone gives the same row.
        let alone = Sweep.run(
            [points[1]], specs: [PlannerFixtures.grandTetonPath: spec], workloads: [workloadPath: try PlannerFixtures.workload()], enumerator: search,
            epsilon: 0.1, seed: 1, threads: 1)
        #expect(alone[0].bestSeconds == rows[1].bestSeconds)
    }
}
