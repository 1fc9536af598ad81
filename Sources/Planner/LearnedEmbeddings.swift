import Foundation
import Partitioning
import Training
import Workload

/// Learned embeddings for the tower partitioner from a short real training run on CPU.
///
/// A production workload (tables of 10⁸ rows, D = 128, a Wukong interaction) cannot be trained here,
/// so this trains a *proxy* that keeps what the partitioner needs — the same features by name — and
/// shrinks the rest (`ProxyShape`): tables capped by hashing ids, pooling capped, a small D,
/// a dot interaction (so every feature pair has its own top-MLP input, which `LearnedAffinity`
/// reads) and synthetic data with the workload's planted groups. The affinity between features is
/// a property of the data's interactions, not of table sizes, so the proxy's affinity is what the
/// partitioner of the real model uses.
public enum LearnedEmbeddings {
    /// How the proxy model is shrunk. The defaults are what let prod-128's 128 features, whose
    /// planted interaction signal is spread over 960 pairs (σ_I²/960 of logit variance each, a
    /// seventh of synthetic-planted's per-pair share), be recovered within a minute on 2 cores.
    /// Measured on prod-128, 1,500 steps, seeds 1 and 2: the earlier proxy (2k-row tables,
    /// dimension 16, a [64] hidden layer, the 256 dense features, Adam 1e-3) reached held-out AUC
    /// 0.60 and ARI 0.01 against the planted groups at 8 towers; these defaults reach AUC 0.67 and
    /// ARI 1.0 (Bayes AUC 0.82).
    public struct ProxyShape: Sendable, Hashable {
        /// Tables are hashed down to about this many rows (`proxy(of:shape:)` adds the feature's cost
        /// stratum): the planted interactions are between per-id latent vectors, so the fewer ids,
        /// the more often each is seen; a minute of training sees each id of a 20-row table
        /// thousands of times, while a 2k-row table's tail ids are met a handful of times and the
        /// pair weights never rise above their noise.
        public var maximumRows = 20
        /// Ids per sample are capped at this pooling factor: the planted interactions are between
        /// features' pooled latents whatever the pooling, and a 50-id bag costs 50 lookups.
        public var maximumPooling = 1.0
        /// Embedding width of every table: twice the teacher's latent rank of 4, enough to represent
        /// it; the dot interaction's cost (F²/2 products of this width per sample) dominates a step.
        public var dimension = 8
        /// Hidden widths of the top MLP (a final width-1 layer is added). None by default: the top
        /// is then one weight per feature pair on the pair's dot product (a field-weighted
        /// factorization machine), so `LearnedAffinity`'s weight norm is that pair's learned weight
        /// itself, not spread over hidden units whose random signs slow learning down.
        public var topHidden: [Int] = []
        /// Samples per step.
        public var batch = 512
        /// Held-out samples the affinity is measured on.
        public var affinitySamples = 2_048

        public init() {}
    }

    /// What a learning run produced.
    public struct Result: Sendable {
        /// The affinity and representations in Partitioning's file format, planted groups included
        /// when the data is synthetic.
        public var file: FeatureAffinityFile
        public var report: TrainingReport
        /// True when the time budget cut the run short of its planned steps.
        public var stoppedByBudget: Bool
    }

    /// The proxy of `workload`: its features (by name) and data section, shrunk by `shape` (tables,
    /// pooling, width), with a dot interaction, identity tower modules, row-wise Adagrad 0.1 for the
    /// tables and Adam 3e-3 for the pair weights (3× the Criteo starter's 1e-3, as in
    /// synthetic-planted.xml: on prod-128, seed 1, 1,000 steps, ARI 0.59 at 1e-3, 0.80 at 3e-3,
    /// 0.66 at 1e-2).
    ///
    /// - Dense features are dropped: the teacher's dense term couples no features, so it is only
    ///   noise to the pair weights, and generating hundreds of normals per sample was most of the
    ///   data cost.
    /// - Table rows keep the real features' cost strata: feature f gets
    ///   `shape.maximumRows + (S − 1 − s_f)` rows, s_f its stratum (rank by pooling, then table
    ///   rows, larger first, divided by the planted group count G; S strata). `SyntheticDataset`
    ///   deals the planted groups by exactly that ranking, so the proxy's planted groups take one
    ///   feature of each real stratum and cost about the same in the real workload; with every
    ///   capped table equal they were dealt at random, and prod-128's planted groups cost up to
    ///   1.096× the mean, more than a 5 % balance bound lets a partition recover.
    public static func proxy(of workload: Workload, shape: ProxyShape = ProxyShape()) throws -> Workload {
        guard let model = workload.recommendation else {
            throw TrainingError.invalid("learned embeddings need a recommendation workload; \(workload.name) is not one")
        }
        let synthetic: SyntheticData = switch workload.data {
        case .synthetic(let synthetic): synthetic
        case .dataset, nil: SyntheticData(seed: 1)
        }
        let groups = max(1, synthetic.groups ?? min(SyntheticDataset.defaultGroups, model.features.count))
        let ranking = model.features.indices.sorted { a, b in
            let (x, y) = (model.features[a], model.features[b])
            if x.pooling != y.pooling { return x.pooling > y.pooling }
            return x.tableRows != y.tableRows ? x.tableRows > y.tableRows : a < b
        }
        var stratum = [Int](repeating: 0, count: model.features.count)
        for (rank, feature) in ranking.enumerated() { stratum[feature] = rank / groups }
        let strata = (model.features.count + groups - 1) / groups
        let features = model.features.enumerated().map { index, feature in
            var proxy = feature
            proxy.dimension = shape.dimension
            proxy.hashSize = min(feature.tableRows, shape.maximumRows + strata - 1 - stratum[index])
            proxy.pooling = min(feature.pooling, shape.maximumPooling)
            return proxy
        }
        let proxyModel = RecommendationModel(
            embeddingDimension: shape.dimension, features: features, denseFeatures: 0, bottomMLP: nil,
            interaction: .dot, topMLP: MLP(inputWidth: 0, layerWidths: shape.topHidden + [1]), towerModule: .identity)
        let training = TrainingSetup(
            batchPerGPU: shape.batch, sparseOptimizer: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1),
            denseOptimizer: DenseOptimizer(kind: .adam, learningRate: 3e-3))
        return Workload(
            name: "\(workload.name)-proxy", description: "CPU proxy of \(workload.name) for learning feature affinities",
            model: .recommendation(proxyModel), training: training, data: .synthetic(synthetic), file: workload.file)
    }

    /// Trains the proxy of `workload` flat for `steps` steps (stopping early when `budgetSeconds`
    /// of training have passed) and measures the learned affinity on held-out samples.
    public static func learn(
        workload: Workload, steps: Int = 2_000, budgetSeconds: Double = 60, seed: UInt64 = 1, threads: Int = 1,
        shape: ProxyShape = ProxyShape(), progress: ((TrainingProgress) -> Void)? = nil
    ) throws -> Result {
        let proxy = try proxy(of: workload, shape: shape)
        let trainer = try Trainer(
            workload: proxy,
            configuration: TrainingConfiguration(
                length: .steps(steps), batch: shape.batch, threads: threads, seed: seed, evaluationSamples: 8_192))
        let started = ContinuousClock.now
        var stoppedByBudget = false
        let report = try trainer.run(
            shouldStop: { _ in
                let elapsed = ContinuousClock.now - started
                stoppedByBudget = elapsed > .seconds(budgetSeconds)
                return stoppedByBudget
            }, progress: progress)
        let file = try measure(trainer, report: report, workload: workload, samples: shape.affinitySamples)
        return Result(file: file, report: report, stoppedByBudget: stoppedByBudget)
    }

    /// The learned affinity of a trained flat dot model (`LearnedAffinity`) on `samples` held-out
    /// samples, as the partitioner's file for `workload` (planted groups included for synthetic data).
    public static func measure(_ trainer: Trainer, report: TrainingReport, workload: Workload, samples: Int) throws -> FeatureAffinityFile {
        guard let network = trainer.network else { throw TrainingError.invalid("the learned affinity needs the network, not the baseline") }
        let affinity = try LearnedAffinity(network: network, seed: trainer.configuration.seed, batches: trainer.heldOutBatches(samples: samples))
        let planted = trainer.synthetic?.plantedGroups
        return FeatureAffinityFile(
            workload: workload.name,
            trained: .init(
                layout: "flat", data: report.data, seed: Int(exactly: trainer.configuration.seed), steps: report.steps,
                auc: report.evaluation.auc),
            representationMethod: LearnedAffinity.representationMethod, affinityMethod: LearnedAffinity.affinityMethod,
            features: affinity.featureNames.indices.map {
                .init(name: affinity.featureNames[$0], representation: affinity.representation[$0], plantedGroup: planted?[$0])
            },
            affinity: affinity.affinity)
    }
}
