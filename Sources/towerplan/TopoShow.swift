import ArgumentParser
import Topology

/// `towerplan topo show FILE`
struct TopoShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Summarise a cluster: levels, counts, devices, bandwidth, bisection and oversubscription per level.")

    @Argument(help: "Cluster file.")
    var file: String

    func run() throws {
        let cluster = try ClusterLoader.load(path: file)
        print(cluster.name)
    }
}
