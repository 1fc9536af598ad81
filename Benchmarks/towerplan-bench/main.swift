// Performance harness (not a test): times the topology pipeline and the exact communication model
// on the shipped presets. Run in release:
//   swift run -c release towerplan-bench [topology|alltoall|aggregated|simulate|partition]
// Prints one row per preset; every figure is measured in this run.
import Foundation
import Simulation
import Topology
import Workload

/// `text` left-aligned in `width` columns (String(format:) does not pad %@).
func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }

func seconds(_ work: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try work()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Peak resident memory of this process so far, bytes (Linux: VmHWM).
func peakResidentBytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
    return kilobytes * 1024
}

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let presets = ["dgx1-v100-128", "zionex-a100-128", "grand-teton-h100-512", "gb200-nvl72-576", "llama3-h100-24k"]
let mode = CommandLine.arguments.dropFirst().first ?? "topology"

switch mode {
case "topology":
    print("preset                  GPUs  devices   links   load+expand   20 routes (first↔last, spread)   peak RSS")
    for preset in presets {
        let path = root.appendingPathComponent("topologies/\(preset).xml").path
        var cluster: Cluster?
        let load = try seconds { cluster = try ClusterLoader.load(path: path) }
        guard let cluster else { continue }
        let router = Router(cluster: cluster)
        let count = cluster.accelerators.count
        let pairs = (0..<20).map { index in (Int32(index * 7919 % count), Int32((count - 1 - index * 104_729 % count))) }
        let route = try seconds { for (a, b) in pairs { _ = try router.route(fromRank: a, toRank: b) } }
        print(pad(preset, 22) + String(format: " %6d %8d %7d %10.3f s %14.4f s (%.2f ms each) %10.0f MB",
            count, cluster.devices.count, cluster.links.count, load, route, route / 20 * 1e3, peakResidentBytes() / 1e6))
    }
case "alltoall":
    print("preset                  GPUs   flows      uniform all-to-all of 1 MB per pair: simulated time, wall time")
    for preset in presets where !preset.hasPrefix("llama3") {
        let cluster = try ClusterLoader.load(path: root.appendingPathComponent("topologies/\(preset).xml").path)
        let model = ExactCommunicationModel(cluster: cluster)
        let ranks = (0..<Int32(cluster.accelerators.count)).map { $0 }
        var result: CollectiveResult?
        let wall = try seconds { result = try model.simulate(Collective(kind: .allToAll, groups: [ranks], traffic: .uniform(1e6))) }
        print(pad(preset, 22) + String(format: " %6d %8d   %10.4f s simulated   %8.2f s wall", ranks.count,
            ranks.count * (ranks.count - 1), result?.seconds ?? 0, wall))
    }
case "aggregated":
    // The aggregated model against the exact one, and its cost up to 24,576 GPUs.
    print("preset                  GPUs  pattern        exact (s)   aggregated (s)   ratio   exact wall  aggregated wall")
    for preset in presets {
        let cluster = try ClusterLoader.load(path: root.appendingPathComponent("topologies/\(preset).xml").path)
        let ranks = (0..<Int32(cluster.accelerators.count)).map { $0 }
        let heavy = Dictionary(uniqueKeysWithValues: ranks.map { ($0, 1 + Double($0 % 5)) })
        let patterns: [(String, AllToAllTraffic)] = [
            ("uniform", .uniform(1e6)),
            ("dest-scaled", AllToAllTraffic(perPair: 1e6, destinationScale: heavy)),
            ("source-scaled", AllToAllTraffic(perPair: 1e6, sourceScale: heavy)),
        ]
        let aggregated: AggregatedCommunicationModel
        do {
            aggregated = try AggregatedCommunicationModel(cluster: cluster)
        } catch {
            print(pad(preset, 22) + String(format: " %6d  exact model only: %@", ranks.count, "\(error)" as NSString))
            continue
        }
        for (name, traffic) in patterns {
            let collective = Collective(kind: .allToAll, groups: [ranks], traffic: traffic)
            var fast: CollectiveResult?
            let fastWall = try seconds { fast = try aggregated.simulate(collective) }
            var slow: CollectiveResult?
            var slowWall = Double.nan
            if ranks.count <= 600 {
                slowWall = try seconds { slow = try ExactCommunicationModel(cluster: cluster).simulate(collective) }
            }
            print(pad(preset, 22) + String(format: " %6d  %@ %10.6f   %12.6f   %7.4f   %8.2f s   %8.3f s", ranks.count,
                pad(name, 13) as NSString, slow?.seconds ?? .nan, fast?.seconds ?? 0, (fast?.seconds ?? 0) / (slow?.seconds ?? .nan), slowWall, fastWall))
        }
    }
case "simulate":
    // One training step (MLPerf DLRM and prod-512), flat and SPTT, on every preset, from load to result; the
    // 8-GPU row is a single Grand Teton host (the preset's template, imported).
    let single = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-bench-8gpu.xml")
    try """
        <cluster name="grand-teton-h100-8"><import href="\(root.path)/topologies/grand-teton-h100-512.xml"/>
        <fabric><host template="grand-teton"/></fabric></cluster>
        """.write(to: single, atomically: true, encoding: .utf8)
    for workloadName in ["dlrm-criteo-terabyte", "prod-512"] {
    let workloadPath = root.appendingPathComponent("workloads/\(workloadName).xml").path
    print("\n\(workloadName)")
    print("cluster                 GPUs   flat: step (simulated)  wall     sptt: step (simulated)  wall     model")
    for path in [single.path] + presets.map({ root.appendingPathComponent("topologies/\($0).xml").path }) {
        var row = ""
        var name = ""
        var gpus = 0
        var modelName = ""
        for layout in ["flat", "sptt"] {
            var result: StepResult?
            var failure: String?
            let wall = try seconds {
                let cluster = try ClusterLoader.load(path: path)
                let workload = try WorkloadLoader.load(path: workloadPath)
                name = cluster.name
                gpus = cluster.accelerators.count
                do {
                    let plan = layout == "flat"
                        ? try FlatLayout(sharding: .tableWise).plan(workload: workload, cluster: cluster)
                        : try SPTTLayout(towerLevel: nil, towerCount: nil, intraDomain: .rowWise).plan(workload: workload, cluster: cluster)
                    let communication = AggregatedCommunicationModel.best(for: cluster)
                    modelName = communication is AggregatedCommunicationModel ? "aggregated" : "exact"
                    result = try StepModel(communication: communication).simulate(plan)
                } catch {
                    failure = "does not fit"
                }
            }
            if let failure {
                row += "   " + pad(failure, 25)
            } else {
                row += String(format: "   %12.2f ms  %8.3f s", (result?.stepSeconds ?? 0) * 1e3, wall)
            }
        }
        print(pad(name, 22) + String(format: " %6d", gpus) + row + "     " + modelName)
    }
    }
case "partition":
    try partitionBenchmark(dump: CommandLine.arguments.firstIndex(of: "--dump").map { CommandLine.arguments[$0 + 1] })
case "debug":
    let cluster = try ClusterLoader.load(path: root.appendingPathComponent("topologies/grand-teton-h100-512.xml").path)
    let ranks = (0..<Int32(cluster.accelerators.count)).map { $0 }
    let heavy = Dictionary(uniqueKeysWithValues: ranks.map { ($0, 1 + Double($0 % 5)) })
    let collective = Collective(kind: .allToAll, groups: [ranks], traffic: AllToAllTraffic(perPair: 1e6, destinationScale: heavy))
    let a = try AggregatedCommunicationModel(cluster: cluster).simulate(collective)
    let e = try ExactCommunicationModel(cluster: cluster).simulate(collective)
    var worst = 0.0
    for (arc, bytes) in e.arcBytes { worst = max(worst, abs(bytes - (a.arcBytes[arc] ?? 0)) / bytes) }
    let maxE = e.arcBytes.map { $0.value / cluster.links[Int($0.key >> 1)].bandwidth }.max()!
    let maxA = a.arcBytes.map { $0.value / cluster.links[Int($0.key >> 1)].bandwidth }.max()!
    print("arcs exact \(e.arcBytes.count) aggregated \(a.arcBytes.count) worst relative load difference \(worst); max load/bw exact \(maxE) aggregated \(maxA); times \(e.seconds) \(a.seconds)")
    print(e.bytesPerRankByLevel, a.bytesPerRankByLevel)
default:
    print("usage: towerplan-bench [topology|alltoall|aggregated|simulate|partition [--dump DIR]]")
}
