import ArgumentParser
import Foundation
import Partitioning
import Simulation
import Topology
import Workload

/// `towerplan compare --topology T --workload W --embeddings FILE --strategies tp,kmeans,random,greedy,round-robin`
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare tower-partitioning strategies side by side, against the flat layout: balance, affinity kept, traffic, simulated step time.",
        discussion: """
            Partitions the workload with each strategy (the same towers, ε and seed), places the towers on the tower domains, and simulates one SPTT step with each partition the way `simulate --layout sptt --partition` does, next to the flat table-wise layout. Without --embeddings only the cost-only strategies run and the affinity is unknown.

            Examples:
              towerplan compare --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml --towers 4 --strategies random,greedy,round-robin
              towerplan compare --topology topologies/grand-teton-h100-512.xml --workload W.xml --embeddings emb.json --towers 16 --json
            """)

    static let defaultStrategies: [PartitionStrategy] = [.tp, .kmeans, .random, .greedy, .roundRobin]

    @Option(help: "Cluster file.")
    var topology: String

    @Option(help: "Workload file.")
    var workload: String

    @Option(help: ArgumentHelp("Embeddings file (JSON, format towerplan-embeddings), for tp, kmeans and captured affinity.", valueName: "file"))
    var embeddings: String?

    @Option(
        help: ArgumentHelp(
            "Comma-separated strategies. Default: tp,kmeans,random,greedy,round-robin (without --embeddings: random,greedy,round-robin).",
            valueName: "list"))
    var strategies: String?

    @Option(help: ArgumentHelp("With manual among the strategies: the partition file.", valueName: "file"))
    var manual: String?

    @Option(help: "Number of towers T. Default: one per tower domain, at most one per feature.")
    var towers: Int?

    @Option(name: .customLong("tower-domain"), help: "Level whose domains hold the towers (host, rack, …). Default: the level enclosing the GPUs.")
    var towerDomain: String?

    @Option(name: .customLong("intra-domain"), help: "Sharding inside a tower domain (rw or cw). Default rw.")
    var intraDomain: SPTTLayout.IntraDomainSharding?

    @OptionGroup var balance: BalanceOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// The strategies asked for, in order, without repeats.
    func chosenStrategies() throws -> [PartitionStrategy] {
        guard let strategies else {
            return embeddings == nil ? Self.defaultStrategies.filter { !$0.needsEmbeddings } : Self.defaultStrategies
        }
        var chosen: [PartitionStrategy] = []
        for name in strategies.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let strategy = PartitionStrategy(rawValue: name) else {
                throw ValidationError(
                    "--strategies: unknown strategy '\(name)'; pick from \(PartitionStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !chosen.contains(strategy) { chosen.append(strategy) }
        }
        guard !chosen.isEmpty else { throw ValidationError("--strategies lists no strategy; e.g. --strategies tp,random,greedy") }
        return chosen
    }

    func validate() throws {
        let chosen = try chosenStrategies()
        if embeddings == nil, let needing = chosen.first(where: \.needsEmbeddings) {
            throw ValidationError(
                "strategy \(needing.rawValue) learns from embeddings; add --embeddings FILE, or compare only random, greedy and round-robin")
        }
        if chosen.contains(.manual) != (manual != nil) {
            throw ValidationError("--manual FILE and the strategy manual go together: add both or neither")
        }
        if let towers, towers < 1 { throw ValidationError("--towers must be at least 1, got \(towers)") }
    }

    func run() throws {
        let inputs = try PartitionInputs(workload: workload, embeddings: embeddings, manual: manual)
        let model = inputs.workload
        let cluster = try loadClusterOrExit(topology)
        let level = try TowerLevel(cluster: cluster, level: towerDomain, workload: model)
        let towerCount = towers ?? inputs.manual?.partition.towerCount ?? min(level.grid.count, model.features.count)
        let flatStep = try orExit { try simulateStep(FlatLayout(sharding: .tableWise).plan(workload: model, cluster: cluster), on: cluster) }
        var rows = [
            ComparisonRow(
                strategy: "flat", imbalance: nil, capturedAffinity: nil,
                crossDomainBytesPerGpu: CrossDomainTraffic.flat(
                    workload: model, gpus: cluster.accelerators.count, gpusPerDomain: level.grid.width, batch: model.training.batchPerGPU),
                stepSeconds: flatStep.stepSeconds, speedupVsFlat: 1, ari: nil)
        ]
        var notes: [String] = []
        for strategy in try chosenStrategies() {
            let result = try orExit {
                try WorkloadPartition(
                    workload: model, affinity: inputs.affinity, partitioner: strategy.partitioner(manual: inputs.manual), towers: towerCount,
                    epsilon: balance.epsilon, seed: balance.seed, domains: level.domains, costModel: balance.costWeights)
            }
            notes += result.notes.filter { !notes.contains($0) }
            var layout = SPTTLayout(towerLevel: level.name, intraDomain: intraDomain ?? .rowWise)
            let step = try orExit {
                try layout.apply(result.resolved)
                return try simulateStep(layout.plan(workload: model, cluster: cluster), on: cluster)
            }
            rows.append(
                ComparisonRow(
                    strategy: strategy.rawValue, imbalance: result.metrics.imbalance, capturedAffinity: result.metrics.capturedAffinity,
                    crossDomainBytesPerGpu: result.metrics.crossDomainBytesPerGPU, stepSeconds: step.stepSeconds,
                    speedupVsFlat: flatStep.stepSeconds / step.stepSeconds, ari: result.metrics.adjustedRandIndex))
        }
        if inputs.affinity == nil { notes.append("affinity: unknown without --embeddings, so only cost-only strategies ran") }
        let report = ComparisonReport(
            cluster: cluster.name, workload: model.name, towerLevel: level.name, towers: towerCount, epsilon: balance.epsilon, seed: balance.seed, rows: rows,
            notes: notes)
        print(json ? try jsonText(report) : report.text)
    }
}

/// One row of `compare`: a strategy's partition (or the flat layout) scored. Fields a row does
/// not have are nil and left out of the JSON (the flat layout has no towers to balance; ARI needs
/// planted groups); a later measured field (the AUC of training with the partition) is one more
/// optional.
struct ComparisonRow: Encodable {
    let strategy: String
    let imbalance: Double?
    let capturedAffinity: Double?
    let crossDomainBytesPerGpu: Double
    let stepSeconds: Double
    let speedupVsFlat: Double
    let ari: Double?
}

/// What `compare` prints, as a value so the text and the JSON stay in step.
struct ComparisonReport: Encodable {
    let cluster: String
    let workload: String
    let towerLevel: String
    let towers: Int
    let epsilon: Double
    let seed: UInt64
    let rows: [ComparisonRow]
    let notes: [String]

    var text: String {
        let dash = "—"
        var table = [["strategy", "imbalance", "captured affinity", "cross-domain/GPU", "step time", "speedup vs flat", "ARI"]]
        for row in rows {
            table.append([
                row.strategy, row.imbalance.map { String(format: "%.3f×", $0) } ?? dash,
                row.capturedAffinity.map { String(format: "%.1f%%", $0 * 100) } ?? dash, Units.formatBytes(row.crossDomainBytesPerGpu),
                Units.formatDuration(row.stepSeconds), String(format: "%.2f×", row.speedupVsFlat), row.ari.map { String(format: "%.3f", $0) } ?? dash,
            ])
        }
        var lines = [
            "\(cluster) · \(workload): \(towers) towers on \(towerLevel) domains, bound \(String(format: "%.3f", 1 + epsilon))× the mean tower cost, seed \(seed)",
            "",
        ]
        lines += textTable(table, rightAligned: [1, 2, 3, 4, 5, 6])
        if !notes.isEmpty { lines += ["", "notes:"] + notes.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}
