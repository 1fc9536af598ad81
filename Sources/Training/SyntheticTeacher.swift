import Foundation
import Workload

/// The hidden model that labels synthetic samples: which features interact, and how strongly.
/// It is what a tower partitioner is supposed to rediscover from learned embeddings.
///
/// **Definition.** F sparse features are split into G planted groups dealt by cost stratum
/// (`SyntheticDataset.plant`: features ranked by pooling and table size, each run of G of them
/// spread over the G groups in a seeded random order), so group sizes differ by at most one, the
/// groups cost about the same, and membership is unrelated to feature names or order. With k the
/// latent rank:
/// - every (feature f, id r) has a hidden latent vector u_f(r) ∈ ℝᵏ and a first-order weight
///   w_f(r) ∈ ℝ: the first k + 1 draws of `SeededGenerator(seed: mix(mix(teacherSeed, f), r))`,
///   each mapped from u ∈ [0, 1) to √3·(2u − 1) (uniform, mean 0, variance 1), where
///   teacherSeed = `mix(seed, 2)`;
/// - dense feature j has a weight a_j, the j-th such draw of `SeededGenerator(seed: mix(seed, 4))`;
/// - a sample with id bag B_f for feature f (pooling factor p_f from the workload) and dense
///   values x has the pooled latent v_f = p_f^−½ · Σ_{r∈B_f} u_f(r) (a scaled sum, so a model's
///   sum-pooled embedding bag can represent it exactly) and the raw scores
///   - I = Σ_groups Σ_{f<g in the group} ⟨v_f, v_g⟩ — **pairwise interactions inside a group
///     only; no term couples two groups**,
///   - O = Σ_f p_f^−½ · Σ_{r∈B_f} w_f(r),
///   - D = Σ_j a_j · x_j;
/// - its logit is z = σ_I·(I − μ_I)/s_I + σ_O·(O − μ_O)/s_O + σ_D·(D − μ_D)/s_D, where μ and s
///   are the mean and standard deviation of each raw score over the first
///   `calibrationSamples(totalPooling: Σ_f p_f)` samples of the calibration stream (a third
///   stream, seeded `mix(seed, 5)` and used for nothing else), and σ_I, σ_O, σ_D are `Scales`. A score with s = 0 (no pairs because every group has one feature; no
///   dense features) contributes nothing;
/// - its label is 1 when a uniform draw falls below sigmoid(z + noise · σ · ε), with ε standard
///   normal and σ = √(σ_I² + σ_O² + σ_D²) over the scores present: `noise` is the standard
///   deviation of the unlearnable logit noise relative to the signal's.
///
/// Standardising against a calibration sample keeps labels near 50 % positive and the signal
/// at its nominal strength whatever the table sizes, Zipf exponent or group sizes are. The
/// Bayes-optimal predictor ranks samples by z, so the best achievable AUC is the AUC of z
/// (`SyntheticDataset.bayesAUC`): 0.81 to 0.83 at the default scales and noise 0.1, measured on
/// 12 to 40 features, 3 to 5 groups and Zipf exponents 0 to 2.
///
/// Cost: scoring a sample draws (k + 1) numbers per id and sums in O(Σ_f |B_f| · k); the group
/// sum uses Σ_{f<g} ⟨v_f, v_g⟩ = ½(‖Σ_f v_f‖² − Σ_f ‖v_f‖²), so it is linear in the features, not
/// quadratic.
public struct SyntheticTeacher: Sendable {
    /// Strengths of the teacher's parts, in logit units (the standard deviation each adds to z).
    public struct Scales: Sendable, Hashable, Codable {
        /// k, the width of the hidden latent vectors (≥ 1). Small next to the model's embedding
        /// dimension, so a model can represent the teacher exactly.
        public var latentRank: Int
        /// σ_I: the within-group pairwise interactions, the signal towers must keep.
        public var interaction: Double
        /// σ_O: first-order (per-id) terms.
        public var firstOrder: Double
        /// σ_D: the linear dense-feature term.
        public var dense: Double

        /// The defaults make interactions 88 % of the signal variance and give a total signal
        /// standard deviation of 1.6, for a Bayes AUC near 0.8.
        public init(latentRank: Int = 4, interaction: Double = 1.5, firstOrder: Double = 0.4, dense: Double = 0.4) {
            self.latentRank = latentRank
            self.interaction = interaction
            self.firstOrder = firstOrder
            self.dense = dense
        }
    }

    /// The three raw scores of one sample, before standardisation.
    struct RawScores: Sendable {
        var interaction = 0.0
        var firstOrder = 0.0
        var dense = 0.0
    }

    /// Samples of the calibration stream that fix μ and s: 2048 (μ and s to about 3 %), fewer for
    /// heavily pooled workloads so that set-up draws about 2²¹ ids at most, never fewer than 64.
    public static func calibrationSamples(totalPooling: Double) -> Int {
        Int(min(2048, max(64, Double(1 << 21) / totalPooling)))
    }

    /// Planted group of each feature, in the workload's feature order.
    public let groups: [Int]
    /// Features of each group, in increasing feature order.
    public let members: [[Int]]
    public let scales: Scales
    /// Relative logit noise (≥ 0).
    public let noise: Double
    /// mix(teacherSeed, f) per feature f: the seed that, mixed with an id, gives its latent draws.
    private let featureSeeds: [UInt64]
    /// p_f^−½ per feature.
    private let poolingScale: [Double]
    /// a_j per dense feature.
    private let denseWeights: [Double]
    /// Maps a raw score to its part of z: (score − μ) · σ/s.
    struct Standardization: Sendable {
        var mean = 0.0
        /// σ/s; 0 for a score that never varies, which then contributes nothing.
        var factor = 0.0

        /// From the calibration values of one raw score and its target strength σ.
        init(_ values: [Double], strength: Double) {
            mean = values.reduce(0, +) / Double(values.count)
            let spread = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
            // Relative threshold: a score that is constant up to rounding carries no signal.
            factor = spread > 1e-12 * max(1, abs(mean)) ? strength / spread : 0
        }

        init() {}

        func callAsFunction(_ score: Double) -> Double { (score - mean) * factor }
    }

    private var interactionPart = Standardization()
    private var firstOrderPart = Standardization()
    private var densePart = Standardization()

    /// An uncalibrated teacher: `calibrate` must run before `logit` means anything. Two steps
    /// because the calibration samples are drawn by the data set, which owns the id samplers.
    init(seed: UInt64, groups: [Int], groupCount: Int, pooling: [Double], denseWidth: Int, scales: Scales, noise: Double) {
        self.groups = groups
        var members = [[Int]](repeating: [], count: groupCount)
        for (feature, group) in groups.enumerated() { members[group].append(feature) }
        self.members = members
        self.scales = scales
        self.noise = noise
        let teacherSeed = SeededGenerator.mix(seed, 2)
        featureSeeds = groups.indices.map { SeededGenerator.mix(teacherSeed, UInt64($0)) }
        poolingScale = pooling.map { 1 / $0.squareRoot() }
        var denseGenerator = SeededGenerator(seed: SeededGenerator.mix(seed, 4))
        denseWeights = (0..<denseWidth).map { _ in Self.unitUniform(&denseGenerator) }
    }

    /// Fixes μ and s from the raw scores of the calibration samples.
    mutating func calibrate(_ samples: [RawScores]) {
        interactionPart = Standardization(samples.map(\.interaction), strength: scales.interaction)
        firstOrderPart = Standardization(samples.map(\.firstOrder), strength: scales.firstOrder)
        densePart = Standardization(samples.map(\.dense), strength: scales.dense)
    }

    /// σ: the standard deviation of the signal z over the scores present.
    public var signalScale: Double {
        let parts = [(interactionPart, scales.interaction), (firstOrderPart, scales.firstOrder), (densePart, scales.dense)]
        return parts.reduce(0) { $0 + ($1.0.factor == 0 ? 0 : $1.1 * $1.1) }.squareRoot()
    }

    /// z of sample `sample` of `batch` (a batch of the data set's shape): the signal without noise,
    /// the Bayes-optimal ranking score.
    public func logit(of batch: SampleBatch, sample: Int) -> Double {
        let raw = rawScores(of: batch, sample: sample)
        return interactionPart(raw.interaction) + firstOrderPart(raw.firstOrder) + densePart(raw.dense)
    }

    /// I, O and D of one sample (definitions in the type's documentation).
    func rawScores(of batch: SampleBatch, sample: Int) -> RawScores {
        var scores = RawScores()
        let rank = scales.latentRank
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * rank) { buffer in
            let pooled = UnsafeMutableBufferPointer(rebasing: buffer[..<rank])
            let groupSum = UnsafeMutableBufferPointer(rebasing: buffer[rank...])
            for group in members {
                groupSum.update(repeating: 0)
                var squares = 0.0
                for feature in group {
                    pooled.update(repeating: 0)
                    var firstOrder = 0.0
                    for id in batch.sparse[feature].ids(ofSample: sample) {
                        var generator = SeededGenerator(seed: SeededGenerator.mix(featureSeeds[feature], UInt64(id)))
                        for j in 0..<rank { pooled[j] += Self.unitUniform(&generator) }
                        firstOrder += Self.unitUniform(&generator)
                    }
                    let scale = poolingScale[feature]
                    scores.firstOrder += firstOrder * scale
                    for j in 0..<rank {
                        let value = pooled[j] * scale
                        groupSum[j] += value
                        squares += value * value
                    }
                }
                let total = groupSum.reduce(0) { $0 + $1 * $1 }
                scores.interaction += 0.5 * (total - squares)
            }
        }
        let dense = batch.dense[sample * batch.denseWidth ..< (sample + 1) * batch.denseWidth]
        scores.dense = zip(denseWeights, dense).reduce(0) { $0 + $1.0 * Double($1.1) }
        return scores
    }

    /// √3·(2u − 1) for u uniform in [0, 1): mean 0, variance 1.
    private static func unitUniform(_ generator: inout SeededGenerator) -> Double {
        3.0.squareRoot() * (2 * generator.nextUnitDouble() - 1)
    }
}
