import Testing
import Topology
import Workload

@testable import Simulation

/// Greedy balanced placement (TW, CW, TWRW) and the memory budget.
@Suite struct TablePlacementTests {
    /// Lookup bytes per rank of a plan.
    static func lookupBytes(_ plan: StepPlan) -> [Double] { plan.sharding.lookupWorkPerRank.map(\.gatheredBytes) }

    @Test func tableWisePlacementBalancesLikeLongestProcessingTimeFirst() throws {
        // Pooling 1…8 on tables of equal rows: costs ∝ pooling (every table is touched in full,
        // 10 rows < 64·4 ids), so LPT pairs them 8+1, 7+2, 6+3, 5+4 onto the 4 GPUs.
        let tables = (1...8).map { StepFixtures.Table(rows: 10, pooling: Double($0)) }
        let cluster = try StepFixtures.cluster(hosts: 1, gpusPerHost: 4)
        let plan = try FlatLayout(sharding: .tableWise).plan(workload: StepFixtures.workload(tables), cluster: cluster)
        let loads = Self.lookupBytes(plan)
        #expect(loads.allSatisfy { abs($0 - loads[0]) < 1e-9 * loads[0] })
        let pairs = (0..<4).map { rank in plan.sharding.shards.filter { $0.ranks.lowerBound == rank }.map(\.feature).sorted() }
        #expect(pairs == [[0, 7], [1, 6], [2, 5], [3, 4]])
    }

    @Test func greedyBalanceStaysWithinOneTableOfTheMean() throws {
        let tables = (0..<23).map { StepFixtures.Table(rows: 1000 + 37 * $0, pooling: Double(1 + ($0 * 7) % 11)) }
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4)
        let layout = try FlatLayout(sharding: .tableWise).plan(workload: StepFixtures.workload(tables), cluster: cluster).sharding
        let cost = { (shard: TableShard) in
            ShardingPlan.placementCost(of: shard, feature: layout.features[shard.feature], training: layout.training, globalBatch: layout.globalBatch)
        }
        let perRank = (0..<8).map { rank in layout.shards.filter { $0.ranks.lowerBound == rank }.map(cost).reduce(0, +) }
        let total = layout.shards.map(cost).reduce(0, +)
        #expect(perRank.max()! <= total / 8 + layout.shards.map(cost).max()!)
    }

    @Test func aTableLargerThanAnyGPUIsRejectedWithTheShortfall() throws {
        // 300M rows × 16 fp32 = 19.2 GB; a 16 GB GPU keeps 15 % back and holds the dense replica.
        let workload = try StepFixtures.workload([StepFixtures.Table(rows: 300_000_000, pooling: 1)] + StepFixtures.uniform(3))
        let cluster = try StepFixtures.cluster(hosts: 1, gpusPerHost: 4)
        let dense = DenseArchitecture(model: workload.recommendation!, interactionInput: workload.recommendation!.interactionInput, computeFormat: .fp32)
        let capacity = 16e9 * 0.85 - MemoryBudget.denseReplicaBytes(workload, parameters: dense.parameterCount)
        let error = try #require(throws: SimulationError.self) { try FlatLayout(sharding: .tableWise).plan(workload: workload, cluster: cluster) }
        #expect(error.message.contains("table f0"))
        #expect(error.message.contains("short by \(Units.formatBytes(300_000_000 * 64 - capacity))"))
        // Split by rows over the 4 GPUs it fits.
        #expect(throws: Never.self) { try FlatLayout(sharding: .rowWise).plan(workload: workload, cluster: cluster) }
    }

    @Test func rowWiseAndReplicatedTablesAreCheckedAgainstEveryGPU() throws {
        let workload = try StepFixtures.workload(StepFixtures.uniform(4, rows: 200_000_000))  // 12.8 GB each, 51.2 GB in all
        let cluster = try StepFixtures.cluster(hosts: 1, gpusPerHost: 2)
        let error = try #require(throws: SimulationError.self) { try FlatLayout(sharding: .dataParallel).plan(workload: workload, cluster: cluster) }
        #expect(error.message.contains("data-parallel sharding puts 51.2GB"))
        #expect(throws: SimulationError.self) { try FlatLayout(sharding: .rowWise).plan(workload: workload, cluster: cluster) }
    }

    @Test func columnWiseCutsWideTablesIntoBlocksPlacedLikeTables() throws {
        let workload = try StepFixtures.workload(StepFixtures.uniform(2), dimension: 256)
        let cluster = try StepFixtures.cluster(hosts: 1, gpusPerHost: 4)
        let plan = try FlatLayout(sharding: .columnWise).plan(workload: workload, cluster: cluster)
        #expect(plan.sharding.shards.count == 4)
        #expect(plan.sharding.shards.allSatisfy { $0.columns == 128 })
        #expect(Set(plan.sharding.shards.map(\.ranks.lowerBound)) == [0, 1, 2, 3])
    }

    @Test func tableRowWiseKeepsEachTableInsideOneHost() throws {
        let workload = try StepFixtures.workload(StepFixtures.uniform(4))
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4)
        let plan = try FlatLayout(sharding: .tableRowWise).plan(workload: workload, cluster: cluster)
        #expect(plan.sharding.shards.map(\.ranks).sorted { $0.lowerBound < $1.lowerBound } == [0..<4, 0..<4, 4..<8, 4..<8])
    }
}
