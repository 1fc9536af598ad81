import Foundation
import Testing
import Workload
@testable import Training

/// Central finite differences against the analytic backward passes.
///
/// The probe loss is L = Σ cᵢⱼ·yᵢⱼ with fixed random c, so every output element contributes and
/// ∂L/∂y = c is what `backward` receives. L is summed in Double; the step is h (below) and the
/// divisor is the step Float really took (x ± h rounded), so the only errors left are the O(h²)
/// truncation and Float rounding in the forward pass (~1e-4 absolute here). A coordinate fails
/// when |analytic − numeric| > 2 % of max(|analytic|, |numeric|, 0.05): a missing term, a wrong
/// sign or a gradient off by 5 % fails (`checkerRejectsAGradientFivePercentOff` proves it).
///
/// ReLU makes L piecewise linear: a coordinate whose ±h step crosses a kink has no central
/// derivative to compare with. Layers with ReLU are therefore probed with h = 1e-3 (ten times
/// fewer crossings; on linear pieces there is no truncation error to lose), and where the
/// one-sided differences still disagree — the central one is then off by at most half their gap —
/// by more than twice the tolerance, the coordinate is skipped. Skipping looks at the forward
/// pass only, so it cannot hide a wrong backward; at most a quarter of a tensor's coordinates
/// may be skipped. Layers without ReLU are checked with h = 1e-2 and no skipping at all.
enum FiniteDifference {
    static let smoothStep: Float = 1e-2
    static let piecewiseStep: Float = 1e-3
    static let tolerance = 0.02
    static let floor = 0.05
    static let kinkThreshold = 2 * tolerance
    static let skipBudget = 0.25

    struct Probe {
        var index: Int
        var value: Double
        var atKink: Bool
    }

    static func scaledError(_ a: Double, _ b: Double) -> Double {
        abs(a - b) / max(abs(a), abs(b), floor)
    }

    /// ∂loss/∂tensor[i] by central differences, for at most `limit` coordinates spread over the tensor.
    static func numericGradient(of tensor: Matrix, step: Float = smoothStep, limit: Int = 120, loss: () -> Double) -> [Probe] {
        let center = loss()
        return Swift.stride(from: 0, to: tensor.count, by: max(1, tensor.count / limit)).map { index in
            let original = tensor.pointer[index]
            let plus = original + step, minus = original - step
            tensor.pointer[index] = plus
            let up = loss()
            tensor.pointer[index] = minus
            let down = loss()
            tensor.pointer[index] = original
            let forward = (up - center) / (Double(plus) - Double(original))
            let backward = (center - down) / (Double(original) - Double(minus))
            return Probe(index: index, value: (up - down) / (Double(plus) - Double(minus)), atKink: scaledError(forward, backward) > kinkThreshold)
        }
    }

    /// Worst scaled error over the probes (off kinks when `piecewiseLinear`), or infinity when more
    /// than `skipBudget` of the probes sit on kinks.
    static func worstError(analytic: [Float], probes: [Probe], piecewiseLinear: Bool = false, skipBudget: Double = skipBudget) -> Double {
        let smooth = probes.filter { !(piecewiseLinear && $0.atKink) }
        guard Double(probes.count - smooth.count) <= skipBudget * Double(probes.count) else { return .infinity }
        return smooth.map { scaledError(Double(analytic[$0.index]), $0.value) }.max() ?? 0
    }

    /// Checks ∂L/∂input and ∂L/∂parameter for every parameter of `layer`; returns the worst error per tensor.
    static func check(_ layer: any Layer, input: Matrix, piecewiseLinear: Bool, seed: UInt64 = 11) -> [String: Double] {
        let probe = EngineTestData.uniform(rows: input.rows, columns: layer.outputWidth, seed: seed)
        func loss() -> Double {
            let output = layer.forward(input)
            return (0 ..< output.count).reduce(0.0) { $0 + Double(output.pointer[$1]) * Double(probe.pointer[$1]) }
        }
        _ = layer.forward(input)
        let inputGradient = layer.backward(probe).values
        let parameterGradients = layer.parameters.map { $0.gradient.values }
        var worst: [String: Double] = [:]
        let tensors = [("input", input, inputGradient)] + zip(layer.parameters, parameterGradients).map { ($0.name, $0.value, $1) }
        for (name, tensor, analytic) in tensors {
            worst[name] = worstError(analytic: analytic, probes: numericGradient(of: tensor, step: piecewiseLinear ? piecewiseStep : smoothStep, loss: loss),
                                     piecewiseLinear: piecewiseLinear)
        }
        return worst
    }

    /// Expects every tensor's worst error within tolerance, naming the ones that are not.
    /// `piecewiseLinear`: the layer contains ReLU (kinks may be skipped).
    static func expectGradientsMatch(
        _ layer: any Layer, input: Matrix, piecewiseLinear: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let worst = check(layer, input: input, piecewiseLinear: piecewiseLinear)
        let failing = worst.filter { $0.value > tolerance }
        #expect(failing.isEmpty, "gradients off: \(failing.sorted { $0.key < $1.key })", sourceLocation: sourceLocation)
        #expect(!worst.isEmpty, sourceLocation: sourceLocation)
    }
}

/// Deterministic inputs for the engine's tests.
enum EngineTestData {
    /// rows × columns values from U(−scale, scale).
    static func uniform(rows: Int, columns: Int, scale: Float = 1, seed: UInt64) -> Matrix {
        let matrix = Matrix(rows: rows, columns: columns)
        var generator = SeededGenerator(seed: seed)
        matrix.fillUniform(bound: scale, &generator)
        return matrix
    }

    /// A batch with `tableRows.count` sparse features whose samples hold 0 … `maxIds` ids each
    /// (empty samples and duplicate ids included when the tables are small), dense features in
    /// U(−1, 1) and random labels.
    static func batch(count: Int, denseWidth: Int, tableRows: [Int], maxIds: Int = 3, seed: UInt64) -> SampleBatch {
        var generator = SeededGenerator(seed: seed)
        let dense = (0 ..< count * denseWidth).map { _ in 2 * generator.nextFloat() - 1 }
        let sparse = tableRows.map { rows -> SparseColumn in
            var offsets: [Int32] = [0], ids: [Int32] = []
            for _ in 0 ..< count {
                let length = Int(generator.next() % UInt64(maxIds + 1))
                ids += (0 ..< length).map { _ in Int32(generator.next() % UInt64(rows)) }
                offsets.append(Int32(ids.count))
            }
            return SparseColumn(offsets: offsets, ids: ids)
        }
        let labels = (0 ..< count).map { _ in Float(generator.next() % 2) }
        return SampleBatch(count: count, denseWidth: denseWidth, dense: dense, sparse: sparse, labels: labels)
    }
}

@Suite struct GradientCheckTests {
    @Test func checkerRejectsAGradientFivePercentOff() {
        let layer = Linear(inputWidth: 4, outputWidth: 3, relu: false, seed: 1)
        let input = EngineTestData.uniform(rows: 5, columns: 4, seed: 2)
        let probe = EngineTestData.uniform(rows: 5, columns: 3, seed: 3)
        _ = layer.forward(input)
        let analytic = layer.backward(probe).values
        let probes = FiniteDifference.numericGradient(of: input) {
            let output = layer.forward(input)
            return (0 ..< output.count).reduce(0.0) { $0 + Double(output.pointer[$1]) * Double(probe.pointer[$1]) }
        }
        let exact = FiniteDifference.worstError(analytic: analytic, probes: probes)
        let scaled = FiniteDifference.worstError(analytic: analytic.map { $0 * 1.05 }, probes: probes)
        #expect(exact < FiniteDifference.tolerance / 10)
        #expect(scaled > FiniteDifference.tolerance)
    }

    @Test func linear() {
        FiniteDifference.expectGradientsMatch(Linear(inputWidth: 6, outputWidth: 5, relu: false, seed: 3), input: EngineTestData.uniform(rows: 4, columns: 6, seed: 4))
    }

    @Test func linearWithReLU() {
        FiniteDifference.expectGradientsMatch(
            Linear(inputWidth: 6, outputWidth: 7, relu: true, seed: 5), input: EngineTestData.uniform(rows: 4, columns: 6, seed: 6), piecewiseLinear: true)
    }

    @Test func mlpWithAndWithoutFinalReLU() {
        for finalReLU in [false, true] {
            let mlp = MLPNetwork(MLP(inputWidth: 5, layerWidths: [8, 6, 3]), finalReLU: finalReLU, seed: 7)
            FiniteDifference.expectGradientsMatch(mlp, input: EngineTestData.uniform(rows: 4, columns: 5, seed: 8), piecewiseLinear: true)
        }
    }

    @Test func layerNormOverGroups() {
        let norm = LayerNorm(groupWidth: 5, groups: 3)
        // A non-trivial scale and shift, so their gradients and dx̂·γ are exercised.
        var generator = SeededGenerator(seed: 9)
        norm.scale.value.fillUniform(bound: 2, &generator)
        norm.shift.value.fillUniform(bound: 1, &generator)
        FiniteDifference.expectGradientsMatch(norm, input: EngineTestData.uniform(rows: 3, columns: 15, scale: 2, seed: 10))
    }

    @Test func dotInteractionGlobalAndTowerForms() {
        // Global: a 4-wide dense vector (one vector) passed through, then 4 embeddings.
        FiniteDifference.expectGradientsMatch(
            DotInteraction(vectors: 5, dimension: 4, passthroughWidth: 4), input: EngineTestData.uniform(rows: 3, columns: 20, seed: 12))
        // Tower module: the whole row passed through.
        FiniteDifference.expectGradientsMatch(
            DotInteraction(vectors: 3, dimension: 9, passthroughWidth: 27), input: EngineTestData.uniform(rows: 3, columns: 27, seed: 13))
    }

    @Test func crossNetworkFullAndLowRank() {
        for rank in [nil, 2] as [Int?] {
            let cross = CrossNetworkLayer(width: 7, network: CrossNetwork(layers: 3, rank: rank), seed: 14)
            var generator = SeededGenerator(seed: 15)
            for layer in cross.crossLayers { layer.bias.value.fillUniform(bound: 0.5, &generator) }
            FiniteDifference.expectGradientsMatch(cross, input: EngineTestData.uniform(rows: 4, columns: 7, seed: 16))
        }
    }

    @Test func wukongLayerWithIdentityResidual() {
        let shape = WukongLayer(fmEmbeddings: 2, lcbEmbeddings: 2, fmRank: 3, mlpHidden: [6])
        let layer = WukongInteractionLayer(inputs: 4, dimension: 3, shape: shape, seed: 17)
        #expect(layer.residual == nil)
        FiniteDifference.expectGradientsMatch(layer, input: EngineTestData.uniform(rows: 3, columns: 12, seed: 18), piecewiseLinear: true)
    }

    @Test func wukongLayerWithProjectedResidual() {
        let shape = WukongLayer(fmEmbeddings: 2, lcbEmbeddings: 1, fmRank: 2, mlpHidden: [])
        let layer = WukongInteractionLayer(inputs: 5, dimension: 4, shape: shape, seed: 19)
        #expect(layer.residual != nil)
        FiniteDifference.expectGradientsMatch(layer, input: EngineTestData.uniform(rows: 3, columns: 20, seed: 20))
    }

    @Test func embeddingMix() {
        FiniteDifference.expectGradientsMatch(
            EmbeddingMix(inputs: 3, outputs: 4, dimension: 5, seed: 21), input: EngineTestData.uniform(rows: 3, columns: 15, seed: 22))
    }

    @Test func binaryCrossEntropyGradientAndStability() {
        let logits: [Float] = [-3, -0.5, 0, 0.7, 4, 30, -30]
        let labels: [Float] = [0, 1, 1, 0, 1, 0, 1]
        var gradient = [Float](repeating: 0, count: logits.count)
        let loss = BinaryCrossEntropy.meanLoss(logits: logits, labels: labels, count: logits.count, gradient: &gradient)
        #expect(loss.isFinite)
        #expect(abs(loss - BinaryCrossEntropy.meanLoss(logits: logits, labels: labels)) < 1e-6)
        // Reference in Double: mean of −y·log σ(z) − (1−y)·log(1−σ(z)).
        let reference = zip(logits, labels).map { z, y -> Double in
            let p = 1 / (1 + exp(-Double(z)))
            return -(Double(y) * log(max(p, 1e-300)) + (1 - Double(y)) * log(max(1 - p, 1e-300)))
        }.reduce(0, +) / Double(logits.count)
        #expect(abs(Double(loss) - reference) < 1e-6 * max(1, reference) + 1e-4 * reference)
        let h = 1e-3
        for index in logits.indices {
            func mean(_ shift: Double) -> Double {
                zip(logits.indices, labels).map { i, y -> Double in
                    let z = Double(logits[i]) + (i == index ? shift : 0)
                    return max(z, 0) - z * Double(y) + log1p(exp(-abs(z)))
                }.reduce(0, +) / Double(logits.count)
            }
            let numeric = (mean(h) - mean(-h)) / (2 * h)
            #expect(abs(Double(gradient[index]) - numeric) < 1e-5, "logit \(logits[index])")
        }
    }
}
