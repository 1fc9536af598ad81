import Partitioning
import Training
import Workload

/// The AUC guard as a short real training run: the workload's CPU proxy
/// (`LearnedEmbeddings.proxy(of:)`: same features by name, tables capped, small D, dot
/// interaction, the workload's synthetic data) trained flat and with each candidate's towers for
/// the same number of steps from the same seed, compared on held-out AUC.
///
/// The towers keep the real workload's tower-module kind with the candidate's compression ratio,
/// so what the guard measures is what grouping and compressing cost the proxy: features that
/// interact but sit in different towers meet only after compression. Flat is trained the same way
/// (not taken from the embedding-learning run) so both sides see the same steps and data.
///
/// Cost: one proxy training per call (`steps` steps of `shape.batch` samples); the planner calls
/// it once for flat and once per distinct (partition, ratio) it offers, best first.
public struct ProxyTrainingGuard: QualityGuard {
    public var workload: Workload
    public var steps: Int
    public var seed: UInt64
    public var threads: Int
    public var tolerance: Double
    public var shape: LearnedEmbeddings.ProxyShape
    /// Held-out samples each AUC is measured on.
    public var evaluationSamples: Int

    public init(
        workload: Workload, steps: Int = 300, seed: UInt64 = 1, threads: Int = 1, tolerance: Double = 0.005,
        shape: LearnedEmbeddings.ProxyShape = LearnedEmbeddings.ProxyShape(), evaluationSamples: Int = 8_192
    ) {
        self.workload = workload
        self.steps = steps
        self.seed = seed
        self.threads = threads
        self.tolerance = tolerance
        self.shape = shape
        self.evaluationSamples = evaluationSamples
    }

    public func baselineAUC() throws -> Double {
        try train(.flat, compression: nil)
    }

    public func auc(towers partition: ResolvedPartition, compression: Double?) throws -> Double {
        var members = [[Int]](repeating: [], count: partition.towerCount)
        for (feature, tower) in partition.towerOfFeature.enumerated() { members[tower].append(feature) }
        return try train(.towers(members), compression: compression)
    }

    /// The proxy with the real workload's tower module, compressing by `compression` when given.
    func proxy(compression: Double?) throws -> Workload {
        var proxy = try LearnedEmbeddings.proxy(of: workload, shape: shape)
        guard var model = proxy.recommendation, var module = workload.recommendation?.towerModule else { return proxy }
        if let compression { module.output = .compression(compression) }
        model.towerModule = module
        proxy.model = .recommendation(model)
        return proxy
    }

    private func train(_ layout: RecommendationNetwork.Layout, compression: Double?) throws -> Double {
        let trainer = try Trainer(
            workload: proxy(compression: compression),
            configuration: TrainingConfiguration(
                layout: layout, length: .steps(steps), batch: shape.batch, threads: threads, seed: seed, evaluationSamples: evaluationSamples))
        guard let auc = try trainer.run().evaluation.auc else {
            throw PlannerError.invalid("the AUC guard's held-out samples of \(workload.name) have a single label, so no AUC exists; use more evaluation samples")
        }
        return auc
    }
}
