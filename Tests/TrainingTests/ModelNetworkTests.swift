import Foundation
import Testing
import Workload
@testable import Training

/// Small workloads for model tests: 5 features of 7 rows, D = 4, 3 dense features.
enum EngineTestModels {
    static let tableRows = Array(repeating: 7, count: 5)

    static func workload(
        interaction: Interaction = .dot, towerModule: TowerModule = .identity, bottom: [Int]? = [6, 4], top: [Int] = [6, 1],
        sparse: SparseOptimizer = SparseOptimizer(kind: .sgd, learningRate: 1), dense: DenseOptimizer = DenseOptimizer(kind: .sgd, learningRate: 1)
    ) -> Workload {
        let features = tableRows.enumerated().map { SparseFeature(name: "f\($0.offset)", rows: $0.element, dimension: 4) }
        let bottomMLP = bottom.map { MLP(inputWidth: 3, layerWidths: $0) }
        let model = RecommendationModel(
            embeddingDimension: 4, features: features, denseFeatures: 3, bottomMLP: bottomMLP, interaction: interaction,
            topMLP: MLP(inputWidth: 0, layerWidths: top), towerModule: towerModule)
        return Workload(name: "test", model: .recommendation(model), training: TrainingSetup(batchPerGPU: 8, sparseOptimizer: sparse, denseOptimizer: dense))
    }

    static func batch(count: Int = 8, seed: UInt64) -> SampleBatch {
        EngineTestData.batch(count: count, denseWidth: 3, tableRows: tableRows, maxIds: 3, seed: seed)
    }

    static let wukong = WukongLayer(fmEmbeddings: 2, lcbEmbeddings: 2, fmRank: 3, mlpHidden: [5])
    /// One of each global interaction kind (DCN without a bottom MLP, as the DCN paper stacks it).
    static let interactions: [(Interaction, [Int]?)] = [
        (.dot, [6, 4]), (.dcn(CrossNetwork(layers: 2)), nil), (.dcn(CrossNetwork(layers: 2, rank: 3)), [6, 4]),
        (.wukong(layers: 2, layer: wukong), [6, 4]),
    ]
}

@Suite struct ModelNetworkTests {
    private static let towerKinds: [TowerModule] = [
        .identity, TowerModule(kind: .linear, output: .absolute(5)), TowerModule(kind: .mlp(hidden: [6]), output: .compression(2)),
        TowerModule(kind: .wukong(EngineTestModels.wukong), output: .compression(3)), TowerModule(kind: .dot, output: .absolute(7)),
    ]

    @Test(arguments: towerKinds)
    func towerModulesBackpropagateAndMatchTheCostModel(module: TowerModule) throws {
        let layer = try module.makeLayer(features: 3, dimension: 4, seed: 1, threads: .single)
        #expect(layer.outputWidth == module.outputWidth(features: 3, dimension: 4))
        let parameters = layer.parameters.reduce(0) { $0 + $1.value.count }
        #expect(Double(parameters) == module.parameterCount(features: 3, dimension: 4))
        let piecewise: Bool = switch module.kind {
        case .mlp, .wukong: true
        default: false
        }
        FiniteDifference.expectGradientsMatch(layer, input: EngineTestData.uniform(rows: 3, columns: 12, seed: 2), piecewiseLinear: piecewise)
    }

    @Test func globalInteractionsMatchTheCostModel() throws {
        let input = InteractionInput(embeddings: 5, dimension: 4, denseWidth: 4)
        for (interaction, _) in EngineTestModels.interactions {
            let layer = try interaction.makeLayer(input, seed: 3, threads: .single)
            #expect(layer.inputWidth == input.flattenedWidth)
            #expect(layer.outputWidth == interaction.outputWidth(input), "\(interaction.kind)")
            #expect(Double(layer.parameters.reduce(0) { $0 + $1.value.count }) == interaction.parameterCount(input), "\(interaction.kind)")
        }
    }

    /// SPTT's semantic preservation: identity towers of contiguous features in order compute what
    /// the flat model computes — logits, loss and every updated parameter and optimizer state.
    @Test(arguments: EngineTestModels.interactions.indices)
    func identityTowersComputeWhatFlatComputes(case index: Int) throws {
        let (interaction, bottom) = EngineTestModels.interactions[index]
        let workload = EngineTestModels.workload(
            interaction: interaction, bottom: bottom, sparse: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1),
            dense: DenseOptimizer(kind: .adam, learningRate: 0.01))
        let batch = EngineTestModels.batch(seed: 4)
        let flat = try RecommendationNetwork(workload: workload, layout: .flat, seed: 5)
        let flatLogits = flat.logits(batch)
        let flatLoss = flat.trainStep(batch)
        let flatState = flat.exportState()
        for towers in [[[0, 1, 2, 3, 4]], [[0, 1], [2], [3, 4]]] {
            let dmt = try RecommendationNetwork(workload: workload, layout: .towers(towers), seed: 5)
            expectClose(dmt.logits(batch), flatLogits.map(Double.init), "\(interaction.kind) logits, towers \(towers)")
            #expect(abs(dmt.trainStep(batch) - flatLoss) <= 1e-5 * flatLoss)
            let state = dmt.exportState()
            #expect(state.keys.sorted() == flatState.keys.sorted())
            for (name, values) in flatState { expectClose(state[name] ?? [], values.map(Double.init), "\(interaction.kind) \(name), towers \(towers)") }
        }
    }

    /// The whole model against finite differences of the summed loss: with SGD at learning rate 1
    /// for tables and dense layers, one step moves every parameter by minus its gradient of the
    /// mean loss, so B·(before − after) is the analytic gradient of the sum. Three ReLU layers see
    /// every bias change in all 8 samples, so kinks are common: up to 40 % of a tensor's probes
    /// may be skipped (skipping never hides a wrong backward, see `FiniteDifference`).
    @Test(arguments: [TowerModule.identity, TowerModule(kind: .mlp(hidden: [6]), output: .compression(2))])
    func wholeModelGradientMatchesFiniteDifferences(module: TowerModule) throws {
        let workload = EngineTestModels.workload(interaction: .dot, towerModule: module)
        let batch = EngineTestModels.batch(seed: 6)
        let model = try RecommendationNetwork(workload: workload, layout: .towers([[3, 0], [1, 2, 4]]), seed: 7)
        func summedLoss() -> Double {
            zip(model.logits(batch), batch.labels).reduce(0.0) { $0 + Double(BinaryCrossEntropy.loss(logit: $1.0, label: $1.1)) }
        }
        let tensors = model.optimizer.parameters.map { (name: $0.name, matrix: $0.value) }
            + model.bags.flatMap { $0.tensors.map { (name: "embedding.\($0.name)", matrix: $0.matrix) } }
        let numeric = tensors.map { FiniteDifference.numericGradient(of: $0.matrix, step: FiniteDifference.piecewiseStep, limit: 40, loss: summedLoss) }
        let before = model.exportState()
        model.trainStep(batch)
        let after = model.exportState()
        for (tensor, probes) in zip(tensors, numeric) {
            let gradient = zip(before[tensor.name]!, after[tensor.name]!).map { Float(batch.count) * ($0 - $1) }
            let worst = FiniteDifference.worstError(analytic: gradient, probes: probes, piecewiseLinear: true, skipBudget: 0.4)
            #expect(worst < FiniteDifference.tolerance, "\(tensor.name): \(worst)")
        }
    }

    @Test func sameSeedAndThreadCountGiveBitIdenticalRuns() throws {
        for threads in [1, 2] {
            let workload = EngineTestModels.workload(
                interaction: .wukong(layers: 1, layer: EngineTestModels.wukong), towerModule: TowerModule(kind: .dot, output: .absolute(6)),
                sparse: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1), dense: DenseOptimizer(kind: .adam, learningRate: 0.01))
            let runs = try (0 ..< 2).map { _ -> ([Float], [String: [Float]]) in
                let model = try RecommendationNetwork(workload: workload, layout: .towers([[0, 4], [1, 2, 3]]), seed: 9, threads: threads)
                let losses = (0 ..< 4).map { model.trainStep(EngineTestModels.batch(count: 64, seed: 10 + UInt64($0))) }
                return (losses, model.exportState())
            }
            #expect(runs[0].0 == runs[1].0, "losses with \(threads) threads")
            #expect(runs[0].1 == runs[1].1, "state with \(threads) threads")
        }
    }

    /// Label = 1 exactly when feature 0's id is below 4 and the first dense value is positive:
    /// an embedding and a dense input must both be learned.
    @Test func learnsAnEasyRule() throws {
        let workload = EngineTestModels.workload(
            interaction: .dot, sparse: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.1), dense: DenseOptimizer(kind: .adam, learningRate: 0.01))
        let model = try RecommendationNetwork(workload: workload, seed: 11)
        func batch(_ seed: UInt64) -> SampleBatch {
            var batch = EngineTestModels.batch(count: 128, seed: seed)
            batch.labels = (0 ..< batch.count).map { sample in
                let ids = batch.sparse[0].ids(ofSample: sample)
                return (ids.first ?? 7) < 4 && batch.dense[sample * 3] > 0 ? 1 : 0
            }
            return batch
        }
        let evaluation = batch(999)
        let before = BinaryCrossEntropy.meanLoss(logits: model.logits(evaluation), labels: evaluation.labels)
        for step in 0 ..< 300 { model.trainStep(batch(UInt64(step))) }
        let after = BinaryCrossEntropy.meanLoss(logits: model.logits(evaluation), labels: evaluation.labels)
        #expect(after < 0.5 * before, "loss \(before) → \(after)")
    }

    @Test func stateRoundTripContinuesBitIdentically() throws {
        let workload = EngineTestModels.workload(
            interaction: .dcn(CrossNetwork(layers: 1, rank: 2)), sparse: SparseOptimizer(kind: .adam, learningRate: 0.01),
            dense: DenseOptimizer(kind: .adagrad, learningRate: 0.05))
        let original = try RecommendationNetwork(workload: workload, seed: 12)
        for step in 0 ..< 3 { original.trainStep(EngineTestModels.batch(seed: 20 + UInt64(step))) }
        let restored = try RecommendationNetwork(workload: workload, seed: 99)
        try restored.importState(original.exportState())
        #expect(restored.step == 3)
        let next = EngineTestModels.batch(seed: 30)
        #expect(restored.trainStep(next) == original.trainStep(next))
        #expect(restored.exportState() == original.exportState())

        var damaged = original.exportState()
        damaged["top.0.bias"]?.removeLast()
        #expect(throws: RecommendationNetworkError.self) { try restored.importState(damaged) }
        damaged = original.exportState()
        damaged["embedding.2.velocity"] = nil
        #expect(throws: RecommendationNetworkError.self) { try restored.importState(damaged) }
        damaged = original.exportState()
        damaged["extra"] = [1]
        #expect(throws: RecommendationNetworkError.self) { try restored.importState(damaged) }
        #expect(restored.exportState() == original.exportState(), "a rejected state changes nothing")
    }

    @Test func refusesShapesItCannotBuild() {
        let workload = EngineTestModels.workload()
        for towers in [[[0, 1], [1, 2, 3, 4]], [[0, 1, 2, 3]], [[0, 1, 2, 3, 4], []], [[0, 1, 2, 3, 4, 5]]] {
            #expect(throws: RecommendationNetworkError.self) { try RecommendationNetwork(workload: workload, layout: .towers(towers), seed: 1) }
        }
        #expect(throws: RecommendationNetworkError.self) { try RecommendationNetwork(workload: EngineTestModels.workload(bottom: [6, 5]), seed: 1) }
        #expect(throws: RecommendationNetworkError.self) { try RecommendationNetwork(workload: EngineTestModels.workload(top: [6, 2]), seed: 1) }
    }

    @Test func pooledEmbeddingsAndInteractionVectors() throws {
        let workload = EngineTestModels.workload()
        let batch = EngineTestModels.batch(count: 4, seed: 13)
        let model = try RecommendationNetwork(workload: workload, layout: .towers([[2, 0], [1, 3, 4]]), seed: 14)
        let pooled = model.pooledEmbeddings(batch)
        #expect(pooled.count == 5 && pooled.allSatisfy { $0.count == 4 * 4 })
        let table = model.bags[0].tables[1]
        for sample in 0 ..< 4 {
            let expected = (0 ..< 4).map { j in batch.sparse[0].ids(ofSample: sample).reduce(0.0) { $0 + Double(table[Int($1), j]) } }
            expectClose(Array(pooled[0][sample * 4 ..< sample * 4 + 4]), expected, "sample \(sample)")
        }
        // The dense vector is one D-wide vector; then features 2, 0, 1, 3, 4.
        #expect((0 ..< 5).map { model.interactionVector(ofFeature: $0) } == [2, 3, 1, 4, 5])
        let dot = try #require(model.interaction as? DotInteraction)
        #expect(dot.column(ofPair: 2, 0) == 4 + 1)
        #expect(model.top.layers[0].weight.value.columns == dot.outputWidth)
        let compressed = try RecommendationNetwork(
            workload: EngineTestModels.workload(towerModule: TowerModule(kind: .linear, output: .absolute(4))), layout: .towers([[0, 1], [2, 3, 4]]), seed: 14)
        #expect(compressed.interactionVector(ofFeature: 0) == nil)
    }
}
