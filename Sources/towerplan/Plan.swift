import ArgumentParser
import Foundation
import Partitioning
import Planner
import Reports
import Simulation
import Topology
import Training
import Workload

/// `towerplan plan [--topology T] [--workload W] [--embeddings FILE | --learn-seconds S] …`
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search DMT tower layouts for a cluster and a workload, and write a report with diagrams and charts.",
        discussion: """
            The search reads like TorchRec's planner: enumerate (flat shardings; tower level, tower count, tower-module compression, rw/cw inside the tower domain, partition strategy) → partition (each level × tower count × strategy once, placed under the domains' memory) → estimate (one simulated step each, as `simulate` runs it) → propose (fastest first under the memory and balance constraints; ties within 0.5 % go to the partition keeping more learned affinity; with --auc-guard a short proxy training rejects candidates that lose AUC against flat) → report.

            Without --embeddings the feature affinity is learned first: the workload's CPU proxy (same features, small tables and dimension, a dot interaction, its synthetic data) is trained for at most --learn-seconds, and the file is kept next to the report (embeddings.json) so a rerun can skip it. Compression ratios above the workload's own are searched only with --auc-guard, which can tell what they cost in quality.

            The report folder (default reports/CLUSTER-WORKLOAD/) gets report.md, a self-contained report.html (inline SVG, no scripts, viewable offline), the charts as SVG files, plan.json, partition.json, embeddings.json, and a workload file when the best compression differs from the workload's. The `simulate` commands printed at the end reproduce the report's step times.

            Exit codes: 0 success (also when no DMT plan meets the constraints: the report says why); 1 invalid input, failed training or unwritable output (the message says which); 64 bad command-line usage.

            Examples:
              towerplan plan                                              # Grand Teton 512 × prod-128, learned embeddings, report in reports/
              towerplan plan --embeddings reports/grand-teton-h100-512-prod-128/embeddings.json --quiet
              towerplan plan --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml --strategies greedy,random --learn-seconds 0
              towerplan plan --levels host --towers 64,32 --compressions 2,4,8 --auc-guard 0.005 --json
            """)

    static let defaultTopology = "topologies/grand-teton-h100-512.xml"
    static let defaultWorkload = "workloads/prod-128.xml"

    @Option(help: "Cluster file.")
    var topology = defaultTopology

    @Option(help: "Workload file.")
    var workload = defaultWorkload

    @Option(help: ArgumentHelp("Embeddings file (format towerplan-embeddings): use it instead of learning one.", valueName: "file"))
    var embeddings: String?

    @Option(name: .customLong("learn-steps"), help: "Without --embeddings: steps of the proxy training that learns the affinity (deterministic for a given seed and thread count).")
    var learnSteps = 1_500

    @Option(name: .customLong("learn-seconds"), help: "Without --embeddings: time cap of that training (it stops early, and says so, on a slow machine); 0 to skip learning (cost-only strategies).")
    var learnSeconds = 60.0

    @Option(help: ArgumentHelp("Comma-separated partition strategies to search. Default: tp with embeddings, greedy without.", valueName: "list"))
    var strategies: String?

    @Option(help: ArgumentHelp("Comma-separated tower levels. Default: every level between the root and the GPUs.", valueName: "list"))
    var levels: String?

    @Option(help: ArgumentHelp("Comma-separated tower counts. Default: one per domain and up to three halvings.", valueName: "list"))
    var towers: String?

    @Option(help: ArgumentHelp("Comma-separated tower-module compression ratios. Default: 1, 2, 4, 8, 16 up to the workload's own (all with --auc-guard).", valueName: "list"))
    var compressions: String?

    @Option(name: .customLong("intra-domain"), help: ArgumentHelp("Comma-separated shardings inside a tower domain (rw, cw).", valueName: "list"))
    var intraDomain = "rw,cw"

    @Option(help: "Balance bound ε: every tower's cost ≤ (1 + ε) × the mean.")
    var epsilon = 0.05

    @Option(
        name: .customLong("cost-weights"),
        help: ArgumentHelp("Weights of a feature's cost: lookup bytes, tower-module FLOPs, table memory. Default 1,1,0 (memory is checked separately).", valueName: "lookup,module,memory"))
    var costWeights = FeatureCostModel(lookup: 1, module: 1, memory: 0)

    @Option(help: "Seed of the training, the partitions and every random choice.")
    var seed: UInt64 = 1

    @Option(name: .customLong("auc-guard"), help: ArgumentHelp("Reject candidates whose short-training AUC falls more than this below flat's (e.g. 0.005).", valueName: "tolerance"))
    var aucGuard: Double?

    @Option(name: .customLong("guard-steps"), help: "Training steps of each AUC-guard run.")
    var guardSteps = 200

    @Option(help: ArgumentHelp("Comma-separated GPU counts to re-simulate the plan at, or none. Default: the cluster's size scaled by 1/8 to 2.", valueName: "list"))
    var scaling: String?

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Report folder. Default: reports/CLUSTER-WORKLOAD.", valueName: "folder"))
    var output: String?

    @Option(help: "Threads for training and simulation. Default: the machine's cores.")
    var threads = AvailableCores.count

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        if !(epsilon >= 0 && epsilon.isFinite) { throw ValidationError("--epsilon must be a number ≥ 0, got \(epsilon)") }
        if !(learnSeconds >= 0 && learnSeconds.isFinite) { throw ValidationError("--learn-seconds must be a number ≥ 0, got \(learnSeconds)") }
        if let aucGuard, !(aucGuard >= 0 && aucGuard.isFinite) { throw ValidationError("--auc-guard must be a number ≥ 0, got \(aucGuard)") }
        if guardSteps < 1 { throw ValidationError("--guard-steps must be at least 1, got \(guardSteps)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let output, output.isEmpty { throw ValidationError("--output needs a folder name") }
        _ = try enumerator(hasAffinity: true)
        _ = try scalingCounts(gpus: 1)
    }

    /// The search space the options describe.
    func enumerator(hasAffinity: Bool) throws -> GridEnumerator {
        var grid = GridEnumerator(allowHigherCompression: aucGuard != nil)
        grid.strategies = try strategies.map { text in
            try list(text, "--strategies") { PartitionStrategy(rawValue: $0) }
        } ?? [hasAffinity ? .tp : .greedy]
        grid.levels = try levels.map { try list($0, "--levels") { $0 } }
        grid.towerCounts = try towers.map { try list($0, "--towers") { Int($0).flatMap { $0 >= 1 ? $0 : nil } } }
        grid.compressions = try compressions.map { try list($0, "--compressions") { Double($0).flatMap { $0 >= 1 && $0.isFinite ? $0 : nil } } }
        grid.intraDomain = try list(intraDomain, "--intra-domain") { SPTTLayout.IntraDomainSharding(rawValue: $0) }
        return grid
    }

    /// GPU counts of the scaling study for a cluster of `gpus`: the list given, none, or ×1/8 … ×2.
    func scalingCounts(gpus: Int) throws -> [Int] {
        guard let scaling else { return [gpus / 8, gpus / 4, gpus / 2, gpus, gpus * 2].filter { $0 >= 1 } }
        if scaling == "none" { return [] }
        return try list(scaling, "--scaling") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
    }

    func run() throws {
        let started = ContinuousClock.now
        let progress = SharedProgress(quiet: quiet || json)
        let spec = try orExit { try ClusterLoader.loadSpec(path: topology) }
        let cluster = try orExit { try Cluster(spec: spec) }
        let model = try orExit { try WorkloadLoader.load(path: workload) }
        if model.transformer != nil { return try planTransformer(model, on: cluster) }
        let folder = output ?? "reports/\(cluster.name)-\(model.name)"
        try orExit { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }

        // Learned embeddings: from a file, or from a short proxy training.
        var learned: LearnedEmbeddings.Result?
        var affinityFile: FeatureAffinityFile?
        var embeddingsPath = embeddings
        if let embeddings {
            affinityFile = try orExit { try FeatureAffinityFile.read(path: embeddings) }
        } else if learnSeconds > 0 {
            let budget = learnSeconds
            let learning = ContinuousClock.now
            let result = try orExit {
                try LearnedEmbeddings.learn(workload: model, steps: learnSteps, budgetSeconds: budget, seed: seed, threads: threads) { step in
                    let elapsed = (ContinuousClock.now - learning).seconds
                    progress.update(
                        String(format: "learning embeddings: step %d, %.0f samples/s", step.position.step, step.samplesPerSecond),
                        fraction: min(1, max(elapsed / budget, Double(step.position.step) / Double(learnSteps))))
                }
            }
            learned = result
            affinityFile = result.file
            let path = (folder as NSString).appendingPathComponent("embeddings.json")
            try orExit { try result.file.write(to: path) }
            embeddingsPath = path
        }
        let affinity = try affinityFile.map { file in try orExit { try file.resolve(against: model, file: embeddingsPath ?? "embeddings") } }

        // Search.
        let problem = PlanningProblem(cluster: cluster, workload: model, affinity: affinity, epsilon: epsilon, costModel: costWeights, seed: seed)
        let guardStage: (any QualityGuard)? = aucGuard.map {
            ProxyTrainingGuard(workload: model, steps: guardSteps, seed: seed, threads: threads, tolerance: $0)
        }
        let planner = Planner(enumerator: try enumerator(hasAffinity: affinity != nil), qualityGuard: guardStage, threads: threads)
        let searchStarted = ContinuousClock.now
        let result = try orExit {
            try planner.plan(problem) { step in
                progress.update("\(step.stage) \(step.done)/\(step.total)", fraction: step.total > 0 ? Double(step.done) / Double(step.total) : nil)
            }
        }
        let searchSeconds = (ContinuousClock.now - searchStarted).seconds

        // Scaling study of the plan.
        progress.update("re-simulating at other cluster sizes")
        let flatSharding: ShardingType = if case .flat(let sharding) = result.baseline?.layout { sharding } else { .tableWise }
        let points = ScalingStudy.run(
            spec: spec, problem: problem, flat: flatSharding, towers: result.best?.layout.towers, gpus: try scalingCounts(gpus: cluster.accelerators.count),
            threads: threads)
        progress.finish()

        // Files.
        let files = try PlanFiles.write(
            result, problem: problem, workloadPath: workload, topologyPath: topology, folder: folder, flatSharding: flatSharding)
        let output = PlanOutput(
            result: result, problem: problem, learned: learned, embeddingsPath: embeddingsPath, files: files, scaling: points,
            searchSeconds: searchSeconds, epsilon: epsilon, learnSeconds: embeddings == nil ? learnSeconds : nil)
        try orExit { try ReportFiles.write(try jsonText(output) + "\n", to: (folder as NSString).appendingPathComponent("plan.json")) }
        let report = PlanReportBuilder(output: output, result: result, problem: problem, scaling: points, spec: spec).report()
        _ = try orExit { try report.document().write(to: folder) }
        print(json ? try jsonText(output) : output.text(folder: folder, wallSeconds: (ContinuousClock.now - started).seconds))
    }
}

/// Splits a comma-separated option into values, naming the option and the bad value on failure.
func list<T>(_ text: String, _ option: String, _ parse: (String) -> T?) throws -> [T] {
    let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !items.isEmpty else { throw ValidationError("\(option) lists nothing") }
    return try items.map { item in
        guard let value = parse(item) else { throw ValidationError("\(option): '\(item)' is not a valid value") }
        return value
    }
}

/// `ProgressLine` shared by the planner's worker threads: one lock around every redraw.
final class SharedProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let line: ProgressLine

    init(quiet: Bool) { line = ProgressLine(quiet: quiet) }

    func update(_ text: String, fraction: Double? = nil) { lock.withLock { line.update(text, fraction: fraction) } }
    func finish() { lock.withLock { line.finish() } }
}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// What `plan` prints and keeps as plan.json, as a value so the text and the JSON stay in step.
struct PlanOutput: Encodable {
    struct Step: Encodable {
        let layout: String
        let stepSeconds: Double
        let samplesPerSecond: Double
    }
    struct Configuration: Encodable {
        let level: String
        let towers: Int
        let compression: Double?
        let intraDomain: String
        let strategy: String
        let imbalance: Double?
        let capturedAffinity: Double?
        let adjustedRandIndex: Double?
        let auc: Double?
    }
    struct Candidate: Encodable {
        let layout: String
        let stepSeconds: Double?
        let speedupVsFlat: Double?
        let imbalance: Double?
        let capturedAffinity: Double?
        let auc: Double?
        let outcome: String
        let reason: String
    }
    struct Scaling: Encodable {
        let gpus: Int
        let flatSeconds: Double?
        let dmtSeconds: Double?
        let speedup: Double?
        let towers: Int?
        let note: String
    }
    struct Embeddings: Encodable {
        let file: String?
        let learnedSeconds: Double?
        let steps: Int?
        let samples: Int?
        let samplesPerSecond: Double?
        let heldOutAuc: Double?
        let heldOutLogLoss: Double?
        let stoppedByBudget: Bool?
    }

    let cluster: String
    let workload: String
    let gpus: Int
    let epsilon: Double
    let flat: Step?
    let best: Step?
    let bestConfiguration: Configuration?
    let speedup: Double?
    let searchSeconds: Double
    let counts: PlanResult.Counts
    let candidates: [Candidate]
    let scaling: [Scaling]
    let embeddings: Embeddings?
    let files: PlanFiles
    let notes: [String]

    init(
        result: PlanResult, problem: PlanningProblem, learned: LearnedEmbeddings.Result?, embeddingsPath: String?, files: PlanFiles,
        scaling points: [ScalingStudy.Point], searchSeconds: Double, epsilon: Double, learnSeconds: Double?
    ) {
        let step = { (evaluation: PlanEvaluation?) -> Step? in
            guard let evaluation, let step = evaluation.step else { return nil }
            return Step(layout: evaluation.layout.description, stepSeconds: step.stepSeconds, samplesPerSecond: step.samplesPerSecond)
        }
        cluster = result.clusterName
        workload = result.workloadName
        gpus = result.gpus
        self.epsilon = epsilon
        flat = step(result.baseline)
        best = step(result.best)
        bestConfiguration = result.best.flatMap { best in
            best.layout.towers.map { configuration in
                Configuration(
                    level: configuration.level, towers: configuration.towers, compression: configuration.compression,
                    intraDomain: configuration.intraDomain.rawValue, strategy: configuration.strategy.rawValue, imbalance: best.partition?.metrics.imbalance,
                    capturedAffinity: best.partition?.metrics.capturedAffinity, adjustedRandIndex: best.partition?.metrics.adjustedRandIndex, auc: best.auc)
            }
        }
        speedup = result.speedup
        self.searchSeconds = searchSeconds
        counts = result.counts
        let flatSeconds = result.baseline?.stepSeconds
        candidates = result.ranking.map { ranked in
            let evaluation = ranked.evaluation
            return Candidate(
                layout: evaluation.layout.description, stepSeconds: evaluation.stepSeconds,
                speedupVsFlat: evaluation.stepSeconds.flatMap { seconds in flatSeconds.map { $0 / seconds } },
                imbalance: evaluation.partition?.metrics.imbalance, capturedAffinity: evaluation.partition?.metrics.capturedAffinity, auc: evaluation.auc,
                outcome: Self.outcome(ranked.outcome), reason: ranked.reason)
        }
        scaling = points.map { point in
            Scaling(
                gpus: point.gpus, flatSeconds: point.flat?.stepSeconds, dmtSeconds: point.towers?.stepSeconds,
                speedup: point.towers.flatMap { towers in point.flat.map { $0.stepSeconds / towers.stepSeconds } }, towers: point.towerCount, note: point.note)
        }
        if learned != nil || embeddingsPath != nil {
            let report = learned?.report
            embeddings = Embeddings(
                file: embeddingsPath, learnedSeconds: learned == nil ? nil : learnSeconds, steps: report?.steps, samples: report?.samples,
                samplesPerSecond: report?.samplesPerSecond, heldOutAuc: report?.evaluation.auc, heldOutLogLoss: report?.evaluation.logLoss,
                stoppedByBudget: learned?.stoppedByBudget)
        } else {
            embeddings = nil
        }
        self.files = files
        notes = result.notes + (problem.affinity == nil ? ["affinity: none (no embeddings), so only cost-only strategies were searched"] : [])
    }

    /// A short label of an outcome, for tables and counting.
    static func outcome(_ outcome: RankedPlan.Outcome) -> String {
        switch outcome {
        case .best: "best"
        case .baseline: "baseline"
        case .slower: "slower"
        case .lessAffinity: "tied, less affinity"
        case .rejected(let rejection): rejection.kind
        }
    }

    func text(folder: String, wallSeconds: Double) -> String {
        let duration = { (seconds: Double?) in seconds.map { Units.formatDuration($0) } ?? "—" }
        var lines = ["\(cluster) · \(workload): \(gpus) GPUs"]
        if let embeddings {
            if let steps = embeddings.steps, let auc = embeddings.heldOutAuc {
                lines.append(String(format: "embeddings  learned on the CPU proxy: %d steps, %.0f samples/s, held-out AUC %.4f → %@", steps, embeddings.samplesPerSecond ?? 0, auc, embeddings.file ?? ""))
            } else if let file = embeddings.file {
                lines.append("embeddings  \(file)")
            }
        }
        lines.append(String(format: "search      %d candidates, %d partitions, %d simulations, %d AUC checks in %.1f s", counts.candidates, counts.partitions, counts.simulations, counts.aucChecks, searchSeconds))
        lines.append("flat        \(flat.map { "\($0.layout): \(duration($0.stepSeconds))" } ?? "no flat sharding fits")")
        if let best {
            lines.append("best        \(best.layout): \(duration(best.stepSeconds))" + (speedup.map { String(format: " (%.2f× over flat)", $0) } ?? ""))
        } else {
            lines.append("best        no DMT plan meets the constraints")
        }
        lines.append("")
        var rows = [["#", "layout", "step", "outcome"]]
        for (index, candidate) in candidates.prefix(8).enumerated() {
            rows.append([String(index + 1), candidate.layout, duration(candidate.stepSeconds), candidate.reason])
        }
        lines += textTable(rows, rightAligned: [0, 2])
        var counted: [String: Int] = [:]
        for candidate in candidates.dropFirst(8) { counted[candidate.outcome, default: 0] += 1 }
        if !counted.isEmpty { lines.append("   … and " + counted.keys.sorted().map { "\(counted[$0] ?? 0) \($0)" }.joined(separator: ", ")) }
        if !scaling.isEmpty {
            lines.append("")
            lines.append("scaling     " + scaling.map { point in "\(point.gpus) GPUs " + (point.speedup.map { String(format: "%.2f×", $0) } ?? "—") }.joined(separator: ", "))
        }
        lines.append("")
        lines.append("report      \(folder)/report.html and report.md (wall time \(String(format: "%.1f", wallSeconds)) s)")
        lines.append("reproduce:")
        lines += [files.flatCommand, files.towersCommand].compactMap { $0.map { "  " + $0 } }
        if !notes.isEmpty { lines += ["", "notes:"] + notes.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}

/// The report's content, from the planner's result and the simulator's steps.
struct PlanReportBuilder {
    let output: PlanOutput
    let result: PlanResult
    let problem: PlanningProblem
    let scaling: [ScalingStudy.Point]
    let spec: ClusterSpec

    func report() -> PlanReport {
        let cluster = problem.cluster
        let configuration = result.best?.layout.towers
        let level = configuration.flatMap { cluster.level(named: $0.level) }
        let domainIds = level.map { cluster.domains(at: $0) } ?? []
        let towers = towerTable(configuration: configuration, domainIds: domainIds)
        return PlanReport(
            clusterName: cluster.name, workloadName: problem.workload.name, gpus: cluster.accelerators.count,
            flat: step(result.baseline, label: "flat, \(result.baseline.map { "\($0.layout)".replacingOccurrences(of: "flat, ", with: "") } ?? "none")"),
            towers: result.best.map { step($0, label: "DMT: \($0.layout)") }, towerLevel: configuration?.level, domainCount: domainIds.count,
            balanceBound: 1 + problem.epsilon, towerTable: towers,
            candidates: output.candidates.map { candidate in
                PlanReport.Candidate(
                    layout: candidate.layout, stepSeconds: candidate.stepSeconds, speedup: candidate.speedupVsFlat, imbalance: candidate.imbalance,
                    capturedAffinity: candidate.capturedAffinity, auc: candidate.auc, reason: candidate.reason, outcome: candidate.outcome)
            },
            searchSummary: String(
                format: "Searched %d candidates (%d partitions, %d simulated steps, %d AUC-guard trainings) in %.1f s; balance bound %.2f× the mean tower cost.",
                result.counts.candidates, result.counts.partitions, result.counts.simulations, result.counts.aucChecks, output.searchSeconds, 1 + problem.epsilon),
            scaling: scaling.map { point in
                PlanReport.ScalingPoint(
                    gpus: point.gpus, flatSeconds: point.flat?.stepSeconds, towersSeconds: point.towers?.stepSeconds,
                    detail: [point.towerCount.map { "\($0) towers" }, point.note.isEmpty ? nil : point.note].compactMap { $0 }.joined(separator: "; "))
            },
            scalingMethod: scalingMethod(), embeddings: embeddingLines(), assumptions: assumptions(),
            reproduce: [output.files.flatCommand, output.files.towersCommand].compactMap { $0 },
            diagramSVG: diagram(configuration: configuration, domainIds: domainIds, towers: towers), notes: output.notes,
            levelOrder: cluster.levels.reversed().map(\.name))
    }

    /// A planner evaluation as the report's step (an empty one when the evaluation is missing).
    private func step(_ evaluation: PlanEvaluation?, label: String) -> PlanReport.Step {
        guard let result = evaluation?.step else {
            return PlanReport.Step(label: label, summary: "", stepSeconds: 0, samplesPerSecond: 0, phases: [], idleSeconds: 0, bytesPerGPUByLevel: [:], busiestLinks: [])
        }
        return PlanReport.Step(
            label: label, summary: result.summary, stepSeconds: result.stepSeconds, samplesPerSecond: result.samplesPerSecond,
            phases: result.phases.map {
                PlanReport.Step.Phase(name: $0.name, isCommunication: $0.isCommunication, seconds: $0.seconds, exposedSeconds: $0.exposedSeconds)
            }, idleSeconds: result.idleSeconds, bytesPerGPUByLevel: result.bytesPerGPUByLevel,
            busiestLinks: result.busiestLinks.map {
                PlanReport.Step.Link(from: $0.from, to: $0.to, medium: $0.medium, bandwidth: $0.bandwidth, bytes: $0.bytes, utilization: $0.utilization)
            })
    }

    private func towerTable(configuration: TowerConfiguration?, domainIds: [Int32]) -> [PlanReport.Tower] {
        guard let configuration, let partition = result.best?.partition, let model = problem.workload.recommendation else { return [] }
        let costs = problem.costModel.costs(of: problem.workload)
        let towerCount = partition.resolved.towerCount
        var cost = [Double](repeating: 0, count: towerCount)
        for (feature, tower) in partition.resolved.towerOfFeature.enumerated() { cost[tower] += costs[feature] }
        let mean = cost.reduce(0, +) / Double(max(towerCount, 1))
        let memory = TowerPlacement.towerBytes(partition.resolved.towerOfFeature, towerCount: towerCount, workload: problem.workload)
        let module = LayoutPlans.workload(problem.workload, compression: configuration.compression).recommendation?.towerModule ?? model.towerModule
        return partition.file.towers.map { tower in
            PlanReport.Tower(
                tower: tower.tower, domain: tower.domain,
                domainPath: tower.domain < domainIds.count ? problem.cluster.path(ofDomain: domainIds[tower.domain]) : "?", features: tower.features,
                relativeCost: mean > 0 ? cost[tower.tower] / mean : 1, memoryBytes: memory[tower.tower],
                outputWidth: module.outputWidth(features: tower.features.count, dimension: model.embeddingDimension))
        }
    }

    /// The cluster drawn by Graphviz with each tower's domain filled in its tower's colour.
    private func diagram(configuration: TowerConfiguration?, domainIds: [Int32], towers: [PlanReport.Tower]) -> String? {
        var annotations: [Int32: DiagramAnnotation] = [:]
        for tower in towers where tower.domain < domainIds.count {
            annotations[domainIds[tower.domain]] = DiagramAnnotation(
                fillColor: SVGChart.palette[tower.tower % SVGChart.palette.count] + "55", label: "tower \(tower.tower) (\(tower.features.count) features)",
                tooltip: tower.features.joined(separator: ", "))
        }
        let diagram = TopologyDiagram(cluster: problem.cluster, options: DiagramOptions(domainAnnotations: annotations))
        guard let data = try? diagram.render(.svg) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private func scalingMethod() -> String {
        guard let unit = try? ClusterScaling.unit(of: spec) else {
            return "The cluster has no single repeated level to scale, so only its own size is shown."
        }
        return "Each size is this cluster with its outermost repeated level (\(unit.level), \(unit.gpusPerInstance) GPUs each, \(unit.count) in the file) given another count; hosts, links and the fabric above keep their figures. Flat keeps its sharding; DMT keeps its tower level, compression, intra-domain sharding and strategy, with the tower count scaled with the domains and the features re-partitioned (same seed)."
    }

    private func embeddingLines() -> [String] {
        guard let embeddings = output.embeddings else { return [] }
        var lines: [String] = []
        if let steps = embeddings.steps {
            lines.append(String(
                format: "Learned by training the workload's CPU proxy flat for %d steps (%d samples, %.0f samples/s%@) on its synthetic data.", steps,
                embeddings.samples ?? 0, embeddings.samplesPerSecond ?? 0, embeddings.stoppedByBudget == true ? ", stopped by the time budget" : ""))
            if let auc = embeddings.heldOutAuc {
                lines.append(String(format: "Held-out AUC %.4f, log-loss %.4f.", auc, embeddings.heldOutLogLoss ?? 0))
            }
        }
        if let file = embeddings.file { lines.append("Embeddings file: `\(file)` (rerun with `--embeddings` to skip learning).") }
        if let best = output.bestConfiguration {
            if let captured = best.capturedAffinity { lines.append(String(format: "The best plan keeps %.1f%% of the learned affinity inside towers.", captured * 100)) }
            if let ari = best.adjustedRandIndex { lines.append(String(format: "Adjusted Rand index of its towers against the planted groups: %.3f.", ari)) }
        }
        return lines
    }

    private func assumptions() -> [String] {
        let compute = ComputeModel()
        let shape = LearnedEmbeddings.ProxyShape()
        let aggregated = (try? AggregatedCommunicationModel(cluster: problem.cluster)) != nil
        return [
            String(
                format: "Compute roofline per GPU: dense layers at %.0f%% of the tensor-core peak, streamed memory at %.0f%% and embedding gathers at %.0f%% of HBM bandwidth (`ComputeModel` defaults, uncalibrated assumptions).",
                compute.denseEfficiency * 100, compute.memoryEfficiency * 100, compute.gatherEfficiency * 100),
            aggregated
                ? "Communication: aggregated model — an all-to-all's time is its busiest link's load / bandwidth (equal to max-min fair sharing for uniform traffic, a lower bound for uneven traffic); rings and trees use exact max-min fair flows."
                : "Communication: exact model — every rank pair a flow, links shared max-min fairly.",
            "Scheduling: one compute and one communication stream per GPU; the next batch's ids are distributed during the step (TorchRec's sparse-dist pipeline); dense gradients are all-reduced once after the backward pass.",
            "Memory: 15 % of each GPU reserved (TorchRec's default); every GPU holds an fp32 dense replica with gradients and optimizer state; tables and their optimizer state must fit the GPUs (flat) or the tower's domain (DMT).",
            String(
                format: "Balance: a feature's cost weighs lookup bytes %g, tower-module FLOPs %g, table memory %g; every tower within %.2f× the mean.",
                problem.costModel.lookup, problem.costModel.module, problem.costModel.memory, 1 + problem.epsilon),
            "Proxy training (embeddings and the AUC guard): the workload's features by name with tables hashed to at most \(shape.maximumRows) rows, dimension \(shape.dimension), a dot interaction and a \((shape.topHidden + [1]).map(String.init).joined(separator: "-")) top MLP, batch \(shape.batch), on its synthetic data with planted feature groups (`LearnedEmbeddings.proxy`).",
            "Flat baseline: the fastest of TorchRec's table-wise, row-wise, column-wise and table-row-wise shardings that fits.",
        ]
    }
}

/// `plan` for a transformer workload: the TP × CP × PP × DP factorizations that fit in memory,
/// fastest first (`TransformerPlanSearch`), then the refused ones with their reasons.
extension Plan {
    struct TransformerCandidateRow: Encodable {
        let parallel: String
        let interleave: Int
        let fits: Bool
        let stepSeconds: Double?
        let mfu: Double?
        let tflopsPerGpu: Double?
        let memoryBytes: Double?
        let reason: String
    }

    func planTransformer(_ model: Workload, on cluster: Cluster) throws {
        let candidates = try orExit { try TransformerPlanSearch.rank(workload: model, cluster: cluster) }
        let rows = candidates.map { candidate in
            TransformerCandidateRow(
                parallel: candidate.parallelism.description, interleave: candidate.interleave, fits: candidate.fits,
                stepSeconds: candidate.stepSeconds, mfu: candidate.result?.mfu, tflopsPerGpu: candidate.result.map { $0.flopsPerGPU / 1e12 },
                memoryBytes: candidate.memory?.totalBytes, reason: candidate.reason)
        }
        if json {
            print(try jsonText(rows))
            return
        }
        let fitting = rows.filter(\.fits)
        print("\(cluster.name) · \(model.name): \(cluster.accelerators.count) GPUs, \(fitting.count) factorizations fit in memory, \(rows.count - fitting.count) refused")
        var table = [["#", "parallel", "V", "step", "MFU", "memory/GPU"]]
        for (index, row) in fitting.prefix(10).enumerated() {
            let step: String = row.stepSeconds.map { Units.formatDuration($0) } ?? "—"
            let mfu: String = row.mfu.map { String(format: "%.1f%%", $0 * 100) } ?? "—"
            let memory: String = row.memoryBytes.map { Units.formatBytes($0) } ?? "—"
            table.append(["\(index + 1)", row.parallel, "\(row.interleave)", step, mfu, memory])
        }
        textTable(table, rightAligned: [0, 3, 4, 5]).forEach { print($0) }
        if let refused = rows.first(where: { !$0.fits }) { print("refused, e.g. \(refused.parallel) V=\(refused.interleave): \(refused.reason)") }
    }
}
