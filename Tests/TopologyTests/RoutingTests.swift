import Foundation
import Testing

@testable import Topology

/// Routing: minimal paths, ECMP shares, up-down behaviour, non-tree graphs, bottlenecks.
@Suite struct RoutingTests {
    /// Two racks of two 4-GPU hosts; each ToR has two parallel 100Gb/s uplinks to each of two spines.
    static let twoTier = """
        <cluster name="two-tier">
          <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
          <template id="box">
            <accelerator id="gpu" model="g" count="4"/>
            <switch id="nvswitch" role="nvswitch"/>
            <switch id="pcie" role="pcie" count="2"/>
            <nic id="nic" count="2"/>
            <link a="gpu" b="nvswitch" bandwidth="300GB/s" latency="1us"/>
            <link a="gpu" b="pcie" pattern="block" bandwidth="32GB/s" latency="1us"/>
            <link a="nic" b="pcie" pattern="one-to-one" bandwidth="32GB/s" latency="1us"/>
            <link a="pcie[0]" b="pcie[1]" bandwidth="32GB/s" latency="1us"/>
          </template>
          <fabric>
            <level name="rack" count="2">
              <switch id="tor"/>
              <host template="box" count="2"/>
              <link a="host/nic" b="tor" bandwidth="200Gb/s" latency="2us"/>
            </level>
            <switch id="spine" count="2"/>
            <link a="rack/tor" b="spine" pattern="all" parallel="2" bandwidth="100Gb/s" latency="3us"/>
          </fabric>
        </cluster>
        """

    static func load(_ text: String) throws -> Cluster {
        try ClusterLoader.load(data: Data(text.utf8), name: "inline.xml")
    }

    @Test func sameHostUsesNVLinkNotPCIe() throws {
        let cluster = try Self.load(Self.twoTier)
        let route = try Router(cluster: cluster).route(fromRank: 0, toRank: 1)
        #expect(route.minimumHops == 2 && route.maximumHops == 2)
        #expect(route.pathCount == 1)
        #expect(route.bottleneckBandwidth == 300e9)
        #expect(route.latency == 2e-6)
        #expect(route.arcs.allSatisfy { cluster.links[Int($0.arc >> 1)].bandwidth == 300e9 && $0.share == 1 })
        #expect(cluster.levelsCrossed(between: cluster.accelerators[0], and: cluster.accelerators[1]).isEmpty)
    }

    @Test func sameRackCrossesHostThroughOneToR() throws {
        let cluster = try Self.load(Self.twoTier)
        // rank 0 (host 0) → rank 4 (host 1), same rack: gpu-pcie-nic-tor-nic-pcie-gpu.
        let route = try Router(cluster: cluster).route(fromRank: 0, toRank: 4)
        #expect(route.minimumHops == 6)
        #expect(route.bottleneckBandwidth == 25e9)
        #expect(route.latency == 8e-6)
        let crossed = cluster.levelsCrossed(between: cluster.accelerators[0], and: cluster.accelerators[4]).map(\.name)
        #expect(crossed == ["host"])
        // Up-down: no spine on the path.
        let spines = Set(cluster.devices.indices.filter { cluster.groups[Int(cluster.devices[$0].group)].id == "spine" }.map(Int32.init))
        #expect(route.arcs.allSatisfy { !spines.contains(cluster.head(of: $0.arc)) })
    }

    @Test func crossRackSpreadsOverSpinesAndParallelLinks() throws {
        let cluster = try Self.load(Self.twoTier)
        let route = try Router(cluster: cluster).route(fromRank: 0, toRank: 8)
        // tor → (2 spines × 2 parallel links) → (2 parallel links) → tor: 8 equal-cost paths.
        #expect(route.pathCount == 8)
        #expect(route.minimumHops == 8)
        let uplinkShares = route.arcs.filter { cluster.links[Int($0.arc >> 1)].bandwidth == 12.5e9 }
        // 4 arcs up (tor → spine) and 4 down (spine → tor), a quarter of the flow each.
        #expect(uplinkShares.count == 8)
        #expect(uplinkShares.allSatisfy { abs($0.share - 0.25) < 1e-12 })
        // 4 parallel 100Gb/s paths give 400Gb/s, but the 200Gb/s NIC is tighter.
        #expect(route.bottleneckBandwidth == 25e9)
        // Flow is conserved: the shares on arcs leaving the source sum to 1.
        let leaving = route.arcs.filter { cluster.tail(of: $0.arc) == cluster.accelerators[0] }.map(\.share).reduce(0, +)
        #expect(abs(leaving - 1) < 1e-12)
        #expect(cluster.levelsCrossed(between: cluster.accelerators[0], and: cluster.accelerators[8]).map(\.name) == ["host", "rack"])
    }

    @Test func acceleratorsDoNotForwardUnlessMarked() throws {
        // A ring of three GPUs with no switch: 0–2 must not pass through 1 …
        let ring = """
            <cluster name="ring">
              <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="1TFLOP/s"/></accelerator-model>
              <fabric><host>
                <accelerator id="gpu" model="g" count="3" FORWARDS/>
                <cpu id="cpu"/>
                <link a="gpu[0]" b="gpu[1]" bandwidth="50GB/s"/>
                <link a="gpu[1]" b="gpu[2]" bandwidth="50GB/s"/>
                <link a="gpu" b="cpu" bandwidth="10GB/s"/>
              </host></fabric>
            </cluster>
            """
        let plain = try Self.load(ring.replacingOccurrences(of: "FORWARDS", with: ""))
        let viaCPU = try Router(cluster: plain).route(fromRank: 0, toRank: 2)
        #expect(viaCPU.bottleneckBandwidth == 10e9)
        let forwarding = try Self.load(ring.replacingOccurrences(of: "FORWARDS", with: "forwards=\"true\""))
        let viaGPU = try Router(cluster: forwarding).route(fromRank: 0, toRank: 2)
        #expect(viaGPU.bottleneckBandwidth == 50e9)
        #expect(viaGPU.minimumHops == 2)
    }

    @Test func peersAndLocalRanks() throws {
        let cluster = try Self.load(Self.twoTier)
        let host = try #require(cluster.level(named: "host"))
        let rack = try #require(cluster.level(named: "rack"))
        #expect(cluster.localRank(of: 6, at: host) == 2)
        #expect(cluster.peers(of: 6, at: host) == [2, 10, 14])
        #expect(cluster.localRank(of: 6, at: rack) == 6)
        #expect(cluster.peers(of: 6, at: rack) == [14])
        let gpu6 = cluster.accelerators[6]
        #expect(cluster.path(of: gpu6) == "rack[0]/host[1]/gpu[2]")
        #expect(cluster.enclosingDomains(of: gpu6).count == 3)
    }

    @Test func levelSummariesMeasureUplinksAndBisection() throws {
        let cluster = try Self.load(Self.twoTier)
        let summaries = Dictionary(uniqueKeysWithValues: cluster.levelSummaries().map { ($0.level.name, $0) })
        let rack = try #require(summaries["rack"])
        // ToR: 4 NIC links of 200Gb/s down (100 GB/s), 2 spines × 2 × 100Gb/s up (50 GB/s): 2:1.
        #expect(rack.uplinkBandwidth == 50e9)
        #expect(rack.downlinkBandwidth == 100e9)
        #expect(rack.oversubscription == 2)
        // Host halves inside a rack: one host's two NICs, 50 GB/s.
        #expect(rack.bisectionBandwidth == 50e9)
        let cluster0 = try #require(summaries["cluster"])
        #expect(cluster0.oversubscription == nil)
        #expect(abs(cluster0.bisectionBandwidth - 50e9) < 1)
        let host = try #require(summaries["host"])
        // GPUs 0–1 vs 2–3: 2 × 300 GB/s over the NVSwitch plus the 32 GB/s PCIe bridge.
        #expect(abs(host.bisectionBandwidth - 632e9) < 1)
    }

    /// The DGX-1 hybrid cube-mesh is not a tree: GPU pairs with two NVLinks, one NVLink, or none.
    @Test func dgx1CubeMeshRoutesOverNVLinkWhereItExists() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("topologies/dgx1-v100-128.xml").path
        let cluster = try ClusterLoader.load(path: path)
        let router = Router(cluster: cluster)
        // 0–3: two NVLinks (parallel="2"), ECMP over both: 2 × 25 GB/s, one hop.
        let doubled = try router.route(fromRank: 0, toRank: 3)
        #expect(doubled.minimumHops == 1 && doubled.pathCount == 2 && doubled.bottleneckBandwidth == 50e9)
        // 0–1: one NVLink.
        let single = try router.route(fromRank: 0, toRank: 1)
        #expect(single.minimumHops == 1 && single.bottleneckBandwidth == 25e9)
        // 0–5: no NVLink; GPUs do not relay, so PCIe switch → CPU → QPI → CPU → PCIe switch.
        let noLink = try router.route(fromRank: 0, toRank: 5)
        #expect(noLink.minimumHops == 5)
        let media = Set(noLink.arcs.compactMap { cluster.links[Int($0.arc >> 1)].medium })
        #expect(media == ["pcie", "qpi"])
        #expect(noLink.bottleneckBandwidth < 25e9)
        // Across hosts: out through a NIC, over the InfiniBand fabric.
        let remote = try router.route(fromRank: 0, toRank: 127)
        #expect(cluster.levelsCrossed(between: cluster.accelerators[0], and: cluster.accelerators[127]).map(\.name) == ["host", "rack"])
        #expect(remote.bottleneckBandwidth == 12.5e9)
    }

    /// Two host templates with different accelerators in one cluster.
    @Test func heterogeneousClustersLoadAndRoute() throws {
        let text = """
            <cluster name="mixed">
              <accelerator-model id="h100" memory="80GB" memory-bandwidth="3.35TB/s"><peak precision="bf16" flops="989TFLOP/s"/></accelerator-model>
              <accelerator-model id="a100" memory="40GB" memory-bandwidth="1.555TB/s"><peak precision="bf16" flops="312TFLOP/s"/></accelerator-model>
              <template id="new"><accelerator id="gpu" model="h100" count="8"/><switch id="nvswitch"/><nic id="nic"/>
                <link a="gpu" b="nvswitch" bandwidth="450GB/s"/><link a="nic" b="nvswitch" bandwidth="50GB/s"/></template>
              <template id="old"><accelerator id="gpu" model="a100" count="4"/><switch id="nvswitch"/><nic id="nic"/>
                <link a="gpu" b="nvswitch" bandwidth="300GB/s"/><link a="nic" b="nvswitch" bandwidth="25GB/s"/></template>
              <fabric>
                <switch id="tor"/>
                <host template="new" as="fresh" count="2"/>
                <host template="old" as="legacy" count="1"/>
                <link a="fresh/nic" b="tor" bandwidth="400Gb/s"/>
                <link a="legacy/nic" b="tor" bandwidth="200Gb/s"/>
              </fabric>
            </cluster>
            """
        let cluster = try Self.load(text)
        #expect(cluster.accelerators.count == 20)
        #expect(cluster.model(of: cluster.accelerators[0])?.id == "h100")
        #expect(cluster.model(of: cluster.accelerators[19])?.id == "a100")
        let host = try #require(cluster.level(named: "host"))
        #expect(cluster.domains(at: host).count == 3)
        let summary = try #require(cluster.levelSummaries().first { $0.level.name == "host" })
        #expect(summary.heterogeneous)
        // From an H100 to an A100 host: the older host's 200Gb/s NIC is the bottleneck.
        let route = try Router(cluster: cluster).route(fromRank: 0, toRank: 19)
        #expect(route.bottleneckBandwidth == 25e9)
    }
}
