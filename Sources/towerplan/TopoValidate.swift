import ArgumentParser
import SchemaXML
import Topology

/// `towerplan topo validate FILE…`
struct TopoValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check cluster files against the schema and for meaning (references, sizes, connectivity).",
        discussion: """
            Exits 0 when every file is valid. Otherwise prints every problem as file:line: message
            and exits 1.

            Example:
              towerplan topo validate topologies/*.xml
            """)

    @Argument(help: "Cluster files to check.")
    var files: [String]

    func run() throws {
        var failed = false
        for file in files {
            do {
                let cluster = try ClusterLoader.load(path: file)
                print("\(file): valid (\(cluster.accelerators.count) accelerators, \(cluster.devices.count) devices, \(cluster.links.count) links)")
            } catch {
                failed = true
                printError(error.description)
            }
        }
        if failed { throw ExitCode(1) }
    }
}
