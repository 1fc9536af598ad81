import ArgumentParser
import Foundation
import Partitioning
import Simulation
import Topology
import Training
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

    @Flag(help: "Also train the model for real with each partition (DMT) and flat, and report the held-out AUC.")
    var train = false

    @Option(name: .customLong("train-steps"), help: "With --train: optimizer steps per model.")
    var trainSteps = 4_000

    @Option(help: "With --train: CPU threads (results are bit-identical for a given count).")
    var threads = AvailableCores.count

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "No progress line.")
    var quiet = false

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
        if trainSteps < 1 { throw ValidationError("--train-steps must be at least 1, got \(trainSteps)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Held-out AUC of the workload's model trained `trainSteps` steps in `layout` (nil without --train).
    func measuredAUC(_ model: Workload, _ layout: RecommendationNetwork.Layout, label: String, progress: ProgressLine) throws -> Double? {
        guard train else { return nil }
        let trainer = try orExit {
            try Trainer(
                workload: model,
                configuration: TrainingConfiguration(
                    layout: layout, length: .steps(trainSteps), batch: model.training.batchPerGPU, threads: threads, seed: balance.seed))
        }
        let report = try orExit {
            try trainer.run(progress: { progress.update("training \(label): step \($0.position.step)/\(trainSteps)", fraction: Double($0.position.step) / Double(trainSteps)) })
        }
        return report.evaluation.auc
    }

    /// The towers of a resolved partition as the training engine takes them (tower order, features in workload order).
    static func towers(_ resolved: ResolvedPartition) -> RecommendationNetwork.Layout {
        .towers((0 ..< resolved.towerCount).map { tower in resolved.towerOfFeature.indices.filter { resolved.towerOfFeature[$0] == tower } })
    }

    func run() throws {
        let inputs = try PartitionInputs(workload: workload, embeddings: embeddings, manual: manual)
        let model = inputs.workload
        let cluster = try loadClusterOrExit(topology)
        let level = try TowerLevel(cluster: cluster, level: towerDomain, workload: model)
        let towerCount = towers ?? inputs.manual?.partition.towerCount ?? min(level.grid.count, model.features.count)
        let flatStep = try orExit { try simulateStep(FlatLayout(sharding: .tableWise).plan(workload: model, cluster: cluster), on: cluster) }
        let progress = ProgressLine(quiet: quiet || json)
        defer { progress.finish() }
        var rows = [
            ComparisonRow(
                strategy: "flat", imbalance: nil, capturedAffinity: nil,
                crossDomainBytesPerGpu: CrossDomainTraffic.flat(
                    workload: model, gpus: cluster.accelerators.count, gpusPerDomain: level.grid.width, batch: model.training.batchPerGPU),
                stepSeconds: flatStep.stepSeconds, speedupVsFlat: 1, ari: nil, auc: try measuredAUC(model, .flat, label: "flat", progress: progress))
        ]
        /// One SPTT step with `resolved`'s towers, simulated (and trained with --train), as a row.
        func towerRow(_ name: String, _ resolved: ResolvedPartition, _ metrics: PartitionMetrics) throws -> ComparisonRow {
            var layout = SPTTLayout(towerLevel: level.name, intraDomain: intraDomain ?? .rowWise)
            let step = try orExit {
                try layout.apply(resolved)
                return try simulateStep(layout.plan(workload: model, cluster: cluster), on: cluster)
            }
            return ComparisonRow(
                strategy: name, imbalance: metrics.imbalance, capturedAffinity: metrics.capturedAffinity,
                crossDomainBytesPerGpu: metrics.crossDomainBytesPerGPU, stepSeconds: step.stepSeconds,
                speedupVsFlat: flatStep.stepSeconds / step.stepSeconds, ari: metrics.adjustedRandIndex,
                auc: try measuredAUC(model, Self.towers(resolved), label: name, progress: progress))
        }
        var notes: [String] = []
        for strategy in try chosenStrategies() {
            let result = try orExit {
                try WorkloadPartition(
                    workload: model, affinity: inputs.affinity, partitioner: strategy.partitioner(manual: inputs.manual), towers: towerCount,
                    epsilon: balance.epsilon, seed: balance.seed, domains: level.domains, costModel: balance.costWeights)
            }
            notes += result.notes.filter { !notes.contains($0) }
            rows.append(try towerRow(strategy.rawValue, result.resolved, result.metrics))
        }
        // The oracle: the planted groups themselves as towers, when the data has them.
        if let planted = inputs.affinity?.plantedGroups, let groups = planted.max().map({ $0 + 1 }), groups <= level.domains.count {
            let metrics = PartitionMetrics(
                towerOfFeature: planted, towerCount: groups, costs: balance.costWeights.costs(of: model), affinity: inputs.affinity?.graph,
                plantedGroups: planted, workload: model, domains: level.domains.count)
            rows.append(try towerRow("planted groups (oracle)", ResolvedPartition(towerOfFeature: planted, domainOfTower: Array(0 ..< groups)), metrics))
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
    /// Held-out AUC of the model trained with this partition (with --train).
    let auc: Double?
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
        let trained = rows.contains { $0.auc != nil }
        let flatAUC = rows.first?.auc
        var table = [["strategy", "imbalance", "captured affinity", "cross-domain/GPU", "step time", "speedup vs flat", "ARI"] + (trained ? ["AUC", "vs flat"] : [])]
        for row in rows {
            var cells: [String] = [row.strategy, row.imbalance.map { String(format: "%.3f×", $0) } ?? dash]
            cells.append(row.capturedAffinity.map { String(format: "%.1f%%", $0 * 100) } ?? dash)
            cells.append(Units.formatBytes(row.crossDomainBytesPerGpu))
            cells.append(Units.formatDuration(row.stepSeconds))
            cells.append(String(format: "%.2f×", row.speedupVsFlat))
            cells.append(row.ari.map { String(format: "%.3f", $0) } ?? dash)
            if trained {
                cells.append(row.auc.map { String(format: "%.4f", $0) } ?? dash)
                if let auc = row.auc, let flatAUC { cells.append(String(format: "%+.4f", auc - flatAUC)) } else { cells.append(dash) }
            }
            table.append(cells)
        }
        var lines = [
            "\(cluster) · \(workload): \(towers) towers on \(towerLevel) domains, bound \(String(format: "%.3f", 1 + epsilon))× the mean tower cost, seed \(seed)",
            "",
        ]
        lines += textTable(table, rightAligned: [1, 2, 3, 4, 5, 6, 7, 8])
        if !notes.isEmpty { lines += ["", "notes:"] + notes.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}
