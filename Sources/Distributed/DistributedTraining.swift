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
    /// Called on every rank after each step with the 1-based step and the global loss (progress
    /// display; fault injection in tests).
    public var afterStep: (@Sendable (_ step: Int, _ loss: Float) -> Void)?

    public init(
        layout: DistributedLayout, batchPerRank: Int, steps: Int, seed: UInt64, threads: Int = 1, recordLogits: Bool = false, exportState: Bool = false,
        evaluationSamples: Int = 0
    ) {
        self.evaluationSamples = evaluationSamples
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

/// Trains a workload on its synthetic data across the MPI world: the loop every rank runs under
/// `mpirun`, whether started by `towerplan-mpi-worker` or a user's own launcher.
public enum DistributedTraining {
    /// Runs `options.steps` steps and returns the report on world rank 0, nil on the others.
    /// Collective over `world`. Rank r takes samples [r·B, (r+1)·B) of each global batch of N·B
    /// consecutive samples of the workload's synthetic training stream (samples are a pure function
    /// of their index, so each rank skips to its slice in O(1) and no data moves between ranks).
    /// Throws before the first collective when the plan or the data does not fit, on every rank alike.
    public static func run(workload: Workload, options: DistributedTrainingOptions, world: Communicator) throws(DistributedError) -> DistributedTrainingReport? {
        let plan = try DistributedPlan(workload: workload, layout: options.layout, ranks: world.size)
        let dataset: SyntheticDataset
        do throws(SyntheticDataError) { dataset = try SyntheticDataset(workload: workload) } catch { throw .data("\(error)") }
        let batch = options.batchPerRank, globalBatch = batch * plan.ranks
        guard batch >= 1, options.steps >= 1 else { throw .batch("a run needs at least one step of at least one sample per rank (batch \(batch), steps \(options.steps))") }
        guard globalBatch * options.steps <= dataset.samples, globalBatch <= dataset.maximumBatch else {
            throw .data("\(options.steps) steps of \(plan.ranks) × \(batch) samples need \(globalBatch * options.steps) samples; the synthetic stream has \(dataset.samples) (raise samples= in the workload)")
        }
        guard options.evaluationSamples == 0 || options.evaluationSamples >= plan.ranks else {
            throw .data("an evaluation of \(options.evaluationSamples) held-out samples on \(plan.ranks) ranks gives some rank none: evaluate at least \(plan.ranks), or 0 for none")
        }
        let network = try DistributedNetwork(workload: workload, plan: plan, seed: options.seed, threads: options.threads, world: world)

        var source = dataset.training()
        let clock = ContinuousClock()
        var losses: [Float] = [], logits: [[Float]] = [], stepSeconds = 0.0, stepCPUSeconds = 0.0
        var warmUp = PhaseTimes(), warmUpCPU = PhaseTimes()
        for step in 0 ..< options.steps {
            source.skip(samples: world.rank * batch)
            let local: SampleBatch?
            do throws(SyntheticDataError) { local = try source.next(size: batch) } catch { throw .data("\(error)") }
            guard let local else { throw .data("the synthetic stream ended at step \(step + 1)") }
            source.skip(samples: (plan.ranks - 1 - world.rank) * batch)

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
        let evaluation = options.evaluationSamples > 0
            ? try evaluate(network, dataset: dataset, samples: options.evaluationSamples, batch: batch, world: world) : nil
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
            ranks: plan.ranks, ranksPerDomain: plan.ranksPerDomain, towers: plan.towerFeatures, batchPerRank: batch, losses: losses,
            logits: options.recordLogits ? logits : nil, state: state, evaluation: evaluation, timedSteps: timed, stepSeconds: seconds[0],
            phases: zip(StepPhase.allCases, seconds.dropFirst()).compactMap { phase, seconds in
                seconds.slowestRank > 0 ? DistributedTrainingReport.Phase(name: phase.rawValue, seconds: seconds) : nil
            })
    }

    private typealias Seconds = DistributedTrainingReport.Seconds

    /// The model's metrics on the first `samples` held-out samples, rounded down to a multiple of
    /// the ranks, on rank 0 (nil elsewhere). They are predicted in chunks of at most `batch` per
    /// rank, each chunk's ranks·c consecutive samples split in rank order as training splits a
    /// global batch; rank 0 gathers every rank's probabilities and labels. The metrics are those
    /// of `Trainer.evaluate` on the same samples (up to the forward's float rounding). Collective.
    static func evaluate(
        _ network: DistributedNetwork, dataset: SyntheticDataset, samples: Int, batch: Int, world: Communicator
    ) throws(DistributedError) -> TrainingReport.EvaluationSummary? {
        let ranks = world.size, perRank = samples / ranks
        var heldOut = dataset.heldOut(samples: perRank * ranks)
        var probabilities: [Float] = [], labels: [Float] = []
        while probabilities.count < perRank {
            let chunk = min(batch, perRank - probabilities.count)
            heldOut.skip(samples: world.rank * chunk)
            let local: SampleBatch?
            do throws(SyntheticDataError) { local = try heldOut.next(size: chunk) } catch { throw .data("\(error)") }
            guard let local else { throw .data("the held-out stream ended after \(probabilities.count) of \(perRank) samples per rank") }
            heldOut.skip(samples: (ranks - 1 - world.rank) * chunk)
            probabilities += try network.predict(local)
            labels += local.labels
        }
        let gathered: [[Float]]
        do throws(MPIError) { gathered = try world.gather(probabilities + labels, root: 0) } catch { throw .mpi(error) }
        guard world.rank == 0 else { return nil }
        var metrics = BinaryClassificationMetrics()
        for values in gathered { metrics.add(probabilities: values[..<perRank], labels: values[perRank...]) }
        return TrainingReport.EvaluationSummary(metrics.result)
    }

    /// Every rank's values concatenated in rank order on rank 0 (`[]` elsewhere).
    private static func gather(_ values: [Float], _ world: Communicator) throws(DistributedError) -> [Float] {
        do throws(MPIError) { return try world.gather(values, root: 0).flatMap { $0 } } catch { throw .mpi(error) }
    }
}
