import Foundation
import Testing

@testable import Workload

/// Every cost function against values worked out by hand for a tiny model (D = 4).
@Suite struct CostModelTests {
    /// Two features of dimension 4 (b hashed to 500 rows, 3 ids per sample), 3 dense features
    /// through 3→8→4, dot interaction on 3 vectors, top 7→2→1.
    static let tiny = """
        <workload name="tiny">
          <recommendation>
            <sparse dimension="4" id-bytes="4">
              <feature name="a" rows="100"/>
              <feature name="b" rows="1k" pooling="3" hash-size="500"/>
            </sparse>
            <dense features="3"/>
            <bottom-mlp widths="8 4"/>
            <interaction kind="dot"/>
            <top-mlp widths="2 1"/>
            <tower-module kind="linear" compression="2"/>
          </recommendation>
          <training batch-per-gpu="16">
            <precision embedding="fp16" forward-communication="fp16" backward-communication="fp32" compute="bf16"/>
            <sparse-optimizer kind="adam" learning-rate="0.01"/>
            <dense-optimizer kind="adagrad" learning-rate="0.1"/>
          </training>
        </workload>
        """

    static func tinyModel() throws -> (Workload, RecommendationModel) {
        let workload = try WorkloadLoader.load(data: Data(tiny.utf8), name: "tiny.xml")
        return (workload, try #require(workload.recommendation))
    }

    @Test func featureBytes() throws {
        let (workload, model) = try Self.tinyModel()
        let precisions = workload.training.precisions
        let a = model.features[0], b = model.features[1]
        #expect(b.rows == 1000 && b.tableRows == 500)
        #expect(a.parameterCount == 400 && b.parameterCount == 2000)
        // fp16 rows of 4 values are 8 bytes.
        #expect(a.tableBytes(storage: precisions.embedding) == 800)
        #expect(b.tableBytes(storage: precisions.embedding) == 4000)
        #expect(a.lookupBytesPerSample(storage: .fp16) == 8)
        #expect(b.lookupBytesPerSample(storage: .fp16) == 24)
        #expect(b.lookupBytesPerSample(storage: .fp32) == 48)
        // int8 rows carry an 8-byte scale and bias: 4 + 8 bytes.
        #expect(a.tableBytes(storage: .int8) == 1200)
        #expect(b.lookupBytesPerSample(storage: .int8) == 36)
        // 4-byte ids.
        #expect(a.idBytesPerSample == 4 && b.idBytesPerSample == 12)
        // One pooled vector per feature: fp16 forward, fp32 backward.
        #expect(b.communicationBytesPerSample(.forward, precisions: precisions) == 8)
        #expect(b.communicationBytesPerSample(.backward, precisions: precisions) == 16)
        #expect(a.communicationBytesPerSample(.forward, precisions: Precisions(forwardCommunication: .fp8)) == 4)
        #expect(model.totalTableRows == 600)
        #expect(model.embeddingParameterCount == 2400)
    }

    @Test func denseFLOPsAndParameters() throws {
        let (_, model) = try Self.tinyModel()
        let bottom = try #require(model.bottomMLP)
        // 3→8→4: 2·(24 + 32) = 112 FLOPs per sample; 32 + 36 parameters.
        #expect(bottom.forwardFLOPs(batch: 1) == 112)
        #expect(bottom.forwardFLOPs(batch: 16) == 1792)
        #expect(bottom.backwardFLOPs(batch: 16) == 3584)
        #expect(bottom.parameterCount == 68)
        // Dot on n = 3 vectors of 4: 2·9·4 = 72 FLOPs, backward the same; 4 + 3 values out.
        let input = model.interactionInput
        #expect(input == InteractionInput(embeddings: 2, dimension: 4, denseWidth: 4))
        #expect(input.vectors == 3)
        #expect(model.interaction.outputWidth(input) == 7)
        #expect(model.interaction.forwardFLOPs(input, batch: 1) == 72)
        #expect(model.interaction.backwardFLOPs(input, batch: 2) == 144)
        #expect(model.interaction.parameterCount(input) == 0)
        // Top 7→2→1: 2·(14 + 2) = 32 FLOPs; 16 + 3 parameters.
        #expect(model.topMLP == MLP(inputWidth: 7, layerWidths: [2, 1]))
        #expect(model.topMLP.forwardFLOPs(batch: 1) == 32)
        #expect(model.topMLP.parameterCount == 19)
        #expect(model.denseParameterCount == 87)
        #expect(model.denseGradientBytes(format: .fp32) == 348)
        #expect(model.denseGradientBytes(format: .bf16) == 174)
        #expect(model.denseForwardFLOPs(batch: 1) == 112 + 72 + 32)
        #expect(model.denseBackwardFLOPs(batch: 1) == 224 + 72 + 64)
        #expect(model.topMLP.withInputWidth(10).forwardFLOPs(batch: 1) == 2 * (20 + 2))
    }

    @Test func crossNetwork() {
        // m = 3 dense + 2·4 = 11.
        let input = InteractionInput(embeddings: 2, dimension: 4, denseWidth: 3)
        let full = Interaction.dcn(CrossNetwork(layers: 3))
        #expect(full.outputWidth(input) == 11)
        #expect(full.parameterCount(input) == 3 * (121 + 11))
        #expect(full.forwardFLOPs(input, batch: 1) == 3 * 2 * 121)
        #expect(full.backwardFLOPs(input, batch: 1) == 2 * 726)
        let lowRank = Interaction.dcn(CrossNetwork(layers: 3, rank: 2))
        #expect(lowRank.parameterCount(input) == 3 * (2 * 11 * 2 + 11))
        #expect(lowRank.forwardFLOPs(input, batch: 1) == 3 * 4 * 11 * 2)
    }

    /// n_F = 2, n_L = 1, k = 2, FMB hidden [5], d = 4.
    static let layer = WukongLayer(fmEmbeddings: 2, lcbEmbeddings: 1, fmRank: 2, mlpHidden: [5])

    @Test func wukongLayer() {
        // n = 3 = n_F + n_L, so no residual projection.
        // FM 4·3·4·2 = 96; FMB MLP 6→5→8: 2·(30 + 40) = 140; LCB 2·1·3·4 = 24.
        #expect(Self.layer.fmbMLP(inputs: 3, dimension: 4) == MLP(inputWidth: 6, layerWidths: [5, 8]))
        #expect(Self.layer.forwardFLOPs(inputs: 3, dimension: 4, batch: 1) == 260)
        // Y 6 + FM layer norm 12 + MLP 35 + 48 + LCB 3 + output layer norm 8.
        #expect(Self.layer.parameterCount(inputs: 3, dimension: 4) == 112)
        // n = 4: residual projection 3×4 (2·3·4·4 = 96 FLOPs); FM 128; MLP 8→5→8: 160; LCB 32.
        #expect(Self.layer.forwardFLOPs(inputs: 4, dimension: 4, batch: 1) == 416)
        #expect(Self.layer.parameterCount(inputs: 4, dimension: 4) == 8 + 16 + 45 + 48 + 4 + 12 + 8)
    }

    @Test func wukongInteractionStacksLayers() {
        // 3 embeddings and a dense vector of one D: 4 vectors into the first layer, 3 into the second.
        let input = InteractionInput(embeddings: 3, dimension: 4, denseWidth: 4)
        let interaction = Interaction.wukong(layers: 2, layer: Self.layer)
        #expect(interaction.outputWidth(input) == 12)
        #expect(interaction.forwardFLOPs(input, batch: 1) == 416 + 260)
        #expect(interaction.backwardFLOPs(input, batch: 1) == 2 * 676)
        #expect(interaction.parameterCount(input) == 141 + 112)
    }

    @Test func towerModules() throws {
        let (_, model) = try Self.tinyModel()
        // Linear, compression 2 on F_t = 2, D = 4: [8] → [4].
        let linear = model.towerModule
        #expect(linear.outputWidth(features: 2, dimension: 4) == 4)
        #expect(linear.compressionRatio(features: 2, dimension: 4) == 2)
        #expect(linear.forwardFLOPs(features: 2, dimension: 4, batch: 1) == 64)
        #expect(linear.backwardFLOPs(features: 2, dimension: 4, batch: 3) == 3 * 128)
        #expect(linear.parameterCount(features: 2, dimension: 4) == 36)
        // Compression 3: d_t = ⌈8/3⌉ = 3.
        let byThree = TowerModule(kind: .linear, output: .compression(3))
        #expect(byThree.outputWidth(features: 2, dimension: 4) == 3)
        #expect(byThree.compressionRatio(features: 2, dimension: 4) == 8.0 / 3)

        #expect(TowerModule.identity.outputWidth(features: 2, dimension: 4) == 8)
        #expect(TowerModule.identity.forwardFLOPs(features: 2, dimension: 4, batch: 1) == 0)
        #expect(TowerModule.identity.parameterCount(features: 2, dimension: 4) == 0)

        // MLP 8→5→3: 2·(40 + 15) = 110; 45 + 18 parameters.
        let mlp = TowerModule(kind: .mlp(hidden: [5]), output: .absolute(3))
        #expect(mlp.forwardFLOPs(features: 2, dimension: 4, batch: 1) == 110)
        #expect(mlp.backwardFLOPs(features: 2, dimension: 4, batch: 1) == 220)
        #expect(mlp.parameterCount(features: 2, dimension: 4) == 63)

        // Dot on F_t = 3: 2·9·4 = 72, then [12 + 3] → [2]: 60. Backward 72 + 120.
        let dot = TowerModule(kind: .dot, output: .absolute(2))
        #expect(dot.forwardFLOPs(features: 3, dimension: 4, batch: 1) == 132)
        #expect(dot.backwardFLOPs(features: 3, dimension: 4, batch: 1) == 192)
        #expect(dot.parameterCount(features: 3, dimension: 4) == 32)

        // Wukong layer on F_t = 3 (260 FLOPs, 112 parameters), then [12] → [6]: 144 FLOPs, 78 parameters.
        let wukong = TowerModule(kind: .wukong(Self.layer), output: .absolute(6))
        #expect(wukong.forwardFLOPs(features: 3, dimension: 4, batch: 1) == 404)
        #expect(wukong.backwardFLOPs(features: 3, dimension: 4, batch: 1) == 808)
        #expect(wukong.parameterCount(features: 3, dimension: 4) == 190)
    }

    @Test func optimizers() throws {
        // fp32 rows of 4 values (16 bytes), fp32 state: 8D, 8D + 8, 16D, 24D.
        func update(_ kind: SparseOptimizer.Kind, _ storage: NumericFormat = .fp32) -> Double {
            SparseOptimizer(kind: kind, learningRate: 0.1).updateBytesPerRow(dimension: 4, storage: storage)
        }
        #expect(update(.sgd) == 32)
        #expect(update(.rowwiseAdagrad) == 40)
        #expect(update(.adagrad) == 64)
        #expect(update(.adam) == 96)
        #expect(update(.adam, .fp16) == 80)
        #expect(SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 1).stateBytesPerRow(dimension: 128) == 4)
        #expect(DenseOptimizer(kind: .adam, learningRate: 1).stateValuesPerParameter == 2)
        #expect(DenseOptimizer(kind: .sgd, learningRate: 1).stateValuesPerParameter == 0)
        let (workload, _) = try Self.tinyModel()
        #expect(workload.training.sparseOptimizer == SparseOptimizer(kind: .adam, learningRate: 0.01))
        #expect(workload.training.denseOptimizer == DenseOptimizer(kind: .adagrad, learningRate: 0.1))
        #expect(workload.training.precisions == Precisions(
            embedding: .fp16, forwardCommunication: .fp16, backwardCommunication: .fp32, compute: .bf16, gradientAllReduce: .fp32))
    }

    @Test func numericFormats() {
        #expect(NumericFormat.allCases.map(\.bytes) == [4, 4, 2, 2, 1, 1])
        #expect(NumericFormat.int8.embeddingRowBytes(dimension: 16) == 24)
        #expect(NumericFormat.bf16.embeddingRowBytes(dimension: 16) == 32)
    }
}
