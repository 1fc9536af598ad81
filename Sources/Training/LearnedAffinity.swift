import COpenBLAS
import Foundation
import Workload

/// Which features interact, read off a trained flat DLRM: the input of the tower partitioner
/// (DESIGN §1.2, TP).
///
/// Affinity of features f and g:
///
///     A(f, g) = ‖W₁[:, c(f, g)] − W₁⁽⁰⁾[:, c(f, g)]‖₂ · std_s ⟨e_f(s), e_g(s)⟩
///
/// where c(f, g) is the top-MLP input column holding the dot product of f's and g's pooled
/// embeddings, W₁ the top MLP's first weight matrix and W₁⁽⁰⁾ its initial value (rebuilt from the
/// seed), and the standard deviation runs over held-out samples s. It is how much the first hidden
/// layer's *learned* response moves when that pair's product moves by its typical amount. The
/// initial weights are subtracted because a pair the label ignores keeps weights of the size of
/// their random initialisation (nothing pulls them to zero), which would drown the learned ones;
/// the spread is needed because a constant product carries no information whatever its weight,
/// and because tables are initialised independently, so ⟨e_f, e_g⟩ has an arbitrary scale.
///
/// Representation of feature f (for clustering strategies such as balanced k-means): its
/// interaction profile, row f of A with A(f, f) set to the row's maximum, scaled to unit length —
/// features that interact with the same partners get nearby vectors.
///
/// Needs a flat model with a dot interaction and identity towers, where every pair has its own
/// top-MLP column; other models are refused with an explanation.
///
/// Cost: one F×F Gram matrix per held-out sample (an sgemm of F×D by D×F), O(S·F²·D) FLOPs, plus
/// O(F²·H₁) for the weight norms; F = 512 features over 2,048 samples is about 17 GFLOP.
public struct LearnedAffinity: Sendable {
    public let featureNames: [String]
    /// F×F, symmetric, non-negative, zero diagonal.
    public let affinity: [[Double]]
    /// F vectors of length F (interaction profiles, unit length).
    public let representation: [[Double]]
    /// Held-out samples the spread was measured on.
    public let samples: Int

    public static let affinityMethod =
        "|W1[:, pair(f,g)]|_2 * std over held-out samples of <e_f, e_g>: the top MLP's first-layer weight norm on the pair's dot product times the product's spread"
    public static let representationMethod =
        "interaction profile: row f of the affinity with the diagonal set to the row maximum, unit length"

    /// Measures the affinity of `network`, built with `seed`, on `batches` (held-out data).
    public init(network: RecommendationNetwork, seed: UInt64, batches: [SampleBatch]) throws {
        guard case .flat = network.layout, let dot = network.interaction as? DotInteraction else {
            throw TrainingError.invalid(
                "the learned affinity is read from a flat model with a dot interaction (every feature pair has its own top-MLP input); "
                    + "train --layout flat on a workload with <interaction kind=\"dot\"/>, or let `towerplan plan` train such a proxy")
        }
        let features = network.features.count
        let vectors = (0 ..< features).map { network.interactionVector(ofFeature: $0) }
        guard vectors.allSatisfy({ $0 != nil }) else {
            throw TrainingError.invalid("the dense vector is not cut into whole embedding-wide vectors, so pair columns are undefined")
        }
        let dimension = network.dimension
        var sum = [Double](repeating: 0, count: features * features)
        var sumOfSquares = sum
        var gram = [Float](repeating: 0, count: features * features)
        var stacked = [Float](repeating: 0, count: features * dimension)
        var samples = 0
        for batch in batches {
            let pooled = network.pooledEmbeddings(batch)
            for sample in 0 ..< batch.count {
                for feature in 0 ..< features {
                    for k in 0 ..< dimension { stacked[feature * dimension + k] = pooled[feature][sample * dimension + k] }
                }
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(features), Int32(features), Int32(dimension), 1, stacked,
                    Int32(dimension), stacked, Int32(dimension), 0, &gram, Int32(features))
                for index in 0 ..< features * features {
                    let value = Double(gram[index])
                    sum[index] += value
                    sumOfSquares[index] += value * value
                }
            }
            samples += batch.count
        }
        guard samples >= 2 else { throw TrainingError.invalid("the learned affinity needs at least 2 held-out samples, got \(samples)") }
        let weights = network.top.layers[0].weight.value
        // RecommendationNetwork seeds its top MLP with mix(seed, 4) and MLPNetwork layer i with mix(·, i).
        let initial = Linear(
            inputWidth: weights.columns, outputWidth: weights.rows, relu: true,
            seed: SeededGenerator.mix(SeededGenerator.mix(seed, 4), 0)
        ).weight.value
        var affinity = [[Double]](repeating: [Double](repeating: 0, count: features), count: features)
        for f in 0 ..< features {
            for g in 0 ..< f {
                let column = dot.column(ofPair: vectors[f]!, vectors[g]!)
                var norm = 0.0
                for row in 0 ..< weights.rows {
                    let learned = Double(weights[row, column]) - Double(initial[row, column])
                    norm += learned * learned
                }
                let mean = sum[f * features + g] / Double(samples)
                let variance = max(0, sumOfSquares[f * features + g] / Double(samples) - mean * mean)
                let value = norm.squareRoot() * variance.squareRoot()
                affinity[f][g] = value
                affinity[g][f] = value
            }
        }
        featureNames = network.features.map(\.name)
        self.affinity = affinity
        representation = affinity.enumerated().map { index, row in
            var profile = row
            profile[index] = row.max() ?? 0
            let length = profile.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return length > 0 ? profile.map { $0 / length } : profile
        }
        self.samples = samples
    }
}
