import Foundation
import Testing
import Topology
import Workload

@testable import Simulation

/// What the simulator needs to predict towerplan's own CPU ranks (`train --predict`): table-wise
/// sharding inside tower domains and given table placements, one stream per rank, additive CPU
/// compute, measured gather bandwidth, the dense optimizer step and the sparse backward's traffic.
@Suite struct SynchronousRankTests {
    /// 2 hosts × 2 GPUs, 6 tables.
    static func cluster() throws -> Cluster { try StepFixtures.cluster(hosts: 2, gpusPerHost: 2) }
    static func workload() throws -> Workload { try StepFixtures.workload(StepFixtures.uniform(6, rows: 1_000)) }

    @Test func tableWiseInsideTheDomainPutsEachTableWholeOnOneGPUOfItsTower() throws {
        let plan = try SPTTLayout(intraDomain: .tableWise).plan(workload: Self.workload(), cluster: Self.cluster())
        let towerOf = try #require(plan.sharding.shards.count == 6 ? plan.sharding.shards : nil)
        for shard in towerOf {
            #expect(shard.ranks.count == 1 && shard.columns == 16)
        }
        // The balanced split puts tables 0–2 and 3–5 (equal costs) on the two hosts' GPUs {0,1} and {2,3}.
        let hostOfTable = towerOf.map { Int($0.ranks.lowerBound) / 2 }
        #expect(Set(hostOfTable.prefix(3)).count == 1 && Set(hostOfTable.suffix(3)).count == 1 && hostOfTable[0] != hostOfTable[5])
        let names = Set(plan.tasks.map(\.name))
        #expect(names.isSuperset(of: ["output dist: pooled embeddings all-to-all in host", "embedding gradients all-to-all in host"]))
    }

    @Test func givenTablePlacementsAreUsedAndChecked() throws {
        let workload = try Self.workload(), cluster = try Self.cluster()
        let assignment = try TowerAssignment(towerOfFeature: [0, 0, 0, 1, 1, 1], towerCount: 2)
        let owners = [1, 1, 0, 3, 2, 2]
        let sptt = try SPTTLayout(intraDomain: .tableWise, assignment: assignment, tableOwners: owners).plan(workload: workload, cluster: cluster)
        #expect(sptt.sharding.shards.map { Int($0.ranks.lowerBound) } == owners)
        let flat = try FlatLayout(sharding: .tableWise, tableOwners: [3, 2, 1, 0, 0, 0]).plan(workload: workload, cluster: cluster)
        #expect(flat.sharding.shards.map { Int($0.ranks.lowerBound) } == [3, 2, 1, 0, 0, 0])

        #expect(throws: SimulationError.self) {  // table 0 of tower 0 placed on host 1's GPU 2
            try SPTTLayout(intraDomain: .tableWise, assignment: assignment, tableOwners: [2, 1, 0, 3, 2, 2]).plan(workload: workload, cluster: cluster)
        }
        #expect(throws: SimulationError.self) { try FlatLayout(sharding: .tableWise, tableOwners: [4, 0, 0, 0, 0, 0]).plan(workload: workload, cluster: cluster) }
        #expect(throws: SimulationError.self) { try FlatLayout(sharding: .rowWise, tableOwners: owners).plan(workload: workload, cluster: cluster) }
        #expect(throws: SimulationError.self) { try SPTTLayout(intraDomain: .rowWise, tableOwners: owners).plan(workload: workload, cluster: cluster) }
    }

    @Test func aSerializedRankRunsOneTaskAtATime() throws {
        let cluster = try Self.cluster()
        let plan = try SPTTLayout(intraDomain: .tableWise).plan(workload: Self.workload(), cluster: cluster)
        let communication = try AggregatedCommunicationModel(cluster: cluster)
        let overlapping = try StepModel(communication: communication, overlapInputDistribution: false).simulate(plan)
        let serialized = try StepModel(communication: communication, overlapInputDistribution: false, serialized: true).simulate(plan)
        #expect(serialized.stepSeconds > overlapping.stepSeconds)
        for rank in 0 ..< 4 {
            let busy = serialized.tasks.filter { $0.active[rank] && $0.finish[rank] > $0.start[rank] }
                .map { ($0.start[rank], $0.finish[rank]) }.sorted { $0.0 < $1.0 }
            for (a, b) in zip(busy, busy.dropFirst()) { #expect(b.0 >= a.1 - 1e-15, "rank \(rank): \(a) overlaps \(b)") }
        }
    }

    @Test func idLengthsAreCountedOnlyWhenAsked() throws {
        let workload = try Self.workload(), cluster = try Self.cluster()
        /// Bytes every rank sends to every other in the all-to-all `task` (all four ranks take part).
        func idBytes(_ plan: StepPlan, _ task: String) throws -> Double {
            let found = try #require(plan.tasks.first { $0.name == task })
            guard case .communication(let collective) = found.work, case .allToAll = collective.kind else {
                Issue.record("\(task) is not an all-to-all")
                return 0
            }
            let traffic = collective.traffic
            return collective.groups.reduce(0.0) { sum, group in
                sum + group.reduce(0.0) { sum, source in sum + group.reduce(0.0) { $0 + ($1 == source ? 0 : traffic.bytes(from: source, to: $1)) } }
            }
        }
        // int64 ids, pooling 2: 16 bytes of ids per sample and feature, plus 4 of length.
        let ratio = (16.0 + 4) / 16
        let flat = try idBytes(FlatLayout(sharding: .tableWise).plan(workload: workload, cluster: cluster), "input dist: ids all-to-all")
        let flatWithLengths = try idBytes(
            FlatLayout(sharding: .tableWise, idLengthBytes: 4).plan(workload: workload, cluster: cluster), "input dist: ids all-to-all")
        #expect(flat > 0 && abs(flatWithLengths / flat - ratio) < 1e-12)
        var sptt = SPTTLayout(intraDomain: .tableWise)
        let peer = try idBytes(sptt.plan(workload: workload, cluster: cluster), "input dist: ids peer all-to-all")
        let domain = try idBytes(sptt.plan(workload: workload, cluster: cluster), "input dist: ids all-to-all in host")
        sptt.idLengthBytes = 4
        let peerWithLengths = try idBytes(sptt.plan(workload: workload, cluster: cluster), "input dist: ids peer all-to-all")
        let domainWithLengths = try idBytes(sptt.plan(workload: workload, cluster: cluster), "input dist: ids all-to-all in host")
        #expect(peer > 0 && abs(peerWithLengths / peer - ratio) < 1e-12)
        #expect(domain > 0 && abs(domainWithLengths / domain - ratio) < 1e-12)
    }

    @Test func bufferCopiesAreChargedOnlyWhenAsked() throws {
        let workload = try Self.workload(), cluster = try Self.cluster()
        var flat = FlatLayout(sharding: .tableWise)
        #expect(try !flat.plan(workload: workload, cluster: cluster).tasks.contains { $0.name.hasSuffix("packing") })
        flat.chargesBufferCopies = true
        let plan = try flat.plan(workload: workload, cluster: cluster)
        let names = plan.tasks.map(\.name)
        // Ids packed and unpacked; pooled embeddings moved into place on arrival, their gradients
        // gathered before sending; the dense gradients through a bucket both ways.
        #expect(names == [
            "bottom MLP forward", "input dist: ids all-to-all: packing", "input dist: ids all-to-all", "input dist: ids all-to-all: unpacking",
            "embedding lookup", "output dist: pooled embeddings all-to-all", "output dist: pooled embeddings all-to-all: unpacking",
            "interaction + top MLP forward", "interaction + top MLP backward", "bottom MLP backward",
            "embedding gradients all-to-all: packing", "embedding gradients all-to-all", "embedding backward + optimizer",
            "dense gradient all-reduce: packing", "dense gradient all-reduce", "dense gradient all-reduce: unpacking", "dense optimizer",
        ])
        // Each a streaming pass over a rank's bytes, its own block included: read and written.
        func task(_ name: String) throws -> StepTask { try #require(plan.tasks.first { $0.name == name }) }
        guard case .communication(let ids) = try task("input dist: ids all-to-all").work,
              case .compute(let packing) = try task("input dist: ids all-to-all: packing").work,
              case .compute(let unpacking) = try task("input dist: ids all-to-all: unpacking").work
        else { Issue.record("unexpected task kinds"); return }
        for rank in 0 ..< 4 {
            let sent = (0 ..< 4).reduce(0.0) { $0 + ids.traffic.bytes(from: Int32(rank), to: Int32($1)) }
            let received = (0 ..< 4).reduce(0.0) { $0 + ids.traffic.bytes(from: Int32($1), to: Int32(rank)) }
            #expect(packing[rank] == ComputeWork(streamedBytes: 2 * sent))
            #expect(unpacking[rank] == ComputeWork(streamedBytes: 2 * received))
        }
        #expect(ids.bytesPerRank(4, .send).reduce(0, +) == ids.bytesPerRank(4, .receive).reduce(0, +))
        // SPTT: around both id exchanges, the tower exchanges and the tower-module all-reduce too.
        var sptt = SPTTLayout(intraDomain: .tableWise)
        sptt.chargesBufferCopies = true
        let withModule = try StepFixtures.workload(StepFixtures.uniform(6, rows: 1_000), towerModule: #"<tower-module kind="linear" compression="2"/>"#)
        let towerNames = Set(try sptt.plan(workload: withModule, cluster: cluster).tasks.map(\.name))
        #expect(towerNames.isSuperset(of: [
            "input dist: ids peer all-to-all: packing", "input dist: ids all-to-all in host: unpacking", "tower outputs peer all-to-all: unpacking",
            "tower output gradients peer all-to-all: packing", "tower module gradient all-reduce in host: packing",
        ]))
        // A serialized CPU step is longer for them.
        let communication = try AggregatedCommunicationModel(cluster: cluster)
        let model = StepModel(communication: communication, overlapInputDistribution: false, serialized: true)
        flat.chargesBufferCopies = false
        #expect(try model.simulate(plan).stepSeconds > model.simulate(flat.plan(workload: workload, cluster: cluster)).stepSeconds)
    }

    @Test func cpuComputeAddsArithmeticAndMemoryAndUsesAMeasuredGatherBandwidth() throws {
        let text = """
            <cluster name="cpu">
              <accelerator-model id="c" memory="8GB" memory-bandwidth="10GB/s" gather-bandwidth="2GB/s" scatter-bandwidth="1GB/s" interaction-flops="20GFLOP/s"><peak precision="fp32" flops="100GFLOP/s"/></accelerator-model>
              <template id="node"><accelerator id="rank" model="c" count="1"/></template>
              <fabric><host template="node" count="1"/></fabric>
            </cluster>
            """
        let cluster = try ClusterLoader.load(data: Data(text.utf8), name: "cpu.xml")
        let model = try #require(cluster.model(of: cluster.accelerators[0]))
        #expect(model.gatherBandwidth == 2e9)
        #expect(model.interactionFLOPS == 20e9 && model.scatterBandwidth == 1e9)
        let work = ComputeWork(flops: 1e9, streamedBytes: 1e8, gatheredBytes: 1e8)
        let cpu = ComputeModel(denseEfficiency: 1, memoryEfficiency: 1, gatherEfficiency: 0.1, overlapsArithmeticWithMemory: false)
        // 1e9/1e11 + 1e8/1e10 + 1e8/2e9: the gather efficiency does not apply to a measured bandwidth.
        #expect(abs(try cpu.seconds(work, on: model, precision: .fp32) - (0.01 + 0.01 + 0.05)) < 1e-12)
        let gpu = ComputeModel(denseEfficiency: 1, memoryEfficiency: 1, gatherEfficiency: 1)
        #expect(abs(try gpu.seconds(work, on: model, precision: .fp32) - 0.06) < 1e-12)
        // The backward's bytes at the measured scatter bandwidth (1 GB/s), not the gather one.
        #expect(abs(try cpu.seconds(ComputeWork(scatteredBytes: 1e8), on: model, precision: .fp32) - 0.1) < 1e-12)
    }

    @Test func theStepEndsWithTheDenseOptimizerAndTheBackwardReadsEveryGradientRow() throws {
        let workload = try Self.workload(), cluster = try Self.cluster()
        let plan = try FlatLayout(sharding: .tableWise).plan(workload: workload, cluster: cluster)
        let optimizer = try #require(plan.tasks.last)
        #expect(optimizer.name == "dense optimizer")
        let parameters = DenseArchitecture(model: try #require(workload.recommendation), interactionInput: try #require(workload.recommendation).interactionInput, computeFormat: .fp32).parameterCount
        guard case .compute(let work) = optimizer.work else { Issue.record("the optimizer is not a compute task"); return }
        #expect(work[0].streamedBytes == parameters * 12)  // SGD: read w and g, write w
        // Sparse backward: the gradient row of every id served read, then every touched row read
        // and written (SGD: 2 · 64 bytes). A table serves 256 samples × 2 ids, fewer than its
        // 1,000 rows, so every id counts as a touched row.
        let layout = plan.sharding
        for (lookup, update) in zip(layout.lookupWorkPerRank, layout.updateWorkPerRank) where lookup.gatheredBytes > 0 {
            let ids = lookup.gatheredBytes / 64  // fp32 rows of 16
            #expect(update.scatteredBytes == lookup.gatheredBytes + ids * 128 && update.gatheredBytes == 0)
        }
    }
}
