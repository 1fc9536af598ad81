import ArgumentParser

@main
struct TowerPlan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "towerplan",
        abstract: "Plan Disaggregated Multi-Tower layouts for recommendation-model training on GPU clusters.",
        subcommands: [Topo.self, Simulate.self, Train.self, Partition.self, Compare.self, Plan.self, SweepCommand.self, Calibrate.self])
}
