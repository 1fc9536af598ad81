import Foundation
import Partitioning
import Simulation
import Topology
import Workload

/// The files that make a plan reproducible by hand, and the `towerplan simulate` commands that
/// read them: the best plan's partition (`partition.json`), and a workload file when its
/// compression differs from the workload's own (`WorkloadVariantFile`). Each is written
/// atomically. The commands name the files by the paths given, so they run from the same folder
/// the plan ran from.
public struct PlanFiles: Sendable, Codable {
    /// The partition file of the best plan; nil without one.
    public var partition: String?
    /// The workload the best plan's command reads: the original, or the variant written.
    public var towersWorkload: String
    /// `simulate` for the flat baseline.
    public var flatCommand: String?
    /// `simulate` for the best plan.
    public var towersCommand: String?

    /// Writes the files of `result` into `folder` (which must exist).
    public static func write(
        _ result: PlanResult, problem: PlanningProblem, workloadPath: String, topologyPath: String, folder: String, flatSharding: ShardingType
    ) throws -> PlanFiles {
        var files = PlanFiles(partition: nil, towersWorkload: workloadPath, flatCommand: nil, towersCommand: nil)
        if result.baseline != nil {
            files.flatCommand = command(["--topology", topologyPath, "--workload", workloadPath, "--sharding", flatSharding.rawValue])
        }
        guard let best = result.best, let configuration = best.layout.towers, let partition = best.partition else { return files }
        let variant = LayoutPlans.workload(problem.workload, compression: configuration.compression)
        if variant.name != problem.workload.name, let ratio = configuration.compression {
            let path = (folder as NSString).appendingPathComponent("\(variant.name).xml")
            try WorkloadVariantFile.write(problem.workload, path: workloadPath, compression: ratio, to: path)
            files.towersWorkload = path
        }
        var file = partition.file
        file.workload = variant.name
        let partitionPath = (folder as NSString).appendingPathComponent("partition.json")
        try file.write(to: partitionPath)
        files.partition = partitionPath
        files.towersCommand = command([
            "--topology", topologyPath, "--workload", files.towersWorkload, "--layout", "sptt", "--tower-domain", configuration.level,
            "--intra-domain", configuration.intraDomain.rawValue, "--partition", partitionPath,
        ])
        return files
    }

    /// `towerplan simulate ARGS`, each argument quoted for a POSIX shell when it needs it.
    static func command(_ arguments: [String]) -> String {
        (["towerplan", "simulate"] + arguments.map { argument in
            argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./@=,".contains($0) } ? argument : "'" + argument.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
        }).joined(separator: " ")
    }
}
