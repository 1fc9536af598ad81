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
    /// How the proxy model is shrunk.
    public struct ProxyShape: Sendable, Hashable {
        /// Tables above this many rows are hashed down to it: small enough that every id is seen
        /// often within a minute of training (synthetic-planted's 50–2k-row tables learn its
        /// planted pairs in ~1M samples; 2k–100k-row tables barely start).
        public var maximumRows = 2_000
        /// Ids per sample are capped at this pooling factor: the planted interactions are between
        /// features' pooled latents whatever the pooling, and a 50-id bag costs 50 lookups.
        public var maximumPooling = 1.0
        /// Embedding width of every table.
        public var dimension = 16
        /// Hidden widths of the top MLP (a final width-1 layer is added).
        public var topHidden = [64]
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

    /// The proxy of `workload`: its features (by name), dense features and data section, shrunk by
    /// `shape` (tables, pooling, width), with a dot interaction, identity tower modules and Adagrad/Adam.
    public static func proxy(of workload: Workload, shape: ProxyShape = ProxyShape()) throws -> Workload {
        guard let model = workload.recommendation else {
            throw TrainingError.invalid("learned embeddings need a recommendation workload; \(workload.name) is not one")
        }
        let features = model.features.map { feature in
            var proxy = feature
            proxy.dimension = shape.dimension
            proxy.hashSize = min(feature.tableRows, shape.maximumRows)
            proxy.pooling = min(feature.pooling, shape.maximumPooling)
            return proxy
        }
        let bottom = model.denseFeatures > 0 ? MLP(inputWidth: model.denseFeatures, layerWidths: [64, shape.dimension]) : nil
        let proxyModel = RecommendationModel(
            embeddingDimension: shape.dimension, features: features, denseFeatures: model.denseFeatures, bottomMLP: bottom,
            interaction: .dot, topMLP: MLP(inputWidth: 0, layerWidths: shape.topHidden + [1]), towerModule: .identity)
        let training = TrainingSetup(
            batchPerGPU: shape.batch, sparseOptimizer: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1),
            denseOptimizer: DenseOptimizer(kind: .adam, learningRate: 1e-3))
        let data: DataSource = switch workload.data {
        case .synthetic(let synthetic): .synthetic(synthetic)
        case .dataset, nil: .synthetic(SyntheticData(seed: 1))
        }
        return Workload(
            name: "\(workload.name)-proxy", description: "CPU proxy of \(workload.name) for learning feature affinities",
            model: .recommendation(proxyModel), training: training, data: data, file: workload.file)
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
