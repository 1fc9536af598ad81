import ArgumentParser
import Foundation
import Reports
import Topology

/// `towerplan topo draw FILE -o OUT.{svg,png,pdf,dot} [--expanded | --collapsed]`
struct TopoDraw: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw a cluster as a Graphviz diagram: domains as boxes, devices as nodes, links by bandwidth.",
        discussion: """
            The format follows the output's extension: .svg (hover for device paths), .png, .pdf, \
            or .dot (Graphviz source with the layout's positions).

            Clusters of more than 64 accelerators are collapsed by default: each group of repeated \
            racks, hosts or pods is drawn once ("rack ×32 (1 shown)"), runs of more than 8 \
            identical devices become one node, and an edge's "×N" says how many links it stands for.

            Examples:
              towerplan topo draw topologies/grand-teton-h100-512.xml -o grand-teton.png
              towerplan topo draw topologies/llama3-h100-24k.xml -o llama3.svg
              towerplan topo draw small.xml -o small.pdf --expanded
            """)

    enum Layout: String, EnumerableFlag {
        case expanded, collapsed

        static func help(for value: Layout) -> ArgumentHelp? {
            switch value {
            case .expanded: "Draw every domain and device (at most 3,000 nodes)."
            case .collapsed: "Draw each group of repeated domains once, even for a small cluster."
            }
        }
    }

    @Argument(help: "Cluster file.")
    var file: String

    @Option(name: .shortAndLong, help: "Output file: .svg, .png, .pdf or .dot.")
    var output: String

    @Flag(help: "Default: expanded up to 64 accelerators, collapsed above.")
    var layout: Layout?

    func validate() throws {
        do {
            _ = try DiagramFormat(path: output)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let cluster = try loadClusterOrExit(file)
        let collapse: DiagramOptions.Collapse =
            switch layout {
            case .expanded: .expanded
            case .collapsed: .collapsed
            case nil: .automatic
            }
        let diagram = TopologyDiagram(cluster: cluster, options: DiagramOptions(collapse: collapse))
        do {
            try diagram.write(to: output)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        print("wrote \(output): \(diagram.nodeCount) device nodes, \(diagram.edgeCount) edges"
            + (diagram.isCollapsed ? " (collapsed: repeated parts drawn once)" : ""))
    }
}
