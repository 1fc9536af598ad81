import ArgumentParser
import Distributed
import Foundation
import Partitioning
import Planner
import Simulation
import Topology
import Training
import Workload

/// `towerplan train --workload W [--data synthetic|criteo:PATH] [--layout flat|dmt] …`
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a workload's model for real on this machine's CPUs: flat DLRM or DMT towers, with held-out AUC.",
        discussion: """
            The workload file drives the model (tables, MLPs, interaction, tower module, optimizers) and, by default, the data: its <synthetic> generator or its Criteo dataset. Training is deterministic: the same options and thread count give bit-identical results.

            DMT towers come from --partition (a partition file, or `planted` for the synthetic data's planted groups); without one, --towers contiguous groups of features of similar count are used, and the output says so.

            Checkpoints (--checkpoint FILE) are written atomically every --checkpoint-every steps; --resume continues from the file, and a run killed and resumed ends exactly as an uninterrupted one.

            Exit codes: 0 trained; 1 bad input (the message names the file or value); 2 bad usage.

            Examples:
              towerplan train --workload workloads/synthetic-planted.xml --steps 2000
              towerplan train --workload workloads/synthetic-planted.xml --layout dmt --partition planted --steps 2000 --json
              towerplan train --workload workloads/synthetic-planted.xml --steps 2000 --export-embeddings emb.json
              towerplan train --workload workloads/dlrm-criteo-kaggle.xml --data criteo:train.txt --epochs 1 --checkpoint run.ckpt --resume
              towerplan train --workload workloads/dlrm-kaggle-bench.xml --steps 100 --batch 2048 --threads 2 --benchmark --json

            Multi-process (MPI) training: --ranks N starts `mpirun` with N ranks of `towerplan-mpi-worker` (installed next to towerplan) on this machine, in hosts of --ranks-per-host L ranks; --emulate-hosts runs each host in its own network namespace behind a rate-limited link (needs root). --layout dmt is SPTT with one tower per host: --partition's towers (as many as hosts), else contiguous blocks of features. Times are per step, excluding the first. The data is the workload's synthetic generator or a Criteo file (--data), which every rank reads, keeping its slice of each global batch; --eval-samples held-out samples (a multiple of N) give the AUC. Across real machines run the worker under your own mpirun instead: mpirun -np 8 --hostfile hosts towerplan-mpi-worker train --workload W --layout sptt --ranks-per-host 4.
              towerplan train --workload workloads/synthetic-planted.xml --ranks 4 --ranks-per-host 2 --layout dmt --steps 20 --json
              sudo towerplan train --workload W --ranks 4 --ranks-per-host 2 --emulate-hosts --uplink-bits-per-second 1e9 --predict --topology calibrated.xml
            """)

    enum LayoutChoice: String, ExpressibleByArgument, CaseIterable {
        case flat, dmt
    }

    @Option(help: "Workload file.")
    var workload: String

    @Option(help: ArgumentHelp("Training data: synthetic, or criteo:PATH (a Criteo TSV file). Default: the workload's data section.", valueName: "source"))
    var data: String?

    @Option(name: .customLong("held-out-every"), help: "Criteo data: hold out every n-th line for evaluation.")
    var heldOutEvery = 10

    @Option(help: "flat (one global interaction over every feature) or dmt (towers with the workload's tower module).")
    var layout: LayoutChoice = .flat

    @Flag(help: "Train the logistic-regression baseline (one weight per id and dense feature, no interactions) instead of the network.")
    var baseline = false

    @Option(help: ArgumentHelp("DMT towers: a partition file, or `planted` for the synthetic data's planted groups.", valueName: "file|planted"))
    var partition: String?

    @Option(help: "DMT without --partition: this many contiguous towers.")
    var towers = 4

    @Option(help: "Optimizer steps to take.")
    var steps: Int?

    @Option(help: "Passes over the training data (default 1 when --steps is not given).")
    var epochs: Int?

    @Option(help: "Samples per step. Default: the workload's batch per GPU.")
    var batch: Int?

    @Option(help: "CPU threads (per rank with --ranks). Results are bit-identical for a given thread count. Default: the cores this process may use (its CPU affinity, capped by a container's CPU quota); 1 per rank with --ranks.")
    var threads: Int?

    @OptionGroup(title: "Multi-process training")
    var distributed: DistributedTrainOptions

    @Option(help: "Seed of the model's initial parameters.")
    var seed: UInt64 = 1

    @Option(name: .customLong("eval-samples"), help: "Held-out samples for the AUC and log-loss (with --ranks: rounded down to a multiple of the ranks, 0 for none).")
    var evalSamples = 16_384

    @Option(name: .customLong("eval-every"), help: "Also evaluate every n steps (shown in the progress line).")
    var evalEvery: Int?

    @Option(help: ArgumentHelp("Checkpoint file, written atomically every --checkpoint-every steps.", valueName: "file"))
    var checkpoint: String?

    @Option(name: .customLong("checkpoint-every"), help: "Steps between checkpoints.")
    var checkpointEvery = 500

    @Flag(help: "Continue from --checkpoint when it exists (a fresh start otherwise).")
    var resume = false

    @Option(
        name: .customLong("export-embeddings"),
        help: ArgumentHelp("After training, write the learned feature affinity for `towerplan partition` (flat dot models).", valueName: "file"))
    var exportEmbeddings: String?

    @Flag(help: "Train on 16 pre-generated batches, cycled, so samples/s measures the model alone (as framework benchmarks do).")
    var benchmark = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if distributed.ranks != nil { try validateDistributed() } else if distributed.isUsed {
            throw ValidationError("--ranks-per-host, --emulate-hosts, --uplink-bits-per-second, --timeout, --predict and --topology apply to multi-process training: add --ranks N")
        }
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint FILE") }
        if partition != nil && layout != .dmt { throw ValidationError("--partition applies to --layout dmt") }
        if towers < 1 { throw ValidationError("--towers must be at least 1, got \(towers)") }
        if benchmark && epochs != nil { throw ValidationError("--benchmark trains on a fixed pool: give --steps, not --epochs") }
        if baseline && (layout != .flat || exportEmbeddings != nil) {
            throw ValidationError("--baseline trains logistic regression: it has no layout and no embeddings to export")
        }
        if exportEmbeddings != nil && layout != .flat {
            throw ValidationError("--export-embeddings reads a flat model's interaction weights; train --layout flat")
        }
    }

    func run() throws {
        if distributed.ranks != nil { return try runDistributed() }
        let model = try orExit { try WorkloadLoader.load(path: workload) }
        let configuration = try orExit { try trainingConfiguration(for: model) }
        let trainer = try orExit { try Trainer(workload: model, configuration: configuration) }
        if resume, let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            try orExit { try trainer.resume(from: TrainingCheckpoint.read(from: checkpoint)) }
        }
        let line = ProgressLine(quiet: quiet || json)
        let report = try orExit {
            try trainer.run(checkpoints: checkpoint.map { ($0, checkpointEvery) }, progress: { progress in
                var text = "step \(progress.position.step)\(progress.totalSteps.map { "/\($0)" } ?? "")"
                text += String(format: "  loss %.4f", progress.recentLoss)
                if let auc = progress.evaluation?.auc { text += String(format: "  auc %.4f", auc) }
                text += String(format: "  %.0f samples/s", progress.samplesPerSecond)
                line.update(text, fraction: progress.totalSteps.map { Double(progress.position.step) / Double($0) })
            })
        }
        line.finish()
        if let exportEmbeddings {
            let file = try orExit { try LearnedEmbeddings.measure(trainer, report: report, workload: model, samples: 2_048) }
            try orExit { try file.write(to: exportEmbeddings) }
        }
        if json {
            print(try jsonText(TrainSummary(report: report, towers: towerNote(configuration), embeddings: exportEmbeddings)))
        } else {
            printText(report, configuration: configuration)
        }
    }

    /// The run's configuration from the options and the workload.
    func trainingConfiguration(for model: Workload) throws -> TrainingConfiguration {
        let source = try TrainingData(option: data, workload: model, heldOutEvery: heldOutEvery)
        var configuration = TrainingConfiguration(
            layout: try networkLayout(for: model), data: source, length: steps.map { .steps($0) } ?? .epochs(epochs ?? 1),
            batch: batch ?? model.training.batchPerGPU, threads: threads ?? AvailableCores.count, seed: seed, evaluationSamples: evalSamples,
            evaluateEvery: evalEvery, benchmarkPool: benchmark ? 16 : nil)
        configuration.baseline = baseline
        return configuration
    }

    /// Flat, or the DMT towers from --partition (a file or the planted groups) or a contiguous split.
    func networkLayout(for model: Workload) throws -> RecommendationNetwork.Layout {
        guard layout == .dmt else { return .flat }
        let features = model.features.count
        switch partition {
        case "planted"?:
            let dataset = try SyntheticDataset(workload: model)
            return .towers(dataset.teacher.members)
        case let path?:
            let resolved = try PartitionFile.read(path: path).resolve(against: model)
            return .towers((0 ..< resolved.towerCount).map { tower in (0 ..< features).filter { resolved.towerOfFeature[$0] == tower } })
        case nil:
            let count = min(towers, features)
            return .towers((0 ..< count).map { tower in Array(tower * features / count ..< (tower + 1) * features / count) })
        }
    }

    /// How the towers were formed, for the output.
    func towerNote(_ configuration: TrainingConfiguration) -> String? {
        guard case .towers(let towers) = configuration.layout else { return nil }
        return towerNote(towerCount: towers.count)
    }

    /// How `count` towers were formed, for the output.
    func towerNote(towerCount count: Int) -> String {
        switch partition {
        case "planted"?: "\(count) towers: the synthetic data's planted groups"
        case let path?: "\(count) towers from \(path)"
        case nil: "\(count) towers of contiguous features (no --partition given; `towerplan partition` learns better ones)"
        }
    }

    func printText(_ report: TrainingReport, configuration: TrainingConfiguration) {
        print("trained \(report.workload), \(report.layout), data \(report.data)")
        if let note = towerNote(configuration) { print("  \(note)") }
        if let resumed = report.resumedFromStep { print("  resumed from step \(resumed)") }
        let evaluation = report.evaluation
        var rows: [[String]] = [
            ["steps", "\(report.steps) (\(report.samples) samples, batch \(report.batch), \(report.epochs) full passes)"],
            ["throughput", String(format: "%.0f samples/s on %d threads", report.samplesPerSecond, report.threads) + " (OpenBLAS \(OpenBLASCore.name) kernels)"],
            ["training loss", String(format: "%.5f (mean over all steps)", report.trainingLoss)],
            ["held-out AUC", evaluation.auc.map { String(format: "%.5f", $0) } ?? "undefined (one class only)"],
            ["held-out log-loss", String(format: "%.5f on %d samples", evaluation.logLoss, evaluation.samples)],
        ]
        for phase in ["data", "step", "evaluation", "checkpoint"] where (report.phaseSeconds[phase] ?? 0) > 0 {
            rows.append(["time: \(phase)", String(format: "%.2f s", report.phaseSeconds[phase]!)])
        }
        if report.malformedLines > 0 {
            rows.append(["malformed lines", "\(report.malformedLines) skipped, e.g. \(report.malformedExamples.prefix(3).joined(separator: "; "))"])
        }
        if let exportEmbeddings { rows.append(["embeddings", exportEmbeddings]) }
        textTable(rows, rightAligned: []).forEach { print("  " + $0) }
    }
}

/// `train --json`: the report plus the flat fields scripts read.
struct TrainSummary: Encodable {
    let samplesPerSecond: Double
    let auc: Double?
    let logloss: Double
    let steps: Int
    let towers: String?
    let embeddings: String?
    /// The OpenBLAS kernels the GEMMs ran on (`OpenBLASCore`), e.g. "Haswell" or "SkylakeX".
    let blasKernels: String
    let report: TrainingReport

    init(report: TrainingReport, towers: String?, embeddings: String?) {
        blasKernels = OpenBLASCore.name
        samplesPerSecond = report.samplesPerSecond
        auc = report.evaluation.auc
        logloss = report.evaluation.logLoss
        steps = report.steps
        self.towers = towers
        self.embeddings = embeddings
        self.report = report
    }
}

/// `train --ranks N …`: the options of multi-process training (`Train.runDistributed`).
struct DistributedTrainOptions: ParsableArguments {
    @Option(help: "Train on N MPI ranks of this machine: starts mpirun with N ranks of towerplan-mpi-worker (next to this binary).")
    var ranks: Int?

    @Option(help: "Ranks per host (L); --ranks must be a multiple. --layout dmt puts one tower on each host. Default: all ranks on one host.")
    var ranksPerHost: Int?

    @Flag(help: "Run each host in its own network namespace behind a rate-limited link, so cross-host traffic is really slower (needs root, ip, tc).")
    var emulateHosts = false

    @Option(help: "Emulated hosts: each host's link rate in bit/s. Default 1e9.")
    var uplinkBitsPerSecond: Double?

    @Option(help: "Stop the MPI job after this many seconds. Default 3600.")
    var timeout: Int?

    @Flag(help: "Also simulate the same layout and batch on --topology (efficiencies 1: its peaks are measured rates) and print predicted against measured times.")
    var predict = false

    @Option(help: "Cluster file for --predict, e.g. written by `towerplan calibrate` for the same ranks and hosts.")
    var topology: String?

    /// Whether any option other than --ranks was given.
    var isUsed: Bool { ranksPerHost != nil || emulateHosts || uplinkBitsPerSecond != nil || timeout != nil || predict || topology != nil }
}

extension Train {
    /// The single-process options a multi-process run does not have, with why.
    private var singleProcessOnly: [(given: Bool, option: String)] {
        [
            (baseline, "--baseline"),
            (epochs != nil, "--epochs (give --steps)"),
            (evalEvery != nil, "--eval-every"), (checkpoint != nil || resume, "--checkpoint/--resume"), (exportEmbeddings != nil, "--export-embeddings"),
            (benchmark, "--benchmark"),
        ]
    }

    /// `validate()` for `--ranks`: the shape of the job and the options that go with it.
    func validateDistributed() throws {
        let options = distributed
        guard let ranks = options.ranks, ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        let perHost = options.ranksPerHost ?? ranks
        guard perHost >= 1, ranks % perHost == 0 else {
            throw ValidationError("--ranks \(ranks) is not a multiple of --ranks-per-host \(perHost): every host holds the same number of ranks")
        }
        if let rate = options.uplinkBitsPerSecond, !(rate >= 8_000 && rate.isFinite) { throw ValidationError("--uplink-bits-per-second must be at least 8000") }
        if options.uplinkBitsPerSecond != nil && !options.emulateHosts { throw ValidationError("--uplink-bits-per-second applies to --emulate-hosts") }
        if let timeout = options.timeout, timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
        if options.predict != (options.topology != nil) { throw ValidationError("--predict needs --topology FILE (e.g. from `towerplan calibrate`), and --topology is for --predict") }
        guard steps != nil else { throw ValidationError("multi-process training runs a fixed number of steps: give --steps") }
        if evalSamples != 0 && evalSamples < ranks {
            throw ValidationError("--eval-samples \(evalSamples) leaves some of the \(ranks) ranks without a held-out sample: give at least \(ranks), or 0 for no evaluation")
        }
        let unsupported = singleProcessOnly.filter(\.given).map(\.option)
        if !unsupported.isEmpty { throw ValidationError("not available with --ranks: \(unsupported.joined(separator: ", "))") }
    }

    /// Trains on `--ranks` MPI ranks through `LocalMPIJob` and prints the summary, predicted
    /// times next to the measured ones with `--predict`. The plan (and with `--predict` the
    /// simulation) is made first, so that a rank count, domain size, partition or topology that
    /// does not fit fails before the job starts.
    func runDistributed() throws {
        let model = try orExit { try WorkloadLoader.load(path: workload) }
        let ranks = distributed.ranks!, perHost = distributed.ranksPerHost ?? ranks, batchPerRank = batch ?? model.training.batchPerGPU
        let plan = try orExit { try DistributedPlan(workload: model, layout: distributedLayout(for: model, ranks: ranks, ranksPerHost: perHost), ranks: ranks) }
        let prediction = try distributed.topology.map { path in
            try orExit { try StepPrediction(workload: model, plan: plan, batchPerRank: batchPerRank, cluster: ClusterLoader.load(path: path)) }
        }
        let source = try orExit { try TrainingData(option: data, workload: model, heldOutEvery: heldOutEvery) }
        if case .criteo(let path, let every) = source {
            // Opened once here, so that a missing file or a bad split fails before the job starts.
            _ = try orExit { try CriteoTSVReader(workload: model, split: .training(heldOutEvery: every), path: path) }
        }
        var arguments = [
            "train", "--workload", workload, "--layout", layout == .dmt ? "sptt" : "flat", "--batch", String(batchPerRank), "--steps", String(steps!),
            "--seed", String(seed), "--threads", String(threads ?? 1), "--eval-samples", String(evalSamples / ranks * ranks),
            "--data", source.description, "--held-out-every", String(heldOutEvery),
        ]
        if layout == .dmt {
            arguments += ["--ranks-per-host", String(perHost), "--towers", plan.towerFeatures.map { $0.map(String.init).joined(separator: ",") }.joined(separator: "/")]
        }
        let job = LocalMPIJob(
            program: LocalMPIJob.siblingExecutable("towerplan-mpi-worker"), ranks: ranks, ranksPerHost: perHost,
            emulatedUplink: distributed.emulateHosts ? EmulatedHosts.Uplink(bitsPerSecond: distributed.uplinkBitsPerSecond ?? 1e9) : nil,
            timeout: .seconds(distributed.timeout ?? 3600))
        let report = try orExit { try JSONDecoder().decode(DistributedTrainingReport.self, from: try job.run(arguments: arguments)) }
        let summary = DistributedTrainSummary(
            workload: model.name, layout: layout.rawValue, ranksPerHost: perHost, emulatedUplinkBitsPerSecond: job.emulatedUplink?.bitsPerSecond,
            towers: layout == .dmt ? towerNote(towerCount: plan.domains) : nil, report: report, prediction: prediction,
            cores: AvailableCores.count)
        print(json ? try jsonText(summary) : summary.text)
    }

    /// Flat, or SPTT with one tower per host: the towers of --partition (a file or `planted`),
    /// which must number exactly the hosts, or contiguous blocks of features.
    func distributedLayout(for model: Workload, ranks: Int, ranksPerHost: Int) throws -> DistributedLayout {
        guard layout == .dmt else { return .flat }
        guard partition != nil, case .towers(let towers) = try networkLayout(for: model) else {
            return .sptt(ranksPerDomain: ranksPerHost, towers: DistributedLayout.contiguousTowers(features: model.features.count, domains: ranks / ranksPerHost))
        }
        return .sptt(ranksPerDomain: ranksPerHost, towers: towers)
    }
}

/// What `train --ranks` prints, as a value so the text and the JSON stay in step. Times are
/// seconds per step of the slowest rank (with the mean over ranks and the mean CPU time a rank
/// used); `error` is (predicted − measured) / measured.
struct DistributedTrainSummary: Encodable {
    struct Phase: Encodable {
        let name: String
        let measuredSeconds: Double?
        let meanOverRanksSeconds: Double?
        /// Process CPU seconds in the phase, mean over ranks.
        let cpuMeanOverRanksSeconds: Double?
        let predictedSeconds: Double?
        var error: Double? { predictedSeconds.flatMap { predicted in measuredSeconds.map { (predicted - $0) / $0 } } }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encodeIfPresent(measuredSeconds, forKey: .measuredSeconds)
            try container.encodeIfPresent(meanOverRanksSeconds, forKey: .meanOverRanksSeconds)
            try container.encodeIfPresent(cpuMeanOverRanksSeconds, forKey: .cpuMeanOverRanksSeconds)
            try container.encodeIfPresent(predictedSeconds, forKey: .predictedSeconds)
            try container.encodeIfPresent(error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey { case name, measuredSeconds, meanOverRanksSeconds, cpuMeanOverRanksSeconds, predictedSeconds, error }
    }

    let workload: String
    let layout: String
    let ranks: Int
    let ranksPerHost: Int
    let hosts: Int
    let emulatedUplinkBitsPerSecond: Double?
    let batchPerRank: Int
    let steps: Int
    let timedSteps: Int
    let samplesPerSecond: Double
    let trainingLoss: Double
    let measuredStepSeconds: Double
    let predictedStepSeconds: Double?
    let predictedSamplesPerSecond: Double?
    /// How the DMT towers were formed.
    let towers: String?
    /// Held-out AUC and log-loss of the final model (`--eval-samples`, rounded down to a multiple
    /// of the ranks); nil without an evaluation.
    let auc: Double?
    let logloss: Double?
    /// Cores of the machine the ranks ran on (they all ran here).
    let cores: Int
    /// The cores the prediction shared among the ranks (the calibrated topology's `shared-cores`).
    let predictedWithSharedCores: Int?
    let phases: [Phase]
    let report: DistributedTrainingReport

    init(
        workload: String, layout: String, ranksPerHost: Int, emulatedUplinkBitsPerSecond: Double?, towers: String?, report: DistributedTrainingReport,
        prediction: StepPrediction?, cores: Int
    ) {
        self.cores = cores
        predictedWithSharedCores = prediction?.sharedCores
        auc = report.evaluation?.auc
        logloss = report.evaluation?.logLoss
        self.workload = workload
        self.towers = towers
        self.layout = layout
        ranks = report.ranks
        self.ranksPerHost = ranksPerHost
        hosts = report.ranks / ranksPerHost
        self.emulatedUplinkBitsPerSecond = emulatedUplinkBitsPerSecond
        batchPerRank = report.batchPerRank
        steps = report.losses.count
        timedSteps = report.timedSteps
        measuredStepSeconds = report.stepSeconds.slowestRank
        samplesPerSecond = Double(report.ranks * report.batchPerRank) / measuredStepSeconds
        trainingLoss = report.losses.map(Double.init).reduce(0, +) / Double(max(report.losses.count, 1))
        predictedStepSeconds = prediction?.stepSeconds
        predictedSamplesPerSecond = prediction?.step.samplesPerSecond
        let measured = Dictionary(report.phases.map { ($0.name, $0.seconds) }, uniquingKeysWith: { first, _ in first })
        let predicted = prediction?.phaseSeconds ?? [:]
        // In step order: every phase measured or predicted.
        phases = StepPhase.allCases.filter { measured[$0.rawValue] != nil || predicted[$0] != nil }.map {
            Phase(
                name: $0.rawValue, measuredSeconds: measured[$0.rawValue]?.slowestRank, meanOverRanksSeconds: measured[$0.rawValue]?.meanOverRanks,
                cpuMeanOverRanksSeconds: measured[$0.rawValue]?.cpuMeanOverRanks, predictedSeconds: predicted[$0])
        }
        self.report = report
    }

    var text: String {
        let placement = hosts == 1 ? "one host" : "\(hosts) \(emulatedUplinkBitsPerSecond == nil ? "" : "emulated ")hosts × \(ranksPerHost)"
        var lines = [
            "trained \(workload), \(layout) on \(ranks) MPI ranks (\(placement)\(emulatedUplinkBitsPerSecond.map { ", links " + Units.formatBits(perSecond: $0 / 8) } ?? "")), data \(report.data)",
        ] + (towers.map { ["  towers         \($0)"] } ?? []) + [
            "  steps          \(steps) of \(ranks) × \(batchPerRank) samples (times: mean of the last \(timedSteps))",
            "  throughput     " + String(format: "%.0f samples/s", samplesPerSecond),
            "  training loss  " + String(format: "%.5f (mean over all steps)", trainingLoss),
        ]
        if let evaluation = report.evaluation {
            lines += [
                "  held-out AUC   " + (evaluation.auc.map { String(format: "%.5f", $0) } ?? "undefined (one class only)"),
                "  held-out loss  " + String(format: "%.5f on %d samples", evaluation.logLoss, evaluation.samples),
            ]
        }
        lines += [""]
        let format = { (seconds: Double?) in seconds.map { Units.formatDuration($0) } ?? "—" }
        let percent = { (error: Double?) in error.map { String(format: "%+.1f%%", $0 * 100) } ?? "" }
        let step = Phase(
            name: "step", measuredSeconds: measuredStepSeconds, meanOverRanksSeconds: report.stepSeconds.meanOverRanks,
            cpuMeanOverRanksSeconds: report.stepSeconds.cpuMeanOverRanks, predictedSeconds: predictedStepSeconds)
        var rows = [["phase (per step, slowest rank)", "measured", "mean over ranks", "CPU, mean"] + (predictedStepSeconds == nil ? [] : ["predicted", "error"])]
        for phase in phases + [step] {
            rows.append(
                [phase.name, format(phase.measuredSeconds), format(phase.meanOverRanksSeconds), format(phase.cpuMeanOverRanksSeconds)]
                    + (predictedStepSeconds == nil ? [] : [format(phase.predictedSeconds), percent(phase.error)]))
        }
        lines += textTable(rows, rightAligned: [1, 2, 3, 4, 5]).map { "  " + $0 }
        if predictedStepSeconds != nil && ranks > cores {
            lines += [""]
            if let shared = predictedWithSharedCores {
                lines += [
                    "  note: \(ranks) ranks shared this machine's \(cores) cores; the prediction shared the topology's \(shared)",
                    "  among the ranks computing at each moment (README, \"Predicted against measured\").",
                ]
            } else {
                lines += [
                    "  note: \(ranks) ranks shared this machine's \(cores) cores, but the topology does not say so (no shared-cores), so the",
                    "  prediction gave each rank a core of its own: calibrate again with this towerplan.",
                ]
            }
        }
        return lines.joined(separator: "\n")
    }
}
