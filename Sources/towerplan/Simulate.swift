import ArgumentParser
import Foundation
import Partitioning
import Simulation
import Topology
import Workload

extension ShardingType: ExpressibleByArgument {}
extension SPTTLayout.IntraDomainSharding: ExpressibleByArgument {}

/// `towerplan simulate --topology T --workload W [--layout flat|sptt] …`
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate one training step of a flat or SPTT (DMT) layout: step time, throughput, where the time goes.",
        discussion: """
            Builds the step's task graph (lookups, dense layers, all-to-alls, reduce-scatters, all-reduces), costs compute with a per-GPU roofline and communication on the cluster graph, and schedules it with one compute and one communication stream per GPU. Communication uses the aggregated model on homogeneous clusters, the exact pairwise model otherwise.

            Examples:
              towerplan simulate --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml
              towerplan simulate --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml --layout sptt --intra-domain cw
              towerplan simulate --topology topologies/llama3-h100-24k.xml --workload workloads/prod-512.xml --layout sptt --tower-domain rack --json
              towerplan simulate --topology topologies/grand-teton-h100-512.xml --workload workloads/prod-512.xml --layout sptt --partition towers.json
            """)

    enum Layout: String, ExpressibleByArgument, CaseIterable {
        case flat, sptt
    }

    @Option(help: "Cluster file.")
    var topology: String

    @Option(help: "Workload file.")
    var workload: String

    @Option(help: "flat: one global embedding layer (TorchRec); sptt: DMT towers.")
    var layout: Layout = .flat

    @Option(help: "Flat layout: sharding of every table (tw, rw, cw, twrw, dp). Default tw.")
    var sharding: ShardingType?

    @Option(help: "SPTT: number of towers, at most one per tower domain. Default: one per domain.")
    var towers: Int?

    @Option(name: .customLong("tower-domain"), help: "SPTT: level whose domains hold the towers (host, rack, …). Default: the level enclosing the GPUs.")
    var towerDomain: String?

    @Option(name: .customLong("intra-domain"), help: "SPTT: sharding inside a tower domain (rw or cw). Default rw.")
    var intraDomain: SPTTLayout.IntraDomainSharding?

    @Option(
        help: ArgumentHelp(
            "SPTT: partition file (JSON) naming the features of each tower and the domain that holds it. Default: a balanced split, tower t on domain t.",
            discussion: #"Example: {"format": "towerplan-partition", "version": 1, "workload": "prod-512", "strategy": "manual", "towers": [{"tower": 0, "domain": 0, "features": ["user_history_0", "context_0"]}, …]}; every feature in exactly one tower, tower ids 0 to T−1 (README.md, "Partition files")."#,
            valueName: "file"))
    var partition: String?

    @Flag(inversion: .prefixedNo, help: "Distribute the next batch's ids during this step (TorchRec's sparse-dist pipeline).")
    var overlap = true

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "Write the step timeline as a Chrome trace (opens in Perfetto) to this file.")
    var trace: String?

    func validate() throws {
        switch layout {
        case .flat:
            if towers != nil || towerDomain != nil || intraDomain != nil || partition != nil {
                throw ValidationError(
                    "--towers, --tower-domain, --intra-domain and --partition describe DMT towers; add --layout sptt, or drop them for the flat layout")
            }
        case .sptt:
            if sharding != nil {
                throw ValidationError("--sharding picks the flat layout's sharding; under --layout sptt tables are sharded inside each tower domain, chosen with --intra-domain rw|cw")
            }
        }
        if let towers, towers < 1 { throw ValidationError("--towers must be at least 1, got \(towers)") }
        if partition != nil, towers != nil {
            throw ValidationError("--partition sets the towers (one per entry in the file); drop --towers")
        }
        if let partition, partition.isEmpty { throw ValidationError("--partition needs a file name") }
        if let trace, trace.isEmpty { throw ValidationError("--trace needs a file name") }
    }

    func run() throws {
        let cluster: Cluster
        let model: Workload
        do {
            cluster = try ClusterLoader.load(path: topology)
            model = try WorkloadLoader.load(path: workload)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        var towerLayout = SPTTLayout(towerLevel: towerDomain, towerCount: towers, intraDomain: intraDomain ?? .rowWise)
        var partitionNotes: [String] = []
        if let partition {
            do {
                let file = try PartitionFile.read(path: partition)
                let resolved = try file.resolve(against: model)
                try checkFits(resolved, file: partition, cluster: cluster)
                try towerLayout.apply(resolved)
                partitionNotes.append("towers: \(resolved.towerCount) from \(partition) (strategy '\(file.strategy)')")
                if file.workload != model.name {
                    partitionNotes.append(
                        "towers: \(partition) was made for workload '\(file.workload)', not '\(model.name)'; its features were matched by name")
                }
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        let result: StepResult
        do {
            var plan: StepPlan
            switch layout {
            case .flat:
                plan = try FlatLayout(sharding: sharding ?? .tableWise).plan(workload: model, cluster: cluster)
            case .sptt:
                plan = try towerLayout.plan(workload: model, cluster: cluster)
                plan.notes += partitionNotes
            }
            result = try simulateStep(plan, on: cluster, overlap: overlap)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        if let trace {
            do {
                try ChromeTrace.write(result, to: trace)
            } catch {
                printError("cannot write trace \(trace): \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        let report = SimulationReport(result: result, cluster: cluster, workload: model)
        print(json ? try jsonText(report) : report.text)
    }

    /// Checks a partition against the tower level's domains before planning, so a misfit names the
    /// partition file and the cluster rather than surfacing as a layout error. A level the cluster
    /// lacks is left to `SPTTLayout.plan`, which lists the levels there are.
    private func checkFits(_ partition: ResolvedPartition, file: String, cluster: Cluster) throws(PartitionError) {
        guard let level = cluster.level(named: towerDomain ?? DomainGrid.innermostLevel(of: cluster).name) else { return }
        let domains = cluster.domains(at: level).count
        guard partition.towerCount <= domains else {
            throw PartitionError(
                file: file,
                "has \(partition.towerCount) towers, but cluster \(cluster.name) has \(domains) \(level.name) domains and SPTT puts one tower on each; merge towers, or pick a level with more domains (--tower-domain)")
        }
        if let tower = partition.domainOfTower.firstIndex(where: { $0 >= domains }) {
            throw PartitionError(
                file: file,
                "places tower \(tower) on \(level.name) domain \(partition.domainOfTower[tower]), but cluster \(cluster.name) has \(level.name) domains 0 to \(domains - 1); pick one of those, or another level (--tower-domain)")
        }
    }
}

/// One step of `plan` on `cluster` as `simulate` costs it (and `compare`, so their step times
/// agree): the aggregated communication model on homogeneous clusters, the exact one otherwise.
func simulateStep(_ plan: StepPlan, on cluster: Cluster, overlap: Bool = true) throws -> StepResult {
    try StepModel(communication: AggregatedCommunicationModel.best(for: cluster), overlapInputDistribution: overlap).simulate(plan)
}

extension SPTTLayout {
    /// Takes a partition's towers and their domains (`simulate --partition`, `compare`).
    mutating func apply(_ partition: ResolvedPartition) throws(SimulationError) {
        assignment = try TowerAssignment(towerOfFeature: partition.towerOfFeature, towerCount: partition.towerCount)
        domainOfTower = partition.domainOfTower
    }
}

/// What `simulate` prints, as a value so the text and the JSON stay in step.
struct SimulationReport: Encodable {
    struct Phase: Encodable {
        let name: String
        let kind: String
        let seconds: Double
        let exposedSeconds: Double
    }
    struct PathStep: Encodable {
        let task: String
        let gpu: Int32
        let start: Double
        let finish: Double
    }
    struct Link: Encodable {
        let from: String
        let to: String
        let medium: String?
        let bandwidthBytesPerSecond: Double
        let bytes: Double
        let utilization: Double
    }
    let cluster: String
    let workload: String
    let layout: String
    let gpus: Int
    let globalBatch: Int
    let overlap: Bool
    let stepSeconds: Double
    let samplesPerSecond: Double
    let slowestGpu: Int32
    let idleSeconds: Double
    let phases: [Phase]
    let criticalPath: [PathStep]
    let bytesPerGpuByLevel: [String: Double]
    let busiestLinks: [Link]
    let notes: [String]
    /// Level names innermost first, for the text table.
    let levelOrder: [String]

    init(result: StepResult, cluster: Cluster, workload: Workload) {
        self.cluster = cluster.name
        self.workload = workload.name
        layout = result.summary
        gpus = result.rankCount
        globalBatch = result.globalBatch
        overlap = result.overlapsInputDistribution
        stepSeconds = result.stepSeconds
        samplesPerSecond = result.samplesPerSecond
        slowestGpu = result.slowestRank
        idleSeconds = result.idleSeconds
        phases = result.phases.map {
            Phase(name: $0.name, kind: $0.isCommunication ? "communication" : "compute", seconds: $0.seconds, exposedSeconds: $0.exposedSeconds)
        }
        criticalPath = result.criticalPath.map { PathStep(task: $0.task, gpu: $0.rank, start: $0.start, finish: $0.finish) }
        bytesPerGpuByLevel = result.bytesPerGPUByLevel
        busiestLinks = result.busiestLinks.map {
            Link(from: $0.from, to: $0.to, medium: $0.medium, bandwidthBytesPerSecond: $0.bandwidth, bytes: $0.bytes, utilization: $0.utilization)
        }
        notes = result.notes
        levelOrder = cluster.levels.reversed().map(\.name)
    }

    enum CodingKeys: String, CodingKey {
        case cluster, workload, layout, gpus, globalBatch, overlap, stepSeconds, samplesPerSecond, slowestGpu, idleSeconds, phases
        case criticalPath, bytesPerGpuByLevel, busiestLinks, notes
    }


    var text: String {
        var lines = [
            "\(cluster) · \(workload): \(layout)",
            "\(gpus) GPUs × batch \(globalBatch / max(gpus, 1)) = \(globalBatch) samples per step; "
                + (overlap ? "next batch's ids distributed during the step (sparse-dist pipeline)" : "ids distributed before the lookup (no pipelining)"),
            "step time    \(Units.formatDuration(stepSeconds))",
            "throughput   \(Self.formatCount(samplesPerSecond)) samples/s",
            "slowest GPU  \(slowestGpu) (phases below are its timeline)",
            "",
        ]
        var rows = [["phase", "kind", "time", "exposed"]]
        for phase in phases {
            rows.append([
                phase.name, phase.kind == "compute" ? "compute" : "comm", Units.formatDuration(phase.seconds),
                Units.formatDuration(phase.exposedSeconds),
            ])
        }
        rows.append(["waiting for slower GPUs", "", "", Units.formatDuration(idleSeconds)])
        lines += textTable(rows, rightAligned: [2, 3])
        lines.append("")
        lines.append("critical path:")
        for step in criticalPath {
            lines.append("  \(Units.formatDuration(step.start)) → \(Units.formatDuration(step.finish))  \(step.task) (GPU \(step.gpu))")
        }
        lines.append("")
        lines.append("bytes per GPU crossing each level:")
        let levels = levelOrder.filter { bytesPerGpuByLevel[$0] != nil }
        if levels.isEmpty { lines.append("  none (all traffic stays inside the innermost domain)") }
        for level in levels { lines.append("  \(level)  \(Units.formatBytes(bytesPerGpuByLevel[level]!))") }
        lines.append("")
        lines.append("busiest links:")
        var linkRows = [["busy", "bytes", "bandwidth", "link"]]
        for link in busiestLinks {
            linkRows.append([
                String(format: "%.1f%%", link.utilization * 100), Units.formatBytes(link.bytes),
                Units.formatBits(perSecond: link.bandwidthBytesPerSecond) + (link.medium.map { " " + $0 } ?? ""), "\(link.from) → \(link.to)",
            ])
        }
        lines += textTable(linkRows, rightAligned: [0, 1, 2]).map { "  " + $0 }
        if !notes.isEmpty {
            lines.append("")
            lines.append("notes:")
            lines += notes.map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    /// 20_200_000 → "20.2M".
    private static func formatCount(_ value: Double) -> String {
        for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] where value >= scale {
            return String(format: "%.3g", value / scale) + suffix
        }
        return String(format: "%.3g", value)
    }
}
