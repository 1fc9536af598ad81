import Testing
import Topology

@testable import Simulation

/// Ranks that time-share fewer cores than there are ranks (`Cluster.sharedCores`): compute shares
/// the cores among the ranks computing, a rank waiting in a collective lends its core, and the
/// step model uses this in serialized mode only.
@Suite struct CoreSharingTests {
    @Test func ranksComputingTogetherShareTheCores() throws {
        // Four ranks on two cores: each gets half a core while all four compute; once the two
        // short ones are done (1 s of CPU at half speed: t = 2), the long ones have a core each.
        let sharing = CoreSharing(cores: 2, ranks: 4)
        let timeline = try sharing.schedule([
            .compute([1, 1, 3, 3]),
            .collective(groups: [[0, 1, 2, 3]], seconds: 0.5),
        ])
        #expect(timeline.finish[0] == [2, 2, 4, 4])
        // The collective starts when its last member arrives (rank 2 or 3 at t = 4) and holds all.
        #expect(timeline.start[1] == [4, 4, 4, 4] && timeline.finish[1] == [4.5, 4.5, 4.5, 4.5])
        let cause = try #require(timeline.cause[1].first)
        #expect([CoreSharing.pack(0, 2), CoreSharing.pack(0, 3)].contains(cause))
        // With a core per rank nothing is shared.
        let dedicated = try CoreSharing(cores: 4, ranks: 4).schedule([.compute([1, 1, 3, 3])])
        #expect(dedicated.finish[0] == [1, 1, 3, 3])
    }

    @Test func aRankWaitingInACollectiveLendsItsCore() throws {
        // Ranks 0 and 1 exchange for 5 s while ranks 2 and 3, in no group, compute 2 s of CPU:
        // alone on the two cores, they take 2 s, not the 4 s four computing ranks would.
        let timeline = try CoreSharing(cores: 2, ranks: 4).schedule([
            .compute([1, 1, 1, 1]),
            .collective(groups: [[0, 1]], seconds: 5),
            .compute([0, 0, 2, 2]),
        ])
        #expect(timeline.finish[0] == [2, 2, 2, 2])
        #expect(timeline.finish[1][0] == 7 && timeline.active[1][0] && !timeline.active[1][2])
        #expect(timeline.finish[2][2] == 4 && timeline.finish[2][3] == 4)
        #expect(timeline.finish[2][0] == 7)
    }

    @Test func aNonFiniteDurationIsNamed() {
        #expect(throws: SimulationError.self) { try CoreSharing(cores: 1, ranks: 2).schedule([.compute([1, .nan])]) }
        #expect(throws: SimulationError.self) { try CoreSharing(cores: 1, ranks: 2).schedule([.collective(groups: [[0, 1]], seconds: -1)]) }
    }

    @Test func theSerializedStepSharesTheClustersCores() throws {
        let workload = try StepFixtures.workload(StepFixtures.uniform(6, rows: 1_000))
        func step(sharedCores: Int?, serialized: Bool = true) throws -> StepResult {
            let cluster = try StepFixtures.cluster(hosts: 2, gpusPerHost: 2, peak: "10GFLOP/s", sharedCores: sharedCores)
            #expect(cluster.sharedCores == sharedCores)
            let plan = try SPTTLayout(intraDomain: .tableWise).plan(workload: workload, cluster: cluster)
            let model = StepModel(communication: try AggregatedCommunicationModel(cluster: cluster), overlapInputDistribution: false, serialized: serialized)
            return try model.simulate(plan)
        }
        let apart = try step(sharedCores: nil)
        let shared = try step(sharedCores: 2)
        let single = try step(sharedCores: 1)
        // Sharing two cores among four ranks slows the step, one core more so; as many cores as
        // ranks is the same as none shared, and two streams per rank (GPUs) share nothing.
        #expect(shared.stepSeconds > apart.stepSeconds * 1.2)
        #expect(single.stepSeconds > shared.stepSeconds * 1.2)
        #expect(try step(sharedCores: 4).stepSeconds == apart.stepSeconds)
        #expect(try step(sharedCores: 2, serialized: false).stepSeconds == step(sharedCores: nil, serialized: false).stepSeconds)
        // The same CPU work however shared: on one core the step takes at most 4× the step with a
        // core per rank; and each rank still runs one task at a time.
        for rank in 0 ..< 4 {
            let busy = single.tasks.filter { $0.active[rank] && $0.finish[rank] > $0.start[rank] }
                .map { ($0.start[rank], $0.finish[rank]) }.sorted { $0.0 < $1.0 }
            for (a, b) in zip(busy, busy.dropFirst()) { #expect(b.0 >= a.1 - 1e-12, "rank \(rank): \(a) overlaps \(b)") }
        }
        #expect(single.stepSeconds <= apart.stepSeconds * 4 * (1 + 1e-9))
    }
}
