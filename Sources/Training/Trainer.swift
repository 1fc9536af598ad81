import Foundation
import Workload

/// Where a training run's samples come from.
public enum TrainingData: Sendable, Hashable {
    /// The workload's `<synthetic>` generator (its defaults when the workload has no data section).
    case synthetic
    /// A Criteo TSV file; every `heldOutEvery`-th line is held out for evaluation.
    case criteo(path: String, heldOutEvery: Int)

    /// The data a `--data` option names (`synthetic` or `criteo:PATH`), or without one the
    /// workload's own: its Criteo dataset, else its synthetic generator. `heldOutEvery` splits a
    /// Criteo file (checked when it is opened).
    public init(option: String?, workload: Workload, heldOutEvery: Int) throws(TrainingError) {
        switch option {
        case nil:
            if case .dataset(let file) = workload.data { self = .criteo(path: file.path, heldOutEvery: heldOutEvery) } else { self = .synthetic }
        case "synthetic"?:
            self = .synthetic
        case let value? where value.hasPrefix("criteo:") && value.count > "criteo:".count:
            self = .criteo(path: String(value.dropFirst("criteo:".count)), heldOutEvery: heldOutEvery)
        case let value?:
            throw TrainingError.invalid("--data '\(value)' is neither synthetic nor criteo:PATH")
        }
    }

    /// A short description for reports and checkpoints (`synthetic`, `criteo:PATH`).
    public var description: String {
        switch self {
        case .synthetic: "synthetic"
        case .criteo(let path, _): "criteo:\(path)"
        }
    }
}

/// How long a run trains.
public enum TrainingLength: Sendable, Hashable {
    /// Exactly this many optimizer steps; streams restart when an epoch runs out.
    case steps(Int)
    /// Whole passes over the training stream (the last batch of a pass may be smaller).
    case epochs(Int)
}

/// Everything that decides what a run computes. Two runs with equal configurations (and the same
/// thread count) produce bit-identical parameters and losses.
public struct TrainingConfiguration: Sendable {
    /// The workload's network in `layout`, or the logistic-regression baseline on the same inputs.
    public var baseline = false
    public var layout: RecommendationNetwork.Layout
    public var data: TrainingData
    public var length: TrainingLength
    /// Samples per step; the workload's batch per GPU unless overridden.
    public var batch: Int
    /// CPU threads for BLAS and the engine's parallel loops.
    public var threads: Int
    /// Seed of the parameters' initial values (the synthetic data has its own seed, in the workload).
    public var seed: UInt64
    /// Held-out samples evaluated at the end (and at each `evaluateEvery`).
    public var evaluationSamples: Int
    /// Also evaluate every this many steps (for progress display); nil: only at the end.
    public var evaluateEvery: Int?
    /// Train on a fixed pool of this many pre-generated batches, cycled, so throughput measures the
    /// model alone (what a framework benchmark with pre-generated data measures). nil: stream.
    public var benchmarkPool: Int?

    public init(
        layout: RecommendationNetwork.Layout = .flat, data: TrainingData = .synthetic, length: TrainingLength, batch: Int,
        threads: Int = 1, seed: UInt64 = 1, evaluationSamples: Int = 16_384, evaluateEvery: Int? = nil, benchmarkPool: Int? = nil
    ) {
        self.layout = layout
        self.data = data
        self.length = length
        self.batch = batch
        self.threads = threads
        self.seed = seed
        self.evaluationSamples = evaluationSamples
        self.evaluateEvery = evaluateEvery
        self.benchmarkPool = benchmarkPool
    }
}

/// Where a run stands: what a checkpoint stores besides the model.
public struct TrainingPosition: Sendable, Hashable, Codable {
    /// Optimizer steps taken.
    public var step = 0
    /// Completed passes over the training stream.
    public var epoch = 0
    /// Samples consumed in the current pass (where a resumed stream continues).
    public var samplesInEpoch = 0
    /// Samples trained on over the whole run.
    public var samples = 0

    public init() {}
}

/// What the progress callback sees after each step.
public struct TrainingProgress: Sendable {
    public var position: TrainingPosition
    /// Steps the run will take, when known in advance (`.steps`).
    public var totalSteps: Int?
    /// Mean training loss of the last (up to) 100 steps.
    public var recentLoss: Double
    /// The latest held-out evaluation, if one ran.
    public var evaluation: BinaryClassificationMetrics.Result?
    /// Samples per second of the training loop so far in this process.
    public var samplesPerSecond: Double
}

/// The outcome of a run.
public struct TrainingReport: Sendable, Codable {
    public var workload: String
    public var layout: String
    public var data: String
    public var steps: Int
    public var epochs: Int
    public var samples: Int
    public var batch: Int
    public var threads: Int
    /// Samples trained per second of training-loop wall time (data production included, unless the
    /// run trained on a pre-generated pool), in this process (a resumed run counts its own part).
    public var samplesPerSecond: Double
    /// Wall seconds per phase of this process: `data` (producing batches), `step` (forward,
    /// backward, update), `evaluation`, `checkpoint`.
    public var phaseSeconds: [String: Double]
    /// Mean training loss over the whole run (resumed runs include the steps before the checkpoint).
    public var trainingLoss: Double
    /// Held-out evaluation of the final model.
    public var evaluation: EvaluationSummary
    /// Malformed input lines skipped (Criteo), with the first few reasons; 0 for synthetic data.
    public var malformedLines: Int
    public var malformedExamples: [String]
    /// The step the run resumed from, when it did.
    public var resumedFromStep: Int?

    /// `BinaryClassificationMetrics.Result` in a stable, encodable shape.
    public struct EvaluationSummary: Sendable, Hashable, Codable {
        public var samples: Int
        public var auc: Double?
        public var logLoss: Double
        public var accuracy: Double

        public init(_ result: BinaryClassificationMetrics.Result) {
            samples = result.samples
            auc = result.auc
            logLoss = result.logLoss
            accuracy = result.accuracy
        }
    }
}

/// Runs training: streams batches into a `RecommendationNetwork`, evaluates on held-out data,
/// writes and resumes checkpoints.
///
/// Resuming is exact: the checkpoint holds every parameter and optimizer state, the step and the
/// stream position, and the per-step losses; synthetic streams are counter-based and the Criteo
/// reader skips to the position, so a run killed after a checkpoint and resumed ends with the same
/// parameters, losses and evaluation as an uninterrupted one (same thread count).
public final class Trainer {
    public let workload: Workload
    public let configuration: TrainingConfiguration
    /// What is trained: the network, or the logistic-regression baseline.
    public let model: any TrainableModel
    /// The network, unless the run trains the baseline.
    public var network: RecommendationNetwork? { model as? RecommendationNetwork }
    public private(set) var position = TrainingPosition()
    /// Loss of every step taken, resumed steps included.
    public private(set) var losses: [Float] = []
    /// The synthetic dataset, when the data is synthetic (it knows the planted groups).
    public let synthetic: SyntheticDataset?
    private var resumedFrom: Int?

    public init(workload: Workload, configuration: TrainingConfiguration) throws {
        guard configuration.batch >= 1 else { throw TrainingError.invalid("the batch must be at least 1 sample, got \(configuration.batch)") }
        guard configuration.evaluationSamples >= 1 else {
            throw TrainingError.invalid("evaluation needs at least 1 held-out sample, got \(configuration.evaluationSamples)")
        }
        switch configuration.length {
        case .steps(let steps) where steps < 1, .epochs(let steps) where steps < 1:
            throw TrainingError.invalid("a run needs at least 1 step or epoch, got \(steps)")
        default: break
        }
        if case .criteo(_, let every) = configuration.data, every < 2 {
            throw TrainingError.invalid("the held-out split needs every n-th line with n ≥ 2, got \(every)")
        }
        self.workload = workload
        self.configuration = configuration
        model = configuration.baseline
            ? try LogisticRegression(workload: workload)
            : try RecommendationNetwork(workload: workload, layout: configuration.layout, seed: configuration.seed, threads: configuration.threads)
        if case .synthetic = configuration.data {
            let dataset = try SyntheticDataset(workload: workload)
            guard configuration.batch <= dataset.maximumBatch else {
                throw TrainingError.invalid("batch \(configuration.batch) exceeds the generator's limit of \(dataset.maximumBatch) samples")
            }
            synthetic = dataset
        } else {
            synthetic = nil
        }
    }

    /// Restores a checkpoint written by a run with the same workload, layout, data, batch and seed.
    public func resume(from checkpoint: TrainingCheckpoint) throws {
        let expected = TrainingCheckpoint.Identity(workload: workload, configuration: configuration)
        if let mismatch = checkpoint.identity.mismatch(with: expected) {
            throw TrainingError.invalid("checkpoint \(checkpoint.file) was written by another run (\(mismatch)); resume with the same options or start afresh")
        }
        try model.importState(checkpoint.state)
        position = checkpoint.position
        losses = checkpoint.losses
        resumedFrom = position.step
    }

    /// The whole training state as a checkpoint value.
    public func checkpoint() -> TrainingCheckpoint {
        TrainingCheckpoint(
            identity: .init(workload: workload, configuration: configuration), position: position, losses: losses,
            state: model.exportState())
    }

    /// Trains until the configured length, then evaluates the final model on held-out data.
    /// - Parameters:
    ///   - checkpoints: where and how often to write checkpoints (atomically), or nil.
    ///   - shouldStop: asked before every step; true ends training early (a time budget), and the
    ///     final model is evaluated as usual.
    ///   - progress: called after every step (and evaluation) on the calling thread.
    public func run(
        checkpoints: (path: String, every: Int)? = nil, shouldStop: ((TrainingPosition) -> Bool)? = nil,
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws -> TrainingReport {
        var phase: [String: Double] = ["data": 0, "step": 0, "evaluation": 0, "checkpoint": 0]
        var source = try openTrainingStream()
        try source.skip(samples: position.samplesInEpoch)
        let pool = try configuration.benchmarkPool.map { try pregenerate(count: $0) }
        var latestEvaluation: BinaryClassificationMetrics.Result?
        var samplesThisProcess = 0
        let totalSteps: Int? = if case .steps(let steps) = configuration.length { steps } else { nil }

        while !isFinished, shouldStop?(position) != true {
            var clock = ContinuousClock.now
            let batch: SampleBatch
            if let pool {
                batch = pool[position.step % pool.count]
            } else if let next = try source.next(size: configuration.batch) {
                batch = next
            } else {
                position.epoch += 1
                position.samplesInEpoch = 0
                if case .epochs(let epochs) = configuration.length, position.epoch >= epochs { break }
                source = try openTrainingStream()
                guard let first = try source.next(size: configuration.batch) else {
                    throw TrainingError.invalid("the training stream of \(configuration.data.description) has no samples")
                }
                batch = first
            }
            phase["data", default: 0] += Self.seconds(since: &clock)
            let loss = model.trainStep(batch)
            phase["step", default: 0] += Self.seconds(since: &clock)
            losses.append(loss)
            position.step += 1
            position.samples += batch.count
            if pool == nil { position.samplesInEpoch += batch.count }
            samplesThisProcess += batch.count
            if let every = configuration.evaluateEvery, position.step % every == 0 {
                latestEvaluation = try evaluate()
                phase["evaluation", default: 0] += Self.seconds(since: &clock)
            }
            if let checkpoints, position.step % checkpoints.every == 0 {
                try checkpoint().write(to: checkpoints.path)
                phase["checkpoint", default: 0] += Self.seconds(since: &clock)
            }
            if let progress {
                let loop = phase["data", default: 0] + phase["step", default: 0]
                progress(
                    TrainingProgress(
                        position: position, totalSteps: totalSteps, recentLoss: recentLoss, evaluation: latestEvaluation,
                        samplesPerSecond: loop > 0 ? Double(samplesThisProcess) / loop : 0))
            }
        }
        var clock = ContinuousClock.now
        let final = try evaluate()
        phase["evaluation", default: 0] += Self.seconds(since: &clock)
        let loop = phase["data", default: 0] + phase["step", default: 0]
        let malformed = (source as? CriteoTSVReader)?.report
        return TrainingReport(
            workload: workload.name, layout: configuration.baseline ? "logistic regression" : Self.describe(configuration.layout), data: configuration.data.description,
            steps: position.step, epochs: position.epoch, samples: position.samples, batch: configuration.batch,
            threads: configuration.threads, samplesPerSecond: loop > 0 ? Double(samplesThisProcess) / loop : 0, phaseSeconds: phase,
            trainingLoss: losses.isEmpty ? .nan : losses.reduce(0) { $0 + Double($1) } / Double(losses.count),
            evaluation: .init(final), malformedLines: malformed?.malformedLines ?? 0,
            malformedExamples: malformed?.firstProblems.map(\.description) ?? [], resumedFromStep: resumedFrom)
    }

    /// Log-loss, AUC and accuracy of the current model on the held-out stream's first
    /// `evaluationSamples` samples (the same samples every time).
    public func evaluate() throws -> BinaryClassificationMetrics.Result {
        var metrics = BinaryClassificationMetrics()
        var heldOut = try openHeldOutStream()
        var remaining = configuration.evaluationSamples
        while remaining > 0, let batch = try heldOut.next(size: min(remaining, configuration.batch)) {
            metrics.add(probabilities: model.predict(batch), labels: batch.labels)
            remaining -= batch.count
        }
        return metrics.result
    }

    /// Batches of the held-out stream, for measurements on the trained model (e.g. the learned affinity).
    public func heldOutBatches(samples: Int) throws -> [SampleBatch] {
        var heldOut = try openHeldOutStream()
        var batches: [SampleBatch] = []
        var remaining = samples
        while remaining > 0, let batch = try heldOut.next(size: min(remaining, configuration.batch)) {
            batches.append(batch)
            remaining -= batch.count
        }
        return batches
    }

    private var isFinished: Bool {
        switch configuration.length {
        case .steps(let steps): position.step >= steps
        case .epochs(let epochs): position.epoch >= epochs
        }
    }

    private var recentLoss: Double {
        let recent = losses.suffix(100)
        return recent.isEmpty ? .nan : recent.reduce(0) { $0 + Double($1) } / Double(recent.count)
    }

    private func openTrainingStream() throws -> any BatchSource {
        switch configuration.data {
        case .synthetic: return synthetic!.training()
        case .criteo(let path, let every): return try CriteoTSVReader(workload: workload, split: .training(heldOutEvery: every), path: path)
        }
    }

    private func openHeldOutStream() throws -> any BatchSource {
        switch configuration.data {
        case .synthetic: return synthetic!.heldOut(samples: configuration.evaluationSamples)
        case .criteo(let path, let every): return try CriteoTSVReader(workload: workload, split: .heldOut(every: every), path: path)
        }
    }

    /// The first `count` batches of the training stream (fewer if it is shorter).
    private func pregenerate(count: Int) throws -> [SampleBatch] {
        guard count >= 1 else { throw TrainingError.invalid("the benchmark pool needs at least 1 batch, got \(count)") }
        var source = try openTrainingStream()
        var pool: [SampleBatch] = []
        while pool.count < count, let batch = try source.next(size: configuration.batch) { pool.append(batch) }
        guard !pool.isEmpty else { throw TrainingError.invalid("the training stream has no samples") }
        return pool
    }

    private static func seconds(since clock: inout ContinuousClock.Instant) -> Double {
        let now = ContinuousClock.now
        let elapsed = now - clock
        clock = now
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    /// `flat`, or `dmt: N towers`.
    static func describe(_ layout: RecommendationNetwork.Layout) -> String {
        switch layout {
        case .flat: "flat"
        case .towers(let towers): "dmt: \(towers.count) towers"
        }
    }
}

/// A training run that cannot start or continue, with what to do about it.
public enum TrainingError: Error, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        }
    }
}
