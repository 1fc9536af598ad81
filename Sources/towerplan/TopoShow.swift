import ArgumentParser
import Foundation
import Topology

/// `towerplan topo show FILE`
struct TopoShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Summarise a cluster: levels, counts, devices, bandwidth, bisection and oversubscription per level.",
        discussion: """
            Figures per level are measured on its first instance: uplink is the total bandwidth
            leaving one instance, oversubscription is what the instance feeds its uplink devices
            divided by the uplink, bisection is the max-flow between two halves of its children.

            Examples:
              towerplan topo show topologies/llama3-h100-24k.xml
              towerplan topo show topologies/grand-teton-h100-512.xml --json
            """)

    @Argument(help: "Cluster file.")
    var file: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let cluster = try loadClusterOrExit(file)
        let summary = ClusterReport(cluster: cluster)
        if json {
            print(try jsonText(summary))
        } else {
            print(summary.table())
        }
    }
}

/// What `topo show` prints, as a value so the table and the JSON stay in step.
struct ClusterReport: Encodable {
    struct LevelRow: Encodable {
        let name: String
        let count: Int
        let acceleratorsPerInstance: Int
        let devicesPerInstance: Int
        let uplinkBytesPerSecond: Double
        let uplinkBytesPerSecondPerAccelerator: Double
        let oversubscription: Double?
        let bisectionBytesPerSecond: Double
        let heterogeneous: Bool
    }
    struct ModelRow: Encodable {
        let id: String
        let count: Int
        let memoryBytes: Double
        let memoryBytesPerSecond: Double
        let peakFlopsPerSecond: [String: Double]
    }
    let name: String
    let description: String?
    /// `Cluster.sharedCores`: the cores the accelerators (CPU ranks) time-share.
    let sharedCores: Int?
    let gpus: Int
    let hosts: Int
    let devices: [String: Int]
    let links: Int
    let levels: [LevelRow]
    let accelerators: [ModelRow]

    init(cluster: Cluster) {
        name = cluster.name
        description = cluster.description
        sharedCores = cluster.sharedCores
        gpus = cluster.accelerators.count
        hosts = cluster.level(named: "host").map { cluster.domains(at: $0).count } ?? 0
        var kinds: [String: Int] = [:]
        for device in cluster.devices { kinds[device.kind.rawValue, default: 0] += 1 }
        devices = kinds
        links = cluster.links.count
        levels = cluster.levelSummaries().map { summary in
            LevelRow(
                name: summary.level.name, count: summary.count, acceleratorsPerInstance: summary.acceleratorsPerInstance,
                devicesPerInstance: summary.devicesPerInstance, uplinkBytesPerSecond: summary.uplinkBandwidth,
                uplinkBytesPerSecondPerAccelerator: summary.acceleratorsPerInstance > 0
                    ? summary.uplinkBandwidth / Double(summary.acceleratorsPerInstance) : 0,
                oversubscription: summary.oversubscription, bisectionBytesPerSecond: summary.bisectionBandwidth,
                heterogeneous: summary.heterogeneous)
        }
        var modelCounts: [String: Int] = [:]
        for device in cluster.accelerators {
            if let model = cluster.model(of: device) { modelCounts[model.id, default: 0] += 1 }
        }
        accelerators = modelCounts.keys.sorted().compactMap { id in
            guard let model = cluster.models[id] else { return nil }
            return ModelRow(
                id: id, count: modelCounts[id]!, memoryBytes: model.memoryBytes, memoryBytesPerSecond: model.memoryBandwidth,
                peakFlopsPerSecond: Dictionary(uniqueKeysWithValues: model.peakFLOPS.map { ($0.key.rawValue, $0.value) }))
        }
    }


    func table() -> String {
        var lines: [String] = []
        lines.append("\(name): \(gpus) accelerators in \(hosts) hosts, \(devices.values.reduce(0, +)) devices, \(links) links")
        if let description { lines.append(description) }
        if let sharedCores { lines.append("the \(gpus) accelerators time-share \(sharedCores) CPU cores (shared-cores)") }
        for model in accelerators {
            let peaks = ["bf16", "fp16", "fp8", "fp32"].compactMap { key in
                model.peakFlopsPerSecond[key].map { "\(key) \(Units.formatFLOPS($0))" }
            }
            lines.append("  \(model.count) × \(model.id): \(Units.formatBytes(model.memoryBytes)) at \(Units.formatBytes(perSecond: model.memoryBytesPerSecond)); \(peaks.joined(separator: ", "))")
        }
        lines.append("")
        let header = ["level", "count", "GPUs each", "uplink each", "uplink/GPU", "oversub", "bisection"]
        var rows: [[String]] = [header]
        for level in levels {
            rows.append([
                level.name + (level.heterogeneous ? "*" : ""), String(level.count), String(level.acceleratorsPerInstance),
                level.uplinkBytesPerSecond > 0 ? Units.formatBits(perSecond: level.uplinkBytesPerSecond) : "-",
                level.uplinkBytesPerSecond > 0 ? Units.formatBits(perSecond: level.uplinkBytesPerSecondPerAccelerator) : "-",
                level.oversubscription.map(Self.formatOversubscription) ?? "-",
                level.bisectionBytesPerSecond > 0 ? Units.formatBits(perSecond: level.bisectionBytesPerSecond) : "-",
            ])
        }
        lines += textTable(rows, rightAligned: Set(1..<header.count))
        if levels.contains(where: \.heterogeneous) {
            lines.append("* instances differ; figures are those of the first instance")
        }
        return lines.joined(separator: "\n")
    }

    /// 7 → "1:7"; below 1 the uplinks have headroom, shown as such rather than as a fraction.
    static func formatOversubscription(_ ratio: Double) -> String {
        ratio >= 0.995 ? Units.formatRatio(ratio) : "1:1 (uplink \(String(format: "%.2f", 1 / ratio))× feed)"
    }
}
