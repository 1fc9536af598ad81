import Foundation
import Testing
import Topology

@testable import Simulation

/// The aggregated model against the exact per-pair model.
@Suite struct AggregatedCommunicationModelTests {
    /// 2 pods × 2 racks × 2 hosts × 4 GPUs; GPUs pair up on PCIe switches with two NICs each (as on
    /// Grand Teton), so ECMP splits inside the host as well as above it; pods joined at 1:3.
    static let text = """
        <cluster name="agg">
          <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
          <template id="box">
            <accelerator id="gpu" model="g" count="4"/>
            <switch id="nvswitch"/>
            <switch id="pcie" count="2"/>
            <nic id="nic" count="4"/>
            <link a="gpu" b="nvswitch" bandwidth="200GB/s" latency="0.5us"/>
            <link a="gpu" b="pcie" pattern="block" bandwidth="32GB/s" latency="0.5us"/>
            <link a="nic" b="pcie" pattern="block" bandwidth="32GB/s" latency="0.5us"/>
          </template>
          <fabric>
            <level name="pod" count="2">
              <switch id="spine" count="2"/>
              <level name="rack" count="2">
                <switch id="tor"/>
                <host template="box" count="2"/>
                <link a="host/nic" b="tor" bandwidth="100Gb/s" latency="1us"/>
              </level>
              <link a="rack/tor" b="spine" pattern="all" oversubscription="1:1" latency="1us"/>
            </level>
            <switch id="core" count="2"/>
            <link a="pod/spine" b="core" pattern="all" oversubscription="1:3" latency="2us"/>
          </fabric>
        </cluster>
        """

    static func cluster() throws -> Cluster { try ClusterLoader.load(data: Data(text.utf8), name: "agg.xml") }

    static let patterns: [(String, AllToAllTraffic)] = {
        let heavy = Dictionary(uniqueKeysWithValues: (0..<Int32(32)).map { ($0, 1 + Double($0 % 3)) })
        return [
            ("uniform", .uniform(1e6)),
            ("destination-scaled", AllToAllTraffic(perPair: 1e6, destinationScale: heavy)),
            ("source-scaled", AllToAllTraffic(perPair: 1e6, sourceScale: heavy)),
        ]
    }()

    /// All ranks, and SPTT-style peer groups (same position in every host).
    static let groupings: [(String, [[Int32]])] = [
        ("global", [(0..<Int32(32)).map { $0 }]),
        ("peers", (0..<Int32(4)).map { local in (0..<Int32(8)).map { $0 * 4 + local } }),
    ]

    @Test(arguments: 0..<3, 0..<2)
    func arcLoadsAndLevelBytesEqualTheExactModel(pattern: Int, grouping: Int) throws {
        let cluster = try Self.cluster()
        let collective = Collective(kind: .allToAll, groups: Self.groupings[grouping].1, traffic: Self.patterns[pattern].1)
        let exact = try ExactCommunicationModel(cluster: cluster).simulate(collective)
        let aggregated = try AggregatedCommunicationModel(cluster: cluster).simulate(collective)
        #expect(Set(exact.arcBytes.keys) == Set(aggregated.arcBytes.keys))
        for (arc, bytes) in exact.arcBytes {
            #expect(abs((aggregated.arcBytes[arc] ?? 0) - bytes) <= 1e-9 * bytes, "arc \(arc)")
        }
        #expect(Set(exact.bytesPerRankByLevel.keys) == Set(aggregated.bytesPerRankByLevel.keys))
        for (level, bytes) in exact.bytesPerRankByLevel {
            #expect(abs((aggregated.bytesPerRankByLevel[level] ?? 0) - bytes) <= 1e-9 * bytes, "level \(level)")
        }
        // Time: the most loaded arc's load over its bandwidth, which is what size-weighted max-min
        // sharing of the exact flows gives, uniform or uneven.
        #expect(abs(aggregated.seconds - exact.seconds) <= 0.01 * exact.seconds, "\(aggregated.seconds) vs \(exact.seconds)")
    }

    static let collectives: [(String, Collective)] = {
        let all = (0..<Int32(32)).map { $0 }
        let peers = (0..<Int32(4)).map { local in (0..<Int32(8)).map { $0 * 4 + local } }
        return [
            ("ring all-reduce", Collective(kind: .allReduce(.ring), groups: [all], bufferBytes: [8e6])),
            ("hierarchical all-reduce", Collective(kind: .allReduce(.hierarchical(level: "host")), groups: [all], bufferBytes: [8e6])),
            ("rack-level hierarchical all-reduce", Collective(kind: .allReduce(.hierarchical(level: "rack")), groups: [all], bufferBytes: [8e6])),
            ("tree all-reduce", Collective(kind: .allReduce(.tree), groups: [all], bufferBytes: [8e6])),
            ("peer reduce-scatter", Collective(kind: .reduceScatter, groups: peers, bufferBytes: [4e6, 4e6, 4e6, 4e6])),
            ("all-gather in hosts", Collective(kind: .allGather, groups: (0..<Int32(8)).map { h in (0..<Int32(4)).map { h * 4 + $0 } }, bufferBytes: Array(repeating: 2e6, count: 8))),
            ("point-to-point", Collective(kind: .pointToPoint, groups: [[0, 31], [5, 6], [12, 20]], bufferBytes: [1e6, 2e6, 3e6])),
        ]
    }()

    @Test(arguments: 0..<7)
    func ringsTreesAndTransfersMatchTheExactModel(index: Int) throws {
        let cluster = try Self.cluster()
        let (name, collective) = Self.collectives[index]
        let exact = try ExactCommunicationModel(cluster: cluster).simulate(collective)
        let aggregated = try AggregatedCommunicationModel(cluster: cluster).simulate(collective)
        for (arc, bytes) in exact.arcBytes {
            #expect(abs((aggregated.arcBytes[arc] ?? 0) - bytes) <= 1e-9 * bytes, "\(name): arc \(arc)")
        }
        #expect(Set(exact.arcBytes.keys) == Set(aggregated.arcBytes.keys), "\(name)")
        for (level, bytes) in exact.bytesPerRankByLevel {
            #expect(abs((aggregated.bytesPerRankByLevel[level] ?? 0) - bytes) <= 1e-9 * bytes, "\(name): level \(level)")
        }
        #expect(abs(aggregated.seconds - exact.seconds) <= 0.01 * exact.seconds, "\(name): \(aggregated.seconds) vs \(exact.seconds)")
    }

    @Test func switchTiersInsideOneLevelAreRefused() throws {
        let text = Self.text.replacingOccurrences(
            of: "<switch id=\"core\" count=\"2\"/>", with: "<switch id=\"core\" count=\"2\"/><switch id=\"top\"/><link a=\"core\" b=\"top\" bandwidth=\"1Tb/s\"/>")
        let cluster = try ClusterLoader.load(data: Data(text.utf8), name: "tiers.xml")
        #expect(throws: AggregatedCommunicationModel.NotSymmetricError.self) { _ = try AggregatedCommunicationModel(cluster: cluster) }
        #expect(AggregatedCommunicationModel.best(for: cluster) is ExactCommunicationModel)
    }

    @Test func hostsWiredDifferentlyAreRefused() throws {
        // Round-robin rails: host 0's NICs and host 1's NICs reach different rail switches.
        let text = """
            <cluster name="rails">
              <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="1TFLOP/s"/></accelerator-model>
              <fabric>
                <level name="rack" count="1">
                  <switch id="rail" count="2"/>
                  <host count="2"><accelerator id="gpu" model="g"/><nic id="nic"/><link a="gpu" b="nic" bandwidth="10GB/s"/></host>
                  <link a="host/nic" b="rail" pattern="round-robin" bandwidth="10GB/s"/>
                  <link a="rail[0]" b="rail[1]" bandwidth="10GB/s"/>
                </level>
              </fabric>
            </cluster>
            """
        let cluster = try ClusterLoader.load(data: Data(text.utf8), name: "rails.xml")
        #expect(throws: AggregatedCommunicationModel.NotSymmetricError.self) { _ = try AggregatedCommunicationModel(cluster: cluster) }
    }

    /// The 24,576-GPU Llama 3 cluster: an all-to-all over every GPU, aggregated (slow suite in debug builds).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOWERPLAN_SLOW_TESTS"] == "1"))
    func llama3AllToAllIsThrottledSevenfoldAtTheAggregationLayer() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topologies/llama3-h100-24k.xml").path
        let cluster = try ClusterLoader.load(path: path)
        let model = try AggregatedCommunicationModel(cluster: cluster)
        let ranks = (0..<Int32(cluster.accelerators.count)).map { $0 }
        let result = try model.simulate(Collective(kind: .allToAll, groups: [ranks], traffic: .uniform(1e6)))
        // 7/8 of each GPU's 24,575 MB leaves its pod; a pod's uplinks carry 3,072 × 50 GB/s / 7.
        let crossPod = 1e6 * Double(24_576 - 3_072)
        let expected = crossPod * 3_072 / (3_072 * 50e9 / 7)
        #expect(abs(result.seconds - expected) / expected < 1e-3)
        #expect(abs(result.bytesPerRankByLevel["pod"]! - crossPod) < 1)
    }

    /// The 512-GPU Grand Teton preset: per-arc loads of an uneven all-to-all and a hierarchical
    /// all-reduce agree with the exact model (slow suite: the exact all-to-all has 261,632 flows).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOWERPLAN_SLOW_TESTS"] == "1"))
    func grandTetonMatchesTheExactModel() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topologies/grand-teton-h100-512.xml").path
        let cluster = try ClusterLoader.load(path: path)
        let ranks = (0..<Int32(512)).map { $0 }
        let heavy = Dictionary(uniqueKeysWithValues: ranks.map { ($0, 1 + Double($0 % 5)) })
        let exact = ExactCommunicationModel(cluster: cluster)
        let aggregated = try AggregatedCommunicationModel(cluster: cluster)
        for collective in [
            Collective(kind: .allToAll, groups: [ranks], traffic: AllToAllTraffic(perPair: 1e5, destinationScale: heavy)),
            Collective(kind: .allReduce(.hierarchical(level: "host")), groups: [ranks], bufferBytes: [64e6]),
        ] {
            let reference = try exact.simulate(collective)
            let fast = try aggregated.simulate(collective)
            var worst = 0.0
            for (arc, bytes) in reference.arcBytes { worst = max(worst, abs((fast.arcBytes[arc] ?? 0) - bytes) / bytes) }
            #expect(worst < 1e-9)
            #expect(reference.arcBytes.count == fast.arcBytes.count)
            #expect(abs(fast.seconds - reference.seconds) <= 0.01 * reference.seconds, "\(fast.seconds) vs \(reference.seconds)")
        }
    }
}
