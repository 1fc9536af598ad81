import Training
import Workload

/// What a distributed run trains and records.
public struct DistributedTrainingOptions: Sendable {
    public var layout: DistributedLayout
    /// B: samples per rank and step; the global batch is N·B.
    public var batchPerRank: Int
    public var steps: Int
    /// Parameter seed (the data's seed is the workload's).
    public var seed: UInt64
    /// CPU threads per rank.
    public var threads: Int
    /// Keep every step's global-batch logits in the report (N·B Floats per step).
    public var recordLogits: Bool
    /// Gather the final training state into the report (the whole model through rank 0).
    public var exportState: Bool
    /// Held-out samples to evaluate the final model on (0: none). Rounded down to a multiple of
    /// the rank count, since every rank predicts the same number (`DistributedTraining.evaluate`).
    public var evaluationSamples: Int
    /// The samples: the workload's synthetic generator, or a Criteo TSV file (which every rank
    /// reads, keeping its own slices).
    public var data: TrainingData
    /// Called on every rank after each step with the 1-based step and the global loss (progress
    /// display; fault injection in tests).
    public var afterStep: (@Sendable (_ step: Int, _ loss: Float) -> Void)?

    public init(
        layout: DistributedLayout, batchPerRank: Int, steps: Int, seed: UInt64, threads: Int = 1, recordLogits: Bool = false, exportState: Bool = false,
        evaluationSamples: Int = 0, data: TrainingData = .synthetic
    ) {
        self.evaluationSamples = evaluationSamples
        self.data = data
        self.layout = layout
        self.batchPerRank = batchPerRank
        self.steps = steps
        self.seed = seed
        self.threads = threads
        self.recordLogits = recordLogits
        self.exportState = exportState
        afterStep = nil
    }
}

/// What rank 0 reports after a distributed run.
public struct DistributedTrainingReport: Sendable, Hashable, Codable {
    /// Wall-clock seconds per step: of the slowest rank and the mean over ranks; and the CPU
    /// seconds a rank's process used in that time, mean over ranks (less than the wall time where
    /// the rank waited off the CPU, or shared a core).
    public struct Seconds: Sendable, Hashable, Codable {
        public var slowestRank: Double
        public var meanOverRanks: Double
        public var cpuMeanOverRanks: Double
    }

    /// One phase's seconds per step.
    public struct Phase: Sendable, Hashable, Codable {
        public var name: String
        public var seconds: Seconds
    }

    public var ranks: Int
    public var ranksPerDomain: Int
    /// Where the samples came from (`TrainingData.description`: `synthetic`, `criteo:PATH`).
    public var data: String
    /// Global feature indices per tower (flat: one tower of every feature).
    public var towers: [[Int]]
    public var batchPerRank: Int
    /// Mean loss of each step's global batch, before that step's update.
    public var losses: [Float]
    /// Each step's global-batch logits, samples in order (rank 0's B, then rank 1's, …), when recorded.
    public var logits: [[Float]]?
    /// The final state, named as `RecommendationNetwork.exportState` names it, when requested.
    public var state: [String: [Float]]?
    /// The final model on held-out samples, when requested: the same samples and metrics as the
    /// single-process trainer's evaluation (`Trainer.evaluate`).
    public var evaluation: TrainingReport.EvaluationSummary?
    /// Steps the times average over: all but the first (which allocates the workspaces), or the
    /// only one.
    public var timedSteps: Int
    /// Whole-step time, per step.
    public var stepSeconds: Seconds
    /// Per-phase time, per step, in step order (phases the layout does not have are left out).
    public var phases: [Phase]
}

/// Trains a workload across the MPI world on its synthetic data or a Criteo file: the loop every
/// rank runs under `mpirun`, whether started by `towerplan-mpi-worker` or a user's own launcher.
public enum DistributedTraining {
    /// Runs `options.steps` steps and returns the report on world rank 0, nil on the others.
    /// Collective over `world`. Rank r takes samples [r·B, (r+1)·B) of each global batch of N·B
    /// consecutive samples of the training stream, so no data moves between ranks. Synthetic
    /// samples are a pure function of their index: each rank skips to its slice in O(1). A Criteo
    /// file is read by every rank, each parsing past the others' slices (N times the parsing of
    /// one process: fine for the small runs this is for). Throws before the first collective when
    /// the plan or the synthetic data does not fit, on every rank alike; a Criteo file that runs
    /// out stops the job with the step it ran out at.
    public static func run(workload: Workload, options: DistributedTrainingOptions, world: Communicator) throws(DistributedError) -> DistributedTrainingReport? {
        let plan = try DistributedPlan(workload: workload, layout: options.layout, ranks: world.size)
        let batch = options.batchPerRank
        guard batch >= 1, options.steps >= 1 else { throw .batch("a run needs at least one step of at least one sample per rank (batch \(batch), steps \(options.steps))") }
        guard options.evaluationSamples == 0 || options.evaluationSamples >= plan.ranks else {
            throw .data("an evaluation of \(options.evaluationSamples) held-out samples on \(plan.ranks) ranks gives some rank none: evaluate at least \(plan.ranks), or 0 for none")
        }
        let streams = try Streams(options.data, workload: workload, samplesNeeded: batch * plan.ranks * options.steps, globalBatch: batch * plan.ranks)
        let network = try DistributedNetwork(workload: workload, plan: plan, seed: options.seed, threads: options.threads, world: world)

        var source = try streams.training()
        let clock = ContinuousClock()
        var losses: [Float] = [], logits: [[Float]] = [], stepSeconds = 0.0, stepCPUSeconds = 0.0
        var warmUp = PhaseTimes(), warmUpCPU = PhaseTimes()
        for step in 0 ..< options.steps {
            guard let local = try slice(of: &source, count: batch, rank: world.rank, ranks: plan.ranks) else {
                throw .data("\(options.data.description) ran out of training samples at step \(step + 1) (\(plan.ranks) × \(batch) per step): give fewer --steps")
            }

            let start = clock.now, cpuStart = PhaseClock.processCPUSeconds()
            let result = try network.trainStep(local)
            let seconds = PhaseClock.seconds(clock.now - start), cpuSeconds = PhaseClock.processCPUSeconds() - cpuStart
            if step == 0 && options.steps > 1 {
                (warmUp, warmUpCPU) = (network.phaseTimes, network.phaseCPUTimes)
            } else {
                stepSeconds += seconds
                stepCPUSeconds += cpuSeconds
            }
            losses.append(result.loss)
            if options.recordLogits { logits.append(try gather(result.logits, world)) }
            options.afterStep?(step + 1, result.loss)
        }
        let state = options.exportState ? try network.exportState() : nil

        let timed = options.steps > 1 ? options.steps - 1 : 1
        let perStep = [stepSeconds] + zip(network.phaseTimes.seconds, warmUp.seconds).map { $0 - $1 }
        let cpuPerStep = [stepCPUSeconds] + zip(network.phaseCPUTimes.seconds, warmUpCPU.seconds).map { $0 - $1 }
        // After the times are read: predicting runs through the forward phases' clocks.
        let evaluated = options.evaluationSamples / plan.ranks * plan.ranks
        let evaluation = evaluated > 0
            ? try evaluate(network, heldOut: streams.heldOut(samples: evaluated), samples: evaluated, batch: batch, world: world) : nil
        var slowest = perStep.map { $0 / Double(timed) }, total = slowest, cpuTotal = cpuPerStep.map { $0 / Double(timed) }
        do throws(MPIError) {
            try world.allReduce(&slowest, .max)
            try world.allReduce(&total, .sum)
            try world.allReduce(&cpuTotal, .sum)
        } catch { throw .mpi(error) }
        guard world.rank == 0 else { return nil }
        let ranks = Double(plan.ranks)
        let seconds = zip(slowest, zip(total, cpuTotal)).map { Seconds(slowestRank: $0, meanOverRanks: $1.0 / ranks, cpuMeanOverRanks: $1.1 / ranks) }
        return DistributedTrainingReport(
            ranks: plan.ranks, ranksPerDomain: plan.ranksPerDomain, data: options.data.description, towers: plan.towerFeatures, batchPerRank: batch, losses: losses,
            logits: options.recordLogits ? logits : nil, state: state, evaluation: evaluation, timedSteps: timed, stepSeconds: seconds[0],
            phases: zip(StepPhase.allCases, seconds.dropFirst()).compactMap { phase, seconds in
                seconds.slowestRank > 0 ? DistributedTrainingReport.Phase(name: phase.rawValue, seconds: seconds) : nil
            })
    }

    private typealias Seconds = DistributedTrainingReport.Seconds

    /// The model's metrics on the first `samples` (a multiple of the ranks) of `heldOut`, or as
    /// many as it has, on rank 0 (nil elsewhere). They are predicted in chunks of at most `batch` per
    /// rank, each chunk's ranks·c consecutive samples split in rank order as training splits a
    /// global batch; rank 0 gathers every rank's probabilities and labels. On a stream that ends
    /// early, the evaluation stops at the first chunk some rank cannot fill, on every rank alike.
    /// The metrics are those of `Trainer.evaluate` on the same samples (up to the forward's float
    /// rounding). Collective.
    static func evaluate(
        _ network: DistributedNetwork, heldOut: any BatchSource, samples: Int, batch: Int, world: Communicator
    ) throws(DistributedError) -> TrainingReport.EvaluationSummary? {
        let ranks = world.size, perRank = samples / ranks
        var source = heldOut
        var probabilities: [Float] = [], labels: [Float] = []
        while probabilities.count < perRank {
            let chunk = min(batch, perRank - probabilities.count)
            let local = try slice(of: &source, count: chunk, rank: world.rank, ranks: ranks)
            var short = [local == nil ? 1.0 : 0.0]
            do throws(MPIError) { try world.allReduce(&short, .max) } catch { throw .mpi(error) }
            guard short[0] == 0, let local else { break }
            probabilities += try network.predict(local)
            labels += local.labels
        }
        let gathered: [[Float]]
        do throws(MPIError) { gathered = try world.gather(probabilities + labels, root: 0) } catch { throw .mpi(error) }
        guard world.rank == 0 else { return nil }
        var metrics = BinaryClassificationMetrics()
        let count = probabilities.count
        for values in gathered { metrics.add(probabilities: values[..<count], labels: values[count...]) }
        return TrainingReport.EvaluationSummary(metrics.result)
    }

    /// Rank `rank`'s `count` samples of the next `ranks` × `count` samples of `source` (it skips
    /// the other ranks' slices); nil when the stream has fewer left.
    static func slice(of source: inout any BatchSource, count: Int, rank: Int, ranks: Int) throws(DistributedError) -> SampleBatch? {
        do {
            try source.skip(samples: rank * count)
            guard let batch = try source.next(size: count), batch.count == count else { return nil }
            try source.skip(samples: (ranks - 1 - rank) * count)
            return batch
        } catch {
            throw .data("\(error)")
        }
    }

    /// The training and held-out streams of one `TrainingData`.
    struct Streams {
        let data: TrainingData
        let workload: Workload
        /// The synthetic generator; nil for a Criteo file.
        let synthetic: SyntheticDataset?

        /// Opens nothing yet; checks that the synthetic stream holds `samplesNeeded` and batches of
        /// `globalBatch` samples.
        init(_ data: TrainingData, workload: Workload, samplesNeeded: Int, globalBatch: Int) throws(DistributedError) {
            self.data = data
            self.workload = workload
            guard case .synthetic = data else {
                synthetic = nil
                return
            }
            let dataset: SyntheticDataset
            do throws(SyntheticDataError) { dataset = try SyntheticDataset(workload: workload) } catch { throw .data("\(error)") }
            guard samplesNeeded <= dataset.samples, globalBatch <= dataset.maximumBatch else {
                throw .data("the run needs \(samplesNeeded) samples in global batches of \(globalBatch); the synthetic stream has \(dataset.samples) (raise samples= in the workload)")
            }
            synthetic = dataset
        }

        func training() throws(DistributedError) -> any BatchSource {
            switch data {
            case .synthetic: return synthetic!.training()
            case .criteo(let path, let every): return try criteo(path, .training(heldOutEvery: every))
            }
        }

        /// The held-out stream, of `samples` synthetic samples or a Criteo file's held-out lines.
        func heldOut(samples: Int) throws(DistributedError) -> any BatchSource {
            switch data {
            case .synthetic: return synthetic!.heldOut(samples: samples)
            case .criteo(let path, let every): return try criteo(path, .heldOut(every: every))
            }
        }

        private func criteo(_ path: String, _ split: CriteoTSVReader.Split) throws(DistributedError) -> any BatchSource {
            do throws(CriteoError) { return try CriteoTSVReader(workload: workload, split: split, path: path) } catch { throw .data("\(error)") }
        }
    }

    /// Every rank's values concatenated in rank order on rank 0 (`[]` elsewhere).
    private static func gather(_ values: [Float], _ world: Communicator) throws(DistributedError) -> [Float] {
        do throws(MPIError) { return try world.gather(values, root: 0).flatMap { $0 } } catch { throw .mpi(error) }
    }
}
