import Foundation
import Testing
import Topology

@testable import Simulation

/// Collectives on the exact model against closed forms.
@Suite struct ExactCommunicationModelTests {
    /// `hosts` hosts of 4 GPUs on one non-blocking switch; NVSwitch 100 GB/s, NIC 10 GB/s per GPU.
    static func cluster(hosts: Int) throws -> Cluster {
        let text = """
            <cluster name="flat">
              <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
              <template id="box">
                <accelerator id="gpu" model="g" count="4"/>
                <switch id="nvswitch"/>
                <nic id="nic" count="4"/>
                <link a="gpu" b="nvswitch" bandwidth="100GB/s"/>
                <link a="gpu" b="nic" pattern="one-to-one" bandwidth="50GB/s"/>
              </template>
              <fabric>
                <switch id="fabric"/>
                <host template="box" count="\(hosts)"/>
                <link a="host/nic" b="fabric" bandwidth="80Gb/s" latency="1us"/>
              </fabric>
            </cluster>
            """
        return try ClusterLoader.load(data: Data(text.utf8), name: "flat.xml")
    }

    @Test func oneToManyRoutesEqualSinglePairRoutes() throws {
        let cluster = try Self.cluster(hosts: 3)
        let router = Router(cluster: cluster)
        for source in cluster.accelerators {
            let many = try router.routes(from: source, to: cluster.accelerators)
            for (destination, route) in zip(cluster.accelerators, many) {
                let single = try router.route(from: source, to: destination)
                #expect(Set(route.arcs) == Set(single.arcs))
                #expect(route.bottleneckBandwidth == single.bottleneckBandwidth)
                #expect(route.latency == single.latency)
            }
        }
    }

    @Test func allToAllCrossHostBytesFollowTheFlatFormula() throws {
        let cluster = try Self.cluster(hosts: 4)
        let model = ExactCommunicationModel(cluster: cluster)
        let ranks = (0..<Int32(16)).map { $0 }
        let perPair = 1e6
        let result = try model.simulate(Collective(kind: .allToAll, groups: [ranks], traffic: .uniform(perPair)))
        // Each GPU sends to N−1 = 15 others, N−L = 12 of them in other hosts.
        #expect(result.bytesPerRankByLevel["host"] == 12 * perPair)
        // The NIC (10 GB/s) carries the 12 MB leaving each GPU; NVSwitch traffic is faster.
        #expect(abs(result.seconds - (12e6 / 10e9 + 2e-6)) < 1e-12)
    }

    @Test func destinationScaledAllToAllLoadsTheHeavyReceiver() throws {
        let cluster = try Self.cluster(hosts: 2)
        let model = ExactCommunicationModel(cluster: cluster)
        let ranks = (0..<Int32(8)).map { $0 }
        let traffic = AllToAllTraffic(perPair: 1e6, destinationScale: [7: 3])
        let result = try model.simulate(Collective(kind: .allToAll, groups: [ranks], traffic: traffic))
        // Rank 7's NIC receives 4 × 3 MB from the other host: 12 MB at 10 GB/s.
        #expect(abs(result.seconds - (12e6 / 10e9 + 2e-6)) < 1e-12)
        let busiest = try #require(result.arcBytes.max { $0.value < $1.value })
        #expect(busiest.value == 12e6)
    }

    @Test func ringAllReduceTakesTwoNMinusOneOverNTimesBufferOverBandwidth() throws {
        let cluster = try Self.cluster(hosts: 4)
        let model = ExactCommunicationModel(cluster: cluster)
        // One GPU per host (local rank 0): every ring hop crosses the fabric at 10 GB/s.
        let ring: [Int32] = [0, 4, 8, 12]
        let bytes = 64e6
        let result = try model.simulate(Collective(kind: .allReduce(.ring), groups: [ring], bufferBytes: [bytes]))
        let steps = 2.0 * 3
        #expect(abs(result.seconds - steps * (bytes / 4 / 10e9 + 2e-6)) < 1e-12)
        #expect(result.bytesPerRankByLevel["host"] == steps * bytes / 4)
    }

    @Test func hierarchicalAllReduceSendsLessAcrossHostsThanAFlatRing() throws {
        let cluster = try Self.cluster(hosts: 4)
        let model = ExactCommunicationModel(cluster: cluster)
        let all = (0..<Int32(16)).map { $0 }
        let bytes = 64e6
        let hierarchical = try model.simulate(Collective(kind: .allReduce(.hierarchical(level: "host")), groups: [all], bufferBytes: [bytes]))
        // Cross-host: the outer rings carry S/L per rank, 2(H−1)/H of it leaves the host.
        #expect(abs(hierarchical.bytesPerRankByLevel["host"]! - 2 * 3.0 / 4 * bytes / 4) < 1)
        let ring = try model.simulate(Collective(kind: .allReduce(.ring), groups: [all], bufferBytes: [bytes]))
        #expect(hierarchical.seconds < ring.seconds)
        let tree = try model.simulate(Collective(kind: .allReduce(.tree), groups: [all], bufferBytes: [bytes]))
        #expect(tree.seconds > 0 && tree.seconds.isFinite)
    }

    @Test func unknownLevelIsAClearError() throws {
        let cluster = try Self.cluster(hosts: 2)
        #expect(throws: UnknownLevelError.self) {
            _ = try ExactCommunicationModel(cluster: cluster).simulate(
                Collective(kind: .allReduce(.hierarchical(level: "pod")), groups: [[0, 4]], bufferBytes: [1]))
        }
    }
}
