import ArgumentParser
import Foundation
import Topology

/// `towerplan topo route FILE --from A --to B`
struct TopoRoute: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show how traffic between two accelerators travels: levels crossed, ECMP paths, bottleneck, latency.",
        discussion: """
            Accelerators are named by rank (host-major order, as launchers number them).

            Examples:
              towerplan topo route topologies/llama3-h100-24k.xml --from 0 --to 24575
              towerplan topo route topologies/dgx1-v100-128.xml --from 0 --to 5 --json
            """)

    @Argument(help: "Cluster file.")
    var file: String

    @Option(help: "Source accelerator rank.")
    var from: Int

    @Option(help: "Destination accelerator rank.")
    var to: Int

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let cluster = try loadClusterOrExit(file)
        for (name, rank) in [("--from", from), ("--to", to)] where !(0..<cluster.accelerators.count).contains(rank) {
            printError("\(name) \(rank): the cluster has accelerators 0 to \(cluster.accelerators.count - 1)")
            throw ExitCode(1)
        }
        let source = cluster.accelerators[from]
        let destination = cluster.accelerators[to]
        let route: Route
        do {
            route = try Router(cluster: cluster).route(from: source, to: destination)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let report = RouteReport(cluster: cluster, route: route)
        if json {
            print(try jsonText(report))
        } else {
            print(report.text)
        }
    }
}

/// A route in words and numbers.
struct RouteReport: Encodable {
    struct Hop: Encodable {
        let from: String
        let to: String
        let share: Double
        let bytesPerSecond: Double
        let medium: String?
    }
    let source: String
    let destination: String
    let levelsCrossed: [String]
    let pathCount: Double
    let minimumHops: Int
    let maximumHops: Int
    let latencySeconds: Double
    let bottleneckBytesPerSecond: Double
    let hops: [Hop]

    init(cluster: Cluster, route: Route) {
        source = cluster.path(of: route.source)
        destination = cluster.path(of: route.destination)
        levelsCrossed = cluster.levelsCrossed(between: route.source, and: route.destination).map(\.name)
        pathCount = route.pathCount
        minimumHops = route.minimumHops
        maximumHops = route.maximumHops
        latencySeconds = route.latency
        bottleneckBytesPerSecond = route.bottleneckBandwidth
        hops = route.arcs.map { item in
            let link = cluster.links[Int(item.arc >> 1)]
            return Hop(
                from: cluster.path(of: cluster.tail(of: item.arc)), to: cluster.path(of: cluster.head(of: item.arc)),
                share: item.share, bytesPerSecond: link.bandwidth, medium: link.medium)
        }
    }

    var text: String {
        var lines = [
            "\(source) → \(destination)",
            "crosses: \(levelsCrossed.isEmpty ? "nothing (same innermost domain)" : levelsCrossed.joined(separator: ", "))",
            "paths: \(Int(pathCount)) of \(minimumHops == maximumHops ? "\(minimumHops)" : "\(minimumHops)–\(maximumHops)") hops; latency \(Units.formatDuration(latencySeconds)); bottleneck \(Units.formatBits(perSecond: bottleneckBytesPerSecond)) (\(Units.formatBytes(perSecond: bottleneckBytesPerSecond)))",
        ]
        let shown = hops.prefix(40)
        for hop in shown {
            let share = hop.share < 1 ? String(format: "  %.3g of the flow", hop.share) : ""
            lines.append("  \(hop.from) → \(hop.to)  \(Units.formatBits(perSecond: hop.bytesPerSecond))\(hop.medium.map { " " + $0 } ?? "")\(share)")
        }
        if hops.count > shown.count { lines.append("  … \(hops.count - shown.count) more arcs (--json lists all)") }
        return lines.joined(separator: "\n")
    }
}
