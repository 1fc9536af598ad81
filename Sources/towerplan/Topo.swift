import ArgumentParser

/// `towerplan topo …`: describe, check, draw and import cluster topologies.
struct Topo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe, check, draw and import cluster topologies.",
        subcommands: [
            TopoValidate.self,
            TopoShow.self,
            TopoDraw.self,
            TopoImportNCCL.self,
            TopoRoute.self,
        ])
}
