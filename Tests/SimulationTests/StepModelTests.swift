import Foundation
import Testing
import Topology
import Workload

@testable import Simulation

/// Step volumes against DESIGN.md §1.2's closed forms, imbalance, overlap and the timeline's bookkeeping.
@Suite struct StepModelTests {
    // 4 hosts × 4 GPUs: H = 4, L = 4, N = 16; B = 64; F = 8 tables, p = 2 ids of s = 8 bytes, D = 16 fp32.
    static let (hosts, width, batch, features, pooling, idBytes, dimension, valueBytes) = (4, 4, 64, 8, 2.0, 8.0, 16, 4.0)
    static var gpus: Double { Double(hosts * width) }
    static var idVolume: Double { Double(batch * features) * pooling * idBytes }
    static var embeddingVolume: Double { Double(batch * features * dimension) * valueBytes }

    static func cluster() throws -> Cluster { try StepFixtures.cluster(hosts: hosts, gpusPerHost: width) }

    static func workload(towerModule: String = "") throws -> Workload {
        try StepFixtures.workload(StepFixtures.uniform(features, pooling: pooling), dimension: dimension, batch: batch, towerModule: towerModule)
    }

    /// Bytes per GPU the task called `name` sends across hosts.
    static func crossHost(_ result: StepResult, _ name: String) throws -> Double {
        try #require(result.task(name)).bytesPerGPUByLevel["host", default: 0]
    }

    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-9 * max(abs(a), abs(b)) }

    @Test func flatTableWiseVolumesMatchTheClosedForm() throws {
        let cluster = try Self.cluster()
        let result = try StepFixtures.simulate(FlatLayout(sharding: .tableWise).plan(workload: Self.workload(), cluster: cluster), on: cluster)
        let crossing = (Self.gpus - Double(Self.width)) / Self.gpus  // (N − L)/N
        #expect(Self.close(try Self.crossHost(result, "input dist: ids all-to-all"), Self.idVolume * crossing))
        #expect(Self.close(try Self.crossHost(result, "output dist: pooled embeddings all-to-all"), Self.embeddingVolume * crossing))
        #expect(Self.close(try Self.crossHost(result, "embedding gradients all-to-all"), Self.embeddingVolume * crossing))
    }

    @Test func spttWithIdentityTowersCrossesHostsOnlyAmongPeers() throws {
        let cluster = try Self.cluster()
        let result = try StepFixtures.simulate(SPTTLayout().plan(workload: Self.workload(), cluster: cluster), on: cluster)
        let crossing = Double(Self.hosts - 1) / Double(Self.hosts)  // (H − 1)/H
        #expect(Self.close(try Self.crossHost(result, "input dist: ids peer all-to-all"), Self.idVolume * crossing))
        #expect(Self.close(try Self.crossHost(result, "tower outputs peer all-to-all"), Self.embeddingVolume * crossing))
        #expect(Self.close(try Self.crossHost(result, "tower output gradients peer all-to-all"), Self.embeddingVolume * crossing))
        // Everything else of the sparse part stays inside the host.
        for name in ["input dist: ids all-to-all in host", "pooled partial sums reduce-scatter in host", "embedding gradients all-gather in host"] {
            let task = try #require(result.task(name))
            #expect(task.bytesPerGPUByLevel["host", default: 0] == 0)
        }
    }

    @Test func spttTowerModuleDividesTheCrossDomainEmbeddingsByItsCompression() throws {
        let cluster = try Self.cluster()
        let workload = try Self.workload(towerModule: "<tower-module kind=\"linear\" compression=\"2\"/>")
        let result = try StepFixtures.simulate(SPTTLayout().plan(workload: workload, cluster: cluster), on: cluster)
        let crossing = Double(Self.hosts - 1) / Double(Self.hosts)
        #expect(Self.close(try Self.crossHost(result, "input dist: ids peer all-to-all"), Self.idVolume * crossing))
        #expect(Self.close(try Self.crossHost(result, "tower outputs peer all-to-all"), Self.embeddingVolume * crossing / 2))
        // The module's parameters are replicated per domain, so they are all-reduced inside it.
        #expect(result.task("tower module gradient all-reduce in host")?.bytesPerGPUByLevel["host", default: 0] == 0)
    }

    @Test func spttColumnWiseMovesTheDomainsEmbeddingsOverNVLinkOnly() throws {
        let cluster = try Self.cluster()
        let result = try StepFixtures.simulate(SPTTLayout(intraDomain: .columnWise).plan(workload: Self.workload(), cluster: cluster), on: cluster)
        let task = try #require(result.task("pooled column blocks all-to-all in host"))
        #expect(task.bytesPerGPUByLevel.isEmpty)
        #expect(Self.close(try Self.crossHost(result, "tower outputs peer all-to-all"), Self.embeddingVolume * 3 / 4))
    }

    @Test func identityTowersPreserveTheDenseComputation() throws {
        let cluster = try Self.cluster()
        let flat = try StepFixtures.simulate(FlatLayout().plan(workload: Self.workload(), cluster: cluster), on: cluster)
        let sptt = try StepFixtures.simulate(SPTTLayout().plan(workload: Self.workload(), cluster: cluster), on: cluster)
        for name in ["interaction + top MLP forward", "interaction + top MLP backward", "bottom MLP forward"] {
            let (a, b) = (try #require(flat.phase(name)), try #require(sptt.phase(name)))
            #expect(Self.close(a.seconds, b.seconds))
        }
        #expect(sptt.phase("tower module forward") == nil)  // identity: no work, no task
    }

    @Test func aHeavyTableMakesItsOwnerTheSlowestGPUAndLengthensTheStep() throws {
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4)
        var tables = StepFixtures.uniform(8)
        let balanced = try FlatLayout().plan(workload: StepFixtures.workload(tables), cluster: cluster)
        tables[5] = StepFixtures.Table(rows: 1_000_000, pooling: 400)
        let skewed = try FlatLayout().plan(workload: StepFixtures.workload(tables), cluster: cluster)
        let owner = try #require(skewed.sharding.shards.first { $0.feature == 5 }).ranks.lowerBound
        let fast = try StepFixtures.simulate(balanced, on: cluster)
        let slow = try StepFixtures.simulate(skewed, on: cluster)
        #expect(slow.slowestRank == owner)
        #expect(slow.stepSeconds > fast.stepSeconds)
        // The owner's lookup is on the critical path, and the output all-to-all waited for it.
        #expect(slow.criticalPath.contains { $0.task == "embedding lookup" && $0.rank == owner })
        let lookup = try #require(slow.task("embedding lookup"))
        let output = try #require(slow.task("output dist: pooled embeddings all-to-all"))
        #expect(output.start.allSatisfy { $0 == lookup.finish[Int(owner)] })
        #expect(lookup.finish[Int(owner)] > lookup.finish.enumerated().filter { $0.offset != Int(owner) }.map(\.element).max()!)
    }

    @Test func pipeliningTheInputDistributionHidesIt() throws {
        // A slow device, so the dense layers leave the network idle long enough to hide the ids.
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4, peak: "1TFLOP/s")
        let workload = try StepFixtures.workload(StepFixtures.uniform(8), top: [512, 512, 1])
        for plan in [try FlatLayout().plan(workload: workload, cluster: cluster), try SPTTLayout().plan(workload: workload, cluster: cluster)] {
            let serial = try StepFixtures.simulate(plan, on: cluster, overlap: false)
            let piped = try StepFixtures.simulate(plan, on: cluster, overlap: true)
            let exposed = { (result: StepResult) in result.phases.filter(\.isCommunication).reduce(0) { $0 + $1.exposedSeconds } }
            #expect(exposed(piped) < exposed(serial))
            #expect(piped.stepSeconds < serial.stepSeconds)
            let ids = piped.phases.filter { $0.name.hasPrefix("input dist") }
            #expect(!ids.isEmpty && ids.allSatisfy { $0.exposedSeconds == 0 })
        }
    }

    @Test func exposedTimeAndWaitingAddUpToTheStepOnTheSlowestGPU() throws {
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4)
        var tables = StepFixtures.uniform(8)
        tables[2].pooling = 200
        for overlap in [false, true] {
            let result = try StepFixtures.simulate(SPTTLayout().plan(workload: StepFixtures.workload(tables), cluster: cluster), on: cluster, overlap: overlap)
            let accounted = result.phases.reduce(0) { $0 + $1.exposedSeconds } + result.idleSeconds
            #expect(Self.close(accounted, result.stepSeconds))
            #expect(result.criticalPath.last.map { Self.close($0.finish, result.stepSeconds) } == true)
        }
    }

    @Test func fewerTowersThanDomainsLeaveDomainsIdle() throws {
        let cluster = try Self.cluster()
        let plan = try SPTTLayout(towerCount: 2).plan(workload: Self.workload(), cluster: cluster)
        #expect(Set(plan.sharding.shards.map(\.ranks)) == [0..<4, 4..<8])
        #expect(plan.notes.contains { $0.contains("2 of 4 host domains hold towers") })
        let result = try StepFixtures.simulate(plan, on: cluster)
        // Towers on hosts 0 and 1, four features each; idle peers receive no ids. Hosts 0 and 1 send
        // the other tower's half of their ids across, hosts 2 and 3 all of them: a mean of 3/4.
        #expect(Self.close(try Self.crossHost(result, "input dist: ids peer all-to-all"), Self.idVolume * 3 / 4))
    }

    @Test func theDefaultNeverMakesMoreTowersThanFeatures() throws {
        let cluster = try Self.cluster()
        let plan = try SPTTLayout().plan(workload: StepFixtures.workload(StepFixtures.uniform(3)), cluster: cluster)
        #expect(plan.notes.contains { $0.contains("3 of 4 host domains hold towers") })
    }

    @Test func aTowerAssignmentDrivesThePlacement() throws {
        let cluster = try Self.cluster()
        let assignment = try TowerAssignment(towerOfFeature: [0, 0, 0, 0, 0, 1, 2, 3], towerCount: 4)
        let plan = try SPTTLayout(assignment: assignment).plan(workload: Self.workload(), cluster: cluster)
        #expect(plan.sharding.shards.filter { $0.ranks == 0..<4 }.count == 5)
        #expect(plan.notes.isEmpty)
        let result = try StepFixtures.simulate(plan, on: cluster)
        #expect((0..<4).contains(result.slowestRank))  // the five-table tower is the straggler
    }

    @Test func badTowerShapesAreRejected() throws {
        let cluster = try Self.cluster()
        let workload = try Self.workload()
        #expect(throws: SimulationError.self) { try SPTTLayout(towerCount: 5).plan(workload: workload, cluster: cluster) }
        #expect(throws: SimulationError.self) { try SPTTLayout(towerLevel: "rack").plan(workload: workload, cluster: cluster) }
        #expect(throws: SimulationError.self) { try TowerAssignment(towerOfFeature: [0, 4], towerCount: 4) }
        let wrongCount = try TowerAssignment(towerOfFeature: [0, 1], towerCount: 4)
        #expect(throws: SimulationError.self) { try SPTTLayout(assignment: wrongCount).plan(workload: workload, cluster: cluster) }
    }

    @Test func everyShardingTypeSimulates() throws {
        let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 4)
        let workload = try StepFixtures.workload(StepFixtures.uniform(6), dimension: 256)
        for type in ShardingType.allCases {
            let result = try StepFixtures.simulate(FlatLayout(sharding: type).plan(workload: workload, cluster: cluster), on: cluster)
            #expect(result.stepSeconds > 0, "\(type)")
            #expect(result.busiestLinks.count == 5, "\(type)")
            #expect(result.busiestLinks.allSatisfy { $0.utilization > 0 && $0.utilization <= 1 + 1e-9 }, "\(type)")
        }
    }
}
