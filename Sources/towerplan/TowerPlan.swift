import ArgumentParser
import Topology
import Foundation

@main
struct TowerPlan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "towerplan",
        abstract: "Plan Disaggregated Multi-Tower layouts for recommendation-model training on GPU clusters.",
        subcommands: [])
    @Argument var file: String
    func run() throws {
        let t0 = Date()
        let c = try ClusterLoader.load(path: file)
        print(c.devices.count, c.links.count, c.accelerators.count, c.domains.count, c.levels.map(\.name), Date().timeIntervalSince(t0))
        let bw = Set(c.links.map { Units.formatBits(perSecond: $0.bandwidth) })
        print(bw)
    }
}
