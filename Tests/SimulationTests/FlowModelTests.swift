import Foundation
import Testing
import Topology

@testable import Simulation

/// Closed-form checks of the max-min fair flow model.
@Suite struct FlowModelTests {
    /// `pods` pods of `racksPerPod` racks of one 4-GPU host; NIC 100Gb/s (12.5 GB/s) per GPU, ToR
    /// uplinks 1:1 to the pod spine, pod uplinks to the core at `oversubscription`.
    static func cluster(pods: Int, racksPerPod: Int, oversubscription: String, latency: String = "0us") throws -> Cluster {
        let text = """
            <cluster name="test">
              <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
              <template id="box">
                <accelerator id="gpu" model="g" count="4"/>
                <nic id="nic" count="4"/>
                <link a="gpu" b="nic" pattern="one-to-one" bandwidth="64GB/s" latency="\(latency)"/>
              </template>
              <fabric>
                <level name="pod" count="\(pods)">
                  <switch id="spine"/>
                  <level name="rack" count="\(racksPerPod)">
                    <switch id="tor"/>
                    <host template="box"/>
                    <link a="host/nic" b="tor" bandwidth="100Gb/s" latency="\(latency)"/>
                  </level>
                  <link a="rack/tor" b="spine" oversubscription="1:1" latency="\(latency)"/>
                </level>
                <switch id="core"/>
                <link a="pod/spine" b="core" oversubscription="\(oversubscription)" latency="\(latency)"/>
              </fabric>
            </cluster>
            """
        return try ClusterLoader.load(data: Data(text.utf8), name: "test.xml")
    }

    static func allToAll(_ cluster: Cluster, bytes: (Int, Int) -> Double) -> [Flow] {
        let count = cluster.accelerators.count
        return (0..<count).flatMap { i in
            (0..<count).compactMap { j in
                i == j ? nil : Flow(source: cluster.accelerators[i], destination: cluster.accelerators[j], bytes: bytes(i, j))
            }
        }
    }

    @Test func allToAllOnNonBlockingFabricIsBytesOverNICBandwidth() throws {
        let cluster = try Self.cluster(pods: 2, racksPerPod: 2, oversubscription: "1:1")
        let model = FlowModel(cluster: cluster)
        let bytes = 1e6
        let outcome = try model.run(Self.allToAll(cluster) { _, _ in bytes })
        // 16 GPUs; every NIC sends 15 × 1 MB at 12.5 GB/s: the NIC is the bottleneck.
        #expect(abs(outcome.completionTime - 15 * bytes / 12.5e9) / outcome.completionTime < 1e-9)
    }

    @Test func latencyIsAddedOncePerPath() throws {
        let cluster = try Self.cluster(pods: 2, racksPerPod: 2, oversubscription: "1:1", latency: "1us")
        let outcome = try FlowModel(cluster: cluster).run(Self.allToAll(cluster) { _, _ in 1e6 })
        // Longest path: gpu-nic-tor-spine-core-spine-tor-nic-gpu, 8 links of 1 us.
        #expect(abs(outcome.completionTime - (15e6 / 12.5e9 + 8e-6)) < 1e-12)
    }

    @Test func oversubscribedUplinkThrottlesExactlyCrossPodTraffic() throws {
        let fair = try Self.cluster(pods: 2, racksPerPod: 2, oversubscription: "1:1")
        let tight = try Self.cluster(pods: 2, racksPerPod: 2, oversubscription: "1:7")
        // Cross-pod only: rank i sends to rank i + 8 (the same position in the other pod).
        let crossPod: (Cluster) -> [Flow] = { cluster in
            (0..<16).map { i in
                Flow(source: cluster.accelerators[i], destination: cluster.accelerators[(i + 8) % 16], bytes: 8e6)
            }
        }
        let fast = try FlowModel(cluster: fair).run(crossPod(fair)).completionTime
        let slow = try FlowModel(cluster: tight).run(crossPod(tight)).completionTime
        #expect(abs(slow / fast - 7) < 1e-9)
        // Traffic inside a pod does not cross the core and does not notice the ratio.
        let inPod: (Cluster) -> [Flow] = { cluster in
            (0..<16).map { i in
                Flow(source: cluster.accelerators[i], destination: cluster.accelerators[(i + 4) % 8 + (i / 8) * 8], bytes: 8e6)
            }
        }
        let a = try FlowModel(cluster: fair).run(inPod(fair)).completionTime
        let b = try FlowModel(cluster: tight).run(inPod(tight)).completionTime
        #expect(abs(a - b) < 1e-15)
    }

    @Test func flowsSharingALinkFinishInMaxMinOrder() throws {
        let cluster = try Self.cluster(pods: 1, racksPerPod: 2, oversubscription: "1:1")
        let a = cluster.accelerators
        // Two flows leave GPU 0 through its NIC (12.5 GB/s): 1 MB and 3 MB.
        let outcome = try FlowModel(cluster: cluster).run([
            Flow(source: a[0], destination: a[4], bytes: 1e6),
            Flow(source: a[0], destination: a[5], bytes: 3e6),
        ])
        // Both run at 6.25 GB/s until the first is done (160 us); the second then runs at 12.5 GB/s.
        #expect(abs(outcome.finishTimes[0] - 1e6 / 6.25e9) < 1e-15)
        #expect(abs(outcome.finishTimes[1] - 4e6 / 12.5e9) < 1e-15)
    }

    @Test func unconstrainedFlowTakesTheCapacityOthersLeave() throws {
        let cluster = try Self.cluster(pods: 1, racksPerPod: 2, oversubscription: "1:1")
        let a = cluster.accelerators
        // GPU 0 → GPU 1 inside a host goes gpu-nic-tor-nic-gpu: shares the ToR→NIC(1) arc with
        // GPU 4 → GPU 1. Both limited by NIC 1's downlink: 6.25 GB/s each.
        let outcome = try FlowModel(cluster: cluster).run([
            Flow(source: a[0], destination: a[1], bytes: 1e6),
            Flow(source: a[4], destination: a[1], bytes: 1e6),
            Flow(source: a[5], destination: a[2], bytes: 1e6),
        ])
        #expect(abs(outcome.finishTimes[0] - 1e6 / 6.25e9) < 1e-15)
        #expect(abs(outcome.finishTimes[2] - 1e6 / 12.5e9) < 1e-15)
        let busiest = outcome.busiestArcs(in: cluster, limit: 1)
        #expect(busiest.first.map { abs($0.utilization - 1) < 1e-9 } == true)
    }
}

/// The two sharing rules of `FlowModel.Fairness` on a case where they differ.
@Suite struct FlowFairnessTests {
    /// gpu0 (0.6 GB/s uplink) and gpu1 (10 GB/s) both send to gpu2 (1 GB/s downlink).
    static let text = """
        <cluster name="fair">
          <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="1TFLOP/s"/></accelerator-model>
          <fabric>
            <level name="rack" count="1">
              <switch id="s"/>
              <host count="1">
                <accelerator id="gpu" model="g" count="3"/>
              </host>
              <link a="host/gpu[0]" b="s" bandwidth="0.6GB/s"/>
              <link a="host/gpu[1]" b="s" bandwidth="10GB/s"/>
              <link a="host/gpu[2]" b="s" bandwidth="1GB/s"/>
            </level>
          </fabric>
        </cluster>
        """

    @Test func sizeWeightedSharingEndsWhenTheBusiestArcHasCarriedItsLoad() throws {
        let cluster = try ClusterLoader.load(data: Data(Self.text.utf8), name: "fair.xml")
        let gpus = cluster.accelerators
        let flows = [Flow(source: gpus[0], destination: gpus[2], bytes: 3e6), Flow(source: gpus[1], destination: gpus[2], bytes: 1e6)]
        let model = FlowModel(cluster: cluster)
        // Per flow: both get 0.5 GB/s on gpu2's downlink; the small one ends at 2 ms, then the large
        // one is held to 0.6 GB/s by its own uplink: 2 ms + 2 MB / 0.6 GB/s = 5.33 ms.
        let perFlow = try model.run(flows, fairness: .perFlow)
        #expect(abs(perFlow.completionTime - (2e-3 + 2e6 / 0.6e9)) < 1e-12)
        #expect(abs(perFlow.finishTimes[1] - 2e-3) < 1e-12)
        // Size-weighted: the large flow runs at 0.6 GB/s from the start (its uplink is the busiest
        // arc, 3 MB / 0.6 GB/s = 5 ms) and the small one takes the remaining 0.4 GB/s.
        let weighted = try model.run(flows, fairness: .sizeWeighted)
        #expect(abs(weighted.completionTime - 5e-3) < 1e-12)
        #expect(abs(weighted.finishTimes[1] - 2.5e-3) < 1e-12)
    }
}
