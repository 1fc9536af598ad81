import Foundation
import Testing
import Workload
@testable import Training

@Suite struct LayerEmbeddingBagTests {
    /// One feature, D = 2, rows 0 … 3 hold (r, 10·r); three samples: [1, 1], [1, 2], [] — a
    /// duplicate inside a sample, one across samples and an empty sample.
    private func smallCollection(_ kind: SparseOptimizer.Kind, learningRate: Double = 0.5) -> (EmbeddingBagCollection, SampleBatch) {
        let bags = EmbeddingBagCollection(
            features: [(index: 0, rows: 4)], dimension: 2, optimizer: SparseOptimizer(kind: kind, learningRate: learningRate), seed: 1)
        bags.tables[0].load([0, 0, 1, 10, 2, 20, 3, 30])
        let column = SparseColumn(offsets: [0, 2, 4, 4], ids: [1, 1, 1, 2])
        let batch = SampleBatch(count: 3, denseWidth: 0, dense: [], sparse: [column], labels: [0, 1, 0])
        return (bags, batch)
    }

    /// ∂loss/∂pooled for the small batch: (1, 2), (3, −1), (7, 7) (the last sample has no ids).
    private var pooledGradient: Matrix { Matrix(rows: 3, columns: 2, values: [1, 2, 3, -1, 7, 7]) }

    @Test func sumPoolingWithDuplicatesAndEmptySamples() {
        let (bags, batch) = smallCollection(.sgd)
        let expected: [Float] = [2, 20, 3, 30, 0, 0]
        #expect(bags.forward(batch).values == expected)
    }

    @Test func sgdSumsDuplicateGradients() {
        let (bags, batch) = smallCollection(.sgd)
        _ = bags.forward(batch)
        bags.backward(pooledGradient, step: 1)
        // Row 1: g = 2·(1, 2) + (3, −1) = (5, 3); row 2: g = (3, −1); rows 0 and 3 untouched.
        let expected: [Float] = [0, 0, -1.5, 8.5, 0.5, 20.5, 3, 30]
        #expect(bags.tables[0].values == expected)
    }

    @Test func rowwiseAdagradKeepsOneAccumulatorPerRow() {
        let (bags, batch) = smallCollection(.rowwiseAdagrad)
        var expected: [Double] = [0, 0, 1, 10, 2, 20, 3, 30]
        var accumulator: [Double] = [0, 0, 0, 0]
        for step in 1 ... 2 {
            _ = bags.forward(batch)
            bags.backward(pooledGradient, step: step)
            for (row, g) in [(1, [5.0, 3.0]), (2, [3.0, -1.0])] {
                accumulator[row] += (g[0] * g[0] + g[1] * g[1]) / 2
                for j in 0 ..< 2 { expected[row * 2 + j] -= 0.5 * g[j] / (accumulator[row].squareRoot() + 1e-8) }
            }
        }
        expectClose(bags.tables[0].values, expected)
        let state = bags.tensors.first { $0.name == "0.accumulator" }?.matrix.values ?? []
        expectClose(state, accumulator)
    }

    @Test func adagradAndAdamTouchOnlyTheRowsOfTheBatch() {
        for kind in [SparseOptimizer.Kind.adagrad, .adam] {
            let (bags, batch) = smallCollection(kind)
            var expected: [Double] = [0, 0, 1, 10, 2, 20, 3, 30]
            var first = [Double](repeating: 0, count: 8), second = [Double](repeating: 0, count: 8)
            for step in 1 ... 3 {
                _ = bags.forward(batch)
                bags.backward(pooledGradient, step: step)
                for (row, g) in [(1, [5.0, 3.0]), (2, [3.0, -1.0])] {
                    for j in 0 ..< 2 {
                        let i = row * 2 + j
                        if kind == .adagrad {
                            first[i] += g[j] * g[j]
                            expected[i] -= 0.5 * g[j] / (first[i].squareRoot() + 1e-8)
                        } else {
                            first[i] = 0.9 * first[i] + 0.1 * g[j]
                            second[i] = 0.999 * second[i] + 0.001 * g[j] * g[j]
                            let mHat = first[i] / (1 - pow(0.9, Double(step))), vHat = second[i] / (1 - pow(0.999, Double(step)))
                            expected[i] -= 0.5 * mHat / (vHat.squareRoot() + 1e-8)
                        }
                    }
                }
            }
            expectClose(bags.tables[0].values, expected, "\(kind)")
        }
    }

    @Test func tableGradientMatchesFiniteDifferences() {
        // Small tables so that ids repeat within and across samples; some samples are empty.
        let rows = [3, 5]
        let batch = EngineTestData.batch(count: 6, denseWidth: 0, tableRows: rows, maxIds: 3, seed: 4)
        #expect(batch.sparse.contains { column in (0 ..< 6).contains { column.ids(ofSample: $0).isEmpty } })
        let bags = EmbeddingBagCollection(
            features: [(index: 1, rows: rows[1]), (index: 0, rows: rows[0])], dimension: 3,
            optimizer: SparseOptimizer(kind: .sgd, learningRate: 1), seed: 5)
        let probe = EngineTestData.uniform(rows: 6, columns: 6, seed: 6)
        func loss() -> Double {
            let pooled = bags.forward(batch)
            return (0 ..< pooled.count).reduce(0.0) { $0 + Double(pooled.pointer[$1]) * Double(probe.pointer[$1]) }
        }
        for (slot, table) in bags.tables.enumerated() {
            let probes = FiniteDifference.numericGradient(of: table, loss: loss)
            let before = table.values
            _ = bags.forward(batch)
            bags.backward(probe, step: 1)
            // SGD with learning rate 1: the update is minus the gradient.
            let gradient = zip(before, table.values).map { $0 - $1 }
            table.load(before)
            #expect(FiniteDifference.worstError(analytic: gradient, probes: probes) < FiniteDifference.tolerance, "table \(slot)")
        }
    }

    @Test func updatesAreBitIdenticalAcrossThreadCounts() {
        let rows = Array(repeating: 50, count: 6)
        let batch = EngineTestData.batch(count: 200, denseWidth: 0, tableRows: rows, maxIds: 4, seed: 7)
        let results = [ComputeThreads.single, ComputeThreads(2)].map { threads -> [[Float]] in
            let bags = EmbeddingBagCollection(
                features: rows.enumerated().map { (index: $0.offset, rows: $0.element) }, dimension: 8,
                optimizer: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1), seed: 8, threads: threads)
            let gradient = EngineTestData.uniform(rows: 200, columns: 48, seed: 9)
            for step in 1 ... 3 {
                _ = bags.forward(batch)
                bags.backward(gradient, step: step)
            }
            return bags.tables.map(\.values) + [bags.forward(batch).values]
        }
        #expect(results[0] == results[1])
    }
}

/// Expects `actual` within 1e-5 relative (1e-6 absolute) of `expected`, element by element.
func expectClose(_ actual: [Float], _ expected: [Double], _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let error = abs(Double(a) - e), bound = 1e-6 + 1e-5 * abs(e)
        #expect(error <= bound, "\(comment) element \(index): \(a) vs \(e)", sourceLocation: sourceLocation)
    }
}
