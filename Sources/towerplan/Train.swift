import ArgumentParser
import Foundation
import Partitioning
import Planner
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

    @Option(help: "CPU threads. Results are bit-identical for a given thread count. Default: all cores.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Seed of the model's initial parameters.")
    var seed: UInt64 = 1

    @Option(name: .customLong("eval-samples"), help: "Held-out samples for the AUC and log-loss.")
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
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
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
        let source: TrainingData
        switch data {
        case nil:
            if case .dataset(let file) = model.data { source = .criteo(path: file.path, heldOutEvery: heldOutEvery) } else { source = .synthetic }
        case "synthetic"?:
            source = .synthetic
        case let value? where value.hasPrefix("criteo:") && value.count > "criteo:".count:
            source = .criteo(path: String(value.dropFirst("criteo:".count)), heldOutEvery: heldOutEvery)
        case let value?:
            throw TrainingError.invalid("--data '\(value)' is neither synthetic nor criteo:PATH")
        }
        var configuration = TrainingConfiguration(
            layout: try networkLayout(for: model), data: source, length: steps.map { .steps($0) } ?? .epochs(epochs ?? 1),
            batch: batch ?? model.training.batchPerGPU, threads: threads, seed: seed, evaluationSamples: evalSamples,
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
        switch partition {
        case "planted"?: return "\(towers.count) towers: the synthetic data's planted groups"
        case let path?: return "\(towers.count) towers from \(path)"
        case nil: return "\(towers.count) towers of contiguous features (no --partition given; `towerplan partition` learns better ones)"
        }
    }

    func printText(_ report: TrainingReport, configuration: TrainingConfiguration) {
        print("trained \(report.workload), \(report.layout), data \(report.data)")
        if let note = towerNote(configuration) { print("  \(note)") }
        if let resumed = report.resumedFromStep { print("  resumed from step \(resumed)") }
        let evaluation = report.evaluation
        var rows: [[String]] = [
            ["steps", "\(report.steps) (\(report.samples) samples, batch \(report.batch), \(report.epochs) full passes)"],
            ["throughput", String(format: "%.0f samples/s on %d threads", report.samplesPerSecond, report.threads)],
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
    let report: TrainingReport

    init(report: TrainingReport, towers: String?, embeddings: String?) {
        samplesPerSecond = report.samplesPerSecond
        auc = report.evaluation.auc
        logloss = report.evaluation.logLoss
        steps = report.steps
        self.towers = towers
        self.embeddings = embeddings
        self.report = report
    }
}
