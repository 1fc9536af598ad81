import ArgumentParser
import Foundation
import Partitioning
import Planner
import Simulation
import Topology
import Workload

extension ShardingType: ExpressibleByArgument {}
extension SPTTLayout.IntraDomainSharding: ExpressibleByArgument {}

/// `towerplan simulate --topology T --workload W [--layout flat|sptt] …`
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate one training step: a recommendation model's flat or SPTT (DMT) layout, or a transformer under 4D parallelism.",
        discussion: """
            Builds the step's task graph (lookups, dense layers, all-to-alls, reduce-scatters, all-reduces), costs compute with a per-GPU roofline and communication on the cluster graph, and schedules it with one compute and one communication stream per GPU. Communication uses the aggregated model on homogeneous clusters, the exact pairwise model otherwise.

            Examples:
              towerplan simulate --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml
              towerplan simulate --topology topologies/zionex-a100-128.xml --workload workloads/dlrm-criteo-kaggle.xml --layout sptt --intra-domain cw
              towerplan simulate --topology topologies/llama3-h100-24k.xml --workload workloads/prod-512.xml --layout sptt --tower-domain rack --json
              towerplan simulate --topology topologies/grand-teton-h100-512.xml --workload workloads/prod-512.xml --layout sptt --partition towers.json

            A transformer workload (workloads/) takes --parallel instead of a layout: ranks are laid out TP fastest, rank = tp + TP·(cp + CP·(pp + PP·dp)), on the cluster's GPUs in order; the step is an interleaved 1F1B pipeline with FSDP, costed on the same graph.
              towerplan simulate --topology topologies/llama3-h100-24k.xml --workload workloads/llama3-405b.xml --parallel tp=8,cp=1,pp=16,dp=64
              towerplan simulate --topology topologies/llama3-h100-24k.xml --workload workloads/llama3-405b.xml --parallel tp=8,cp=16,pp=16,dp=8 --seq 131072 --json
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

    @Option(
        help: ArgumentHelp(
            "Transformer: sizes of the tensor, context, pipeline and data-parallel dimensions, e.g. tp=8,cp=1,pp=16,dp=64 (an absent key is 1).",
            valueName: "tp=…,cp=…,pp=…,dp=…"))
    var parallel: String?

    @Option(help: "Transformer: GPUs to use; tp·cp·pp·dp must equal it, and dp is derived when --parallel leaves it out. Default: the product.")
    var gpus: Int?

    @Option(help: "Transformer: sequence length in tokens, overriding the workload's; the global batch in tokens stays.")
    var seq: Int?

    @Option(name: .customLong("micro-batches"), help: "Transformer: micro-batches per replica per step (M). Default: the replica's sequences over the workload's micro-batch.")
    var microBatches: Int?

    @Option(help: "Transformer: chunks (virtual pipeline stages) per stage, V, for the interleaved 1F1B schedule. Default 1.")
    var interleave: Int?

    @Flag(name: .customLong("ignore-memory"), help: "Transformer: simulate even when a stage's weights, gradients, optimizer state and activations exceed device memory.")
    var ignoreMemory = false

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
        if parallel == nil {
            if gpus != nil || seq != nil || microBatches != nil || interleave != nil || ignoreMemory {
                throw ValidationError("--gpus, --seq, --micro-batches, --interleave and --ignore-memory describe a transformer job; add --parallel tp=…,cp=…,pp=…,dp=…")
            }
        } else {
            if layout != .flat || sharding != nil || towers != nil || towerDomain != nil || intraDomain != nil || partition != nil || !overlap {
                throw ValidationError("--parallel simulates a transformer; --layout, --sharding, --towers, --tower-domain, --intra-domain, --partition and --no-overlap are for recommendation models")
            }
            _ = try parallelism()
            for (name, value) in [("--gpus", gpus), ("--seq", seq), ("--micro-batches", microBatches), ("--interleave", interleave)] {
                if let value, value < 1 { throw ValidationError("\(name) must be at least 1, got \(value)") }
            }
        }
    }

    /// `--parallel` read against `--gpus`; nil without `--parallel`.
    private func parallelism() throws -> TransformerParallelism? {
        guard let parallel else { return nil }
        do {
            return try TransformerParallelism.parse(parallel, gpus: gpus)
        } catch {
            throw ValidationError("--parallel \(parallel): \(error.description)")
        }
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
        switch (model.model, try parallelism()) {
        case (.transformer, let parallelism?):
            return try simulateTransformer(model, parallelism: parallelism, on: cluster)
        case (.transformer, nil):
            printError("\(workload): a transformer workload needs --parallel tp=…,cp=…,pp=…,dp=… (its layouts are 4D factorizations, not --layout)")
            throw ExitCode(1)
        case (.recommendation, _?):
            printError("\(workload): --parallel is for transformer workloads; '\(model.name)' is a recommendation model (use --layout flat or sptt)")
            throw ExitCode(1)
        case (.recommendation, nil):
            break
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
            if let cores = cluster.sharedCores {
                plan.notes.append(
                    "the accelerators are CPU ranks time-sharing \(cores) cores (shared-cores): simulated here as GPUs, each with its own compute and communication streams; towerplan train --ranks … --predict --topology \(topology) predicts its own CPU ranks")
            }
            result = try simulateStep(plan, on: cluster, overlap: overlap)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        try writeTrace { try ChromeTrace.write(result, to: $0) }
        let report = SimulationReport(result: result, cluster: cluster, workload: model)
        print(json ? try jsonText(report) : report.text)
    }

    /// The transformer path: bind the workload to the factorization, simulate, print.
    private func simulateTransformer(_ model: Workload, parallelism: TransformerParallelism, on cluster: Cluster) throws {
        let result: TransformerStepResult
        do {
            let job = try TransformerJob(workload: model, parallelism: parallelism, sequenceLength: seq, microBatches: microBatches, interleave: interleave ?? 1)
            let stepModel = TransformerStepModel(communication: AggregatedCommunicationModel.best(for: cluster))
            result = try stepModel.simulate(job, checkMemory: !ignoreMemory)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        try writeTrace { try ChromeTrace.write(result, to: $0) }
        let report = TransformerReport(result: result, cluster: cluster)
        print(json ? try jsonText(report) : report.text)
    }

    /// Writes the `--trace` file, if one was asked for, with `write`; a failure ends the command.
    private func writeTrace(_ write: (String) throws -> Void) throws {
        guard let trace else { return }
        do {
            try write(trace)
        } catch {
            printError("cannot write trace \(trace): \(error.localizedDescription)")
            throw ExitCode(1)
        }
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
    try SimulatedStepEstimator(cluster: cluster, overlapInputDistribution: overlap).estimate(plan)
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
    let busiestLinks: [LinkReport]
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
        busiestLinks = result.busiestLinks.map(LinkReport.init)
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
            "throughput   \(formatCount(samplesPerSecond)) samples/s",
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
        lines += trafficLines(bytesPerGpuByLevel: bytesPerGpuByLevel, levelOrder: levelOrder, busiestLinks: busiestLinks)
        if !notes.isEmpty {
            lines.append("")
            lines.append("notes:")
            lines += notes.map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}

/// One direction of a link and how busy a step kept it, as both simulate reports print it.
struct LinkReport: Encodable {
    let from: String
    let to: String
    let medium: String?
    let bandwidthBytesPerSecond: Double
    let bytes: Double
    let utilization: Double

    init(_ load: StepResult.LinkLoad) {
        from = load.from
        to = load.to
        medium = load.medium
        bandwidthBytesPerSecond = load.bandwidth
        bytes = load.bytes
        utilization = load.utilization
    }
}

/// The "bytes per GPU crossing each level" and "busiest links" sections of a simulate report.
func trafficLines(bytesPerGpuByLevel: [String: Double], levelOrder: [String], busiestLinks: [LinkReport]) -> [String] {
    var lines = ["bytes per GPU crossing each level:"]
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
    return lines + textTable(linkRows, rightAligned: [0, 1, 2]).map { "  " + $0 }
}

/// 20_200_000 → "20.2M".
func formatCount(_ value: Double) -> String {
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] where value >= scale {
        return String(format: "%.3g", value / scale) + suffix
    }
    return String(format: "%.3g", value)
}

/// What `simulate` prints for a transformer, as a value so the text and the JSON stay in step.
struct TransformerReport: Encodable {
    struct Memory: Encodable {
        let stage: Int
        let weightsBytes: Double
        let gradientsBytes: Double
        let optimizerBytes: Double
        let activationsBytes: Double
        let logitsBytes: Double
        let totalBytes: Double
        let capacityBytes: Double
    }
    let cluster: String
    let clusterGpus: Int
    let workload: String
    let device: String
    let parallel: TransformerParallelism
    let gpus: Int
    let interleave: Int
    let microBatches: Int
    let microBatchSequences: Int
    let sequenceLength: Int
    let globalBatchTokens: Int
    let stepSeconds: Double
    let tokensPerSecond: Double
    let tflopsPerGpu: Double
    let peakTflops: Double
    let mfu: Double
    let busiestStage: Int
    let computeSeconds: Double
    let bubbleSeconds: Double
    let idealBubbleFraction: Double
    let optimizerSeconds: Double
    let exposedSecondsByDimension: [String: Double]
    let memory: Memory
    let collectives: [TransformerStepResult.Collective]
    let bytesPerGpuByLevel: [String: Double]
    let busiestLinks: [LinkReport]
    /// Level names innermost first, for the text.
    let levelOrder: [String]

    init(result: TransformerStepResult, cluster: Cluster) {
        let job = result.job
        self.cluster = cluster.name
        clusterGpus = cluster.accelerators.count
        workload = job.name
        device = result.device
        parallel = job.parallelism
        gpus = job.gpus
        interleave = job.interleave
        microBatches = job.microBatches
        microBatchSequences = job.microBatchSequences
        sequenceLength = job.model.sequenceLength
        globalBatchTokens = job.model.globalBatchTokens
        stepSeconds = result.stepSeconds
        tokensPerSecond = result.tokensPerSecond
        tflopsPerGpu = result.flopsPerGPU / 1e12
        peakTflops = result.peakFLOPS / 1e12
        mfu = result.mfu
        busiestStage = result.busiestStage
        computeSeconds = result.computeSeconds
        bubbleSeconds = result.bubbleSeconds
        idealBubbleFraction = result.idealBubbleFraction
        optimizerSeconds = result.optimizerSeconds
        exposedSecondsByDimension = Dictionary(uniqueKeysWithValues: result.exposedSecondsByDimension.map { ($0.key.rawValue, $0.value) })
        let m = result.memory
        memory = Memory(
            stage: m.stage, weightsBytes: m.weightBytes, gradientsBytes: m.gradientBytes, optimizerBytes: m.optimizerBytes,
            activationsBytes: m.activationBytes, logitsBytes: m.logitBytes, totalBytes: m.totalBytes, capacityBytes: result.memoryCapacity)
        collectives = result.collectives
        bytesPerGpuByLevel = result.bytesPerGPUByLevel
        busiestLinks = result.busiestLinks.map(LinkReport.init)
        levelOrder = cluster.levels.reversed().map(\.name)
    }

    enum CodingKeys: String, CodingKey {
        case cluster, clusterGpus, workload, device, parallel, gpus, interleave, microBatches, microBatchSequences, sequenceLength
        case globalBatchTokens, stepSeconds, tokensPerSecond, tflopsPerGpu, peakTflops, mfu, busiestStage, computeSeconds
        case bubbleSeconds, idealBubbleFraction, optimizerSeconds, exposedSecondsByDimension, memory, collectives
        case bytesPerGpuByLevel, busiestLinks
    }

    var text: String {
        let percent = { (value: Double) in String(format: "%.1f%%", value * 100) }
        let m = memory
        var lines = [
            "\(cluster) · \(workload): \(parallel) on \(gpus) of \(clusterGpus) GPUs (\(device))",
            "\(parallel.pp) stage\(parallel.pp == 1 ? "" : "s") × \(interleave) chunk\(interleave == 1 ? "" : "s"), \(microBatches) micro-batches of "
                + "\(microBatchSequences) × \(sequenceLength) tokens per replica; \(formatCount(Double(globalBatchTokens))) tokens per step",
            "step time    \(Units.formatDuration(stepSeconds))",
            "throughput   \(formatCount(tokensPerSecond)) tokens/s",
            "per GPU      \(String(format: "%.0f", tflopsPerGpu)) TFLOP/s of model FLOPs = MFU \(percent(mfu)) of the \(String(format: "%.0f", peakTflops)) TFLOP/s dense peak",
            "memory       \(Units.formatBytes(m.totalBytes)) of \(Units.formatBytes(m.capacityBytes)) on stage \(m.stage): weights \(Units.formatBytes(m.weightsBytes)), "
                + "gradients \(Units.formatBytes(m.gradientsBytes)), optimizer \(Units.formatBytes(m.optimizerBytes)), activations \(Units.formatBytes(m.activationsBytes)), logits \(Units.formatBytes(m.logitsBytes))",
            "",
            "busiest stage \(busiestStage):",
        ]
        lines += textTable([
            ["compute (TP and CP collectives inside)", Units.formatDuration(computeSeconds)],
            ["pipeline bubble", Units.formatDuration(bubbleSeconds) + " (\(percent(bubbleSeconds / max(computeSeconds, 1e-30))) of compute; (PP−1)/(V·M) = \(percent(idealBubbleFraction)))"],
            ["optimizer step", Units.formatDuration(optimizerSeconds)],
        ], rightAligned: []).map { "  " + $0 }
        lines.append("")
        lines.append("exposed communication (how much shorter the step would be if it were free):")
        lines += textTable(ParallelDimension.allCases.map { [$0.rawValue, Units.formatDuration(exposedSecondsByDimension[$0.rawValue] ?? 0)] }, rightAligned: [1])
            .map { "  " + $0 }
        lines.append("")
        lines.append("collectives (one run with all groups at once):")
        var rows = [["dim", "operation", "groups", "buffer", "time", "runs/step"]]
        for collective in collectives {
            rows.append([
                collective.dimension.rawValue, collective.operation, "\(collective.groups) × \(collective.groupSize)", Units.formatBytes(collective.bufferBytes),
                Units.formatDuration(collective.seconds), String(format: "%.4g", collective.perStep),
            ])
        }
        lines += textTable(rows, rightAligned: [2, 3, 4, 5]).map { "  " + $0 }
        lines.append("")
        lines += trafficLines(bytesPerGpuByLevel: bytesPerGpuByLevel, levelOrder: levelOrder, busiestLinks: busiestLinks)
        return lines.joined(separator: "\n")
    }
}
