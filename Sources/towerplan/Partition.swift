import ArgumentParser
import Foundation
import Partitioning
import Simulation
import Topology
import Workload

extension PartitionStrategy: ExpressibleByArgument {}

/// `--cost-weights 1,1,0`: the lookup, tower-module and table-memory weights of a feature's cost.
extension FeatureCostModel: ExpressibleByArgument {
    public init?(argument: String) {
        let weights = argument.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard weights.count == 3, let lookup = weights[0], let module = weights[1], let memory = weights[2],
            [lookup, module, memory].allSatisfy({ $0 >= 0 && $0.isFinite }), lookup + module + memory > 0
        else { return nil }
        self.init(lookup: lookup, module: module, memory: memory)
    }

}

/// The options `partition` and `compare` share: the balance bound, the cost it bounds, the seed.
struct BalanceOptions: ParsableArguments {
    @Option(help: "Balance allowance ε: every tower's cost ≤ (1 + ε) × mean.")
    var epsilon = 0.05

    @Option(
        name: .customLong("cost-weights"),
        help: ArgumentHelp(
            "Weights of a feature's cost terms: lookup bytes, tower-module FLOPs, table memory (each a share of the model's), e.g. 1,1,0 to balance per-step work only. Default 1,1,1.",
            valueName: "lookup,module,memory"))
    var costWeights = FeatureCostModel()

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1

    func validate() throws {
        if !(epsilon >= 0 && epsilon.isFinite) { throw ValidationError("--epsilon must be a number ≥ 0, got \(epsilon)") }
    }
}

/// `towerplan partition --workload W --embeddings FILE --towers T --strategy S [-o FILE]`
struct Partition: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Group a workload's sparse features into DMT towers: balanced, with strongly interacting features together.",
        discussion: """
            Strategies: tp (balanced min-cut of the learned affinity: multilevel bisection + refinement), kmeans (balanced k-means on the learned representations), random, round-robin, greedy (cost only, longest first, as TorchRec co-hosts tables), manual (a partition file). Every strategy but manual keeps each tower's cost (lookup bytes + tower-module FLOPs + table memory, each as a share of the model's) within (1 + ε) × the mean, or says by how much that cannot hold.

            With --topology, towers are placed on the domains of the tower level (one per domain, heaviest tower on the roomiest domain) and cross-domain traffic uses the real domain count.

            Examples:
              towerplan partition --workload workloads/dlrm-criteo-kaggle.xml --embeddings emb.json --towers 4 --strategy tp -o towers.json
              towerplan partition --workload workloads/dlrm-criteo-kaggle.xml --towers 4 --strategy greedy --topology topologies/zionex-a100-128.xml --json
              towerplan simulate --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml --layout sptt --partition towers.json
            """)

    @Option(help: "Workload file.")
    var workload: String

    @Option(
        help: ArgumentHelp(
            "Embeddings file (JSON, format towerplan-embeddings): per-feature representations and the feature affinity. Needed by tp and kmeans.",
            valueName: "file"))
    var embeddings: String?

    @Option(help: "Number of towers T. Default with --strategy manual: the file's.")
    var towers: Int?

    @Option(help: "tp, kmeans, random, round-robin, greedy or manual.")
    var strategy: PartitionStrategy

    @Option(help: ArgumentHelp("With --strategy manual: the partition file to score.", valueName: "file"))
    var manual: String?

    @OptionGroup var balance: BalanceOptions

    @Option(help: "Cluster file: place the towers on its tower domains, under their memory.")
    var topology: String?

    @Option(name: .customLong("tower-domain"), help: "With --topology: level whose domains hold the towers (host, rack, …). Default: the level enclosing the GPUs.")
    var towerDomain: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write the partition file (JSON) here.", valueName: "file"))
    var output: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if strategy.needsEmbeddings, embeddings == nil {
            throw ValidationError("--strategy \(strategy.rawValue) learns from embeddings; add --embeddings FILE, or use random, round-robin or greedy")
        }
        if strategy == .manual, manual == nil { throw ValidationError("--strategy manual scores a partition file; add --manual FILE") }
        if strategy != .manual, manual != nil { throw ValidationError("--manual is the file of --strategy manual; drop it or add --strategy manual") }
        if strategy != .manual, towers == nil { throw ValidationError("--towers is needed: how many towers to make") }
        if let towers, towers < 1 { throw ValidationError("--towers must be at least 1, got \(towers)") }
        if towerDomain != nil, topology == nil { throw ValidationError("--tower-domain picks a level of the cluster; add --topology FILE") }
        if let output, output.isEmpty { throw ValidationError("--output needs a file name") }
    }

    func run() throws {
        let inputs = try PartitionInputs(workload: workload, embeddings: embeddings, manual: manual)
        let model = inputs.workload
        let placement = try topology.map { path in try TowerLevel(cluster: loadClusterOrExit(path), level: towerDomain, workload: model) }
        let towerCount = towers ?? inputs.manual?.partition.towerCount ?? 1
        let result = try orExit {
            try WorkloadPartition(
                workload: model, affinity: inputs.affinity, partitioner: strategy.partitioner(manual: inputs.manual), towers: towerCount,
                epsilon: balance.epsilon, seed: balance.seed, domains: placement?.domains, costModel: balance.costWeights)
        }
        if let output { try orExit { try result.file.write(to: output) } }
        let report = PartitionReport(
            result, workload: model, costs: balance.costWeights.costs(of: model), epsilon: balance.epsilon, seed: balance.seed,
            level: placement?.name, output: output)
        print(json ? try jsonText(report) : report.text)
    }
}

/// The files `partition` and `compare` read: the workload, and the embeddings and manual
/// partition when given, matched to the workload. Exits with the first file's errors.
struct PartitionInputs {
    let workload: Workload
    let affinity: FeatureAffinity?
    let manual: ManualPartitioner?

    init(workload path: String, embeddings: String?, manual: String?) throws {
        let model = try orExit { try WorkloadLoader.load(path: path) }
        workload = model
        affinity = try embeddings.map { file in try orExit { try FeatureAffinityFile.read(path: file).resolve(against: model, file: file) } }
        self.manual = try manual.map { file in
            try orExit { ManualPartitioner(partition: try PartitionFile.read(path: file).resolve(against: model), file: file) }
        }
    }
}

/// The tower level of a cluster as the partitioner sees it: its name, its domains' grid, and the
/// memory each domain has for tables (the sum over its GPUs of `MemoryBudget`'s per-GPU table
/// capacity, the flat model's dense replica taken out: the SPTT replica differs only by the
/// tower modules, which the simulator's own check covers).
struct TowerLevel {
    let name: String
    let grid: DomainGrid
    let domains: TowerDomains

    /// Exits with the error when the level is not in the cluster or its domains are uneven.
    init(cluster: Cluster, level: String?, workload: Workload) throws {
        let chosen: Level
        if let level {
            guard let named = cluster.level(named: level) else {
                printError("cluster \(cluster.name) has no level '\(level)'; its levels are \(cluster.levels.map(\.name).joined(separator: ", "))")
                throw ExitCode(1)
            }
            chosen = named
        } else {
            chosen = DomainGrid.innermostLevel(of: cluster)
        }
        grid = try orExit { try DomainGrid(cluster: cluster, level: chosen) }
        let dense = workload.recommendation?.denseParameterCount ?? 0
        let perRank = MemoryBudget().tableCapacityPerRank(cluster, denseReplicaBytes: MemoryBudget.denseReplicaBytes(workload, parameters: dense))
        let grid = grid
        domains = TowerDomains(memoryBytes: grid.ranks.map { ranks in ranks.reduce(0) { $0 + perRank[Int($1)] } })
        name = chosen.name
    }
}

/// Runs `work`; on an error (a bad file, an impossible bound) prints it and exits with status 1.
func orExit<T>(_ work: () throws -> T) throws -> T {
    do {
        return try work()
    } catch {
        printError("\(error)")
        throw ExitCode(1)
    }
}

/// What `partition` prints, as a value so the text and the JSON stay in step.
struct PartitionReport: Encodable {
    struct Tower: Encodable {
        let tower: Int
        let domain: Int
        let cost: Double
        let features: [String]
    }
    let workload: String
    let strategy: String
    let towerCount: Int
    let epsilon: Double
    let seed: UInt64
    let towerLevel: String?
    let imbalance: Double
    let capturedAffinity: Double?
    let crossDomainBytesPerGpu: Double
    let ari: Double?
    let towers: [Tower]
    let output: String?
    let notes: [String]

    init(_ result: WorkloadPartition, workload: Workload, costs: [Double], epsilon: Double, seed: UInt64, level: String?, output: String?) {
        var towerCost = [Double](repeating: 0, count: result.resolved.towerCount)
        for (feature, tower) in result.resolved.towerOfFeature.enumerated() { towerCost[tower] += costs[feature] }
        self.workload = workload.name
        strategy = result.file.strategy
        towerCount = result.resolved.towerCount
        self.epsilon = epsilon
        self.seed = seed
        towerLevel = level
        imbalance = result.metrics.imbalance
        capturedAffinity = result.metrics.capturedAffinity
        crossDomainBytesPerGpu = result.metrics.crossDomainBytesPerGPU
        ari = result.metrics.adjustedRandIndex
        towers = result.file.towers.map { Tower(tower: $0.tower, domain: $0.domain, cost: towerCost[$0.tower], features: $0.features) }
        self.output = output
        notes = result.notes
    }

    var text: String {
        let mean = 1 / Double(max(towerCount, 1))
        var lines = [
            "\(workload): \(towers.reduce(0) { $0 + $1.features.count }) features → \(towerCount) towers, strategy \(strategy) (ε = \(epsilon), seed \(seed))",
            String(format: "imbalance           %.3f× the mean tower cost (bound %.3f×)", imbalance, 1 + epsilon),
            "captured affinity   " + (capturedAffinity.map { String(format: "%.1f%% of the affinity weight inside towers", $0 * 100) } ?? "unknown (no embeddings)"),
            "cross-domain bytes  \(Units.formatBytes(crossDomainBytesPerGpu)) per GPU per step" + (towerLevel.map { " (towers on \($0) domains)" } ?? ""),
        ]
        if let ari { lines.append(String(format: "planted groups      ARI %.3f", ari)) }
        lines.append("")
        var rows = [["tower", "domain", "cost", "features"]]
        for tower in towers {
            let shown = tower.features.prefix(6).joined(separator: ", ") + (tower.features.count > 6 ? ", … (\(tower.features.count))" : "")
            rows.append(["\(tower.tower)", "\(tower.domain)", String(format: "%.3f×", tower.cost / mean), shown])
        }
        lines += textTable(rows, rightAligned: [1, 2])
        if let output { lines += ["", "wrote \(output)"] }
        if !notes.isEmpty { lines += [""] + ["notes:"] + notes.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}
