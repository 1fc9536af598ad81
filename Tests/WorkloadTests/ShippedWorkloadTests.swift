import Foundation
import Testing

@testable import Workload

/// The files in `workloads/`: they load, and their counts match the published figures.
@Suite struct ShippedWorkloadTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let shippedNames = [
        "dlrm-criteo-kaggle", "dlrm-criteo-terabyte", "dcn-criteo", "prod-512", "wukong-720", "dlrm-kaggle-bench", "synthetic-planted", "prod-128",
    ]

    static func path(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("workloads/\(name).xml").path
    }

    static func load(_ name: String) throws -> (Workload, RecommendationModel) {
        let workload = try WorkloadLoader.load(path: path(name))
        return (workload, try #require(workload.recommendation))
    }

    /// The workload's `<synthetic>` section; fails the test when it has none.
    static func synthetic(_ workload: Workload) throws -> SyntheticData {
        let data: SyntheticData? = if case .synthetic(let data) = workload.data { data } else { nil }
        return try #require(data, "expected synthetic data")
    }

    /// DESIGN.md §1.4, in column order C1…C26.
    static let kaggleCardinalities = [
        1460, 583, 10_131_227, 2_202_608, 305, 24, 12517, 633, 3, 93145, 5683, 8_351_593, 3194, 27, 14992, 5_461_306, 10,
        5652, 2173, 4, 7_046_547, 18, 15, 286_181, 105, 142_572,
    ]
    static let terabyteCardinalities = [
        39_884_406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38_532_951, 2_953_546, 403_346, 10, 2208, 11938, 155, 4,
        976, 14, 39_979_771, 25_641_295, 39_664_984, 585_935, 12972, 108, 36,
    ]

    @Test(arguments: shippedNames) func shippedFileLoads(name: String) throws {
        let (workload, model) = try Self.load(name)
        #expect(workload.name == name)
        #expect(!model.features.isEmpty)
        #expect(workload.features.count == model.features.count)
        #expect(model.denseForwardFLOPs(batch: 1) > 0)
        // Every file opens with a comment that cites where its numbers come from.
        let text = try String(contentsOfFile: Self.path(name), encoding: .utf8)
        let header = text.components(separatedBy: "-->")[0]
        #expect(header.contains("<!--") && (header.contains("Sources") || header.contains("et al.")))
        #expect(header.count > 400)
    }

    @Test func kaggleHasTheRealCardinalities() throws {
        let (workload, model) = try Self.load("dlrm-criteo-kaggle")
        #expect(model.features.map(\.name) == (1...26).map { "C\($0)" })
        #expect(model.features.map(\.rows) == Self.kaggleCardinalities)
        #expect(Self.kaggleCardinalities.reduce(0, +) == 33_762_577)
        #expect(model.totalTableRows == 33_762_577)
        #expect(model.features.allSatisfy { $0.dimension == 16 && $0.pooling == 1 && $0.hashSize == nil })
        #expect(model.denseFeatures == 13)
        #expect(model.bottomMLP == MLP(inputWidth: 13, layerWidths: [512, 256, 64, 16]))
        #expect(model.interaction == .dot)
        // DLRM: 16 + 27·26/2 = 367 into the top MLP.
        #expect(model.topMLP == MLP(inputWidth: 367, layerWidths: [512, 256, 1]))
        // Bottom 155,984 + top 320,001 weights and biases.
        #expect(model.denseParameterCount == 475_985)
        #expect(model.towerModule == .identity)
        #expect(workload.training.batchPerGPU == 128)
        #expect(workload.training.sparseOptimizer == SparseOptimizer(kind: .sgd, learningRate: 0.1))
        #expect(workload.training.denseOptimizer == DenseOptimizer(kind: .sgd, learningRate: 0.1))
        guard case .dataset(let dataset) = workload.data else {
            Issue.record("expected a dataset")
            return
        }
        #expect(dataset.format == .criteoTSV)
        #expect(dataset.path == Self.repositoryRoot.appendingPathComponent("workloads").path + "/../data/criteo-kaggle/train.txt")
    }

    @Test func terabyteIsMLPerfDLRM() throws {
        let (workload, model) = try Self.load("dlrm-criteo-terabyte")
        #expect(model.features.map(\.rows) == Self.terabyteCardinalities)
        #expect(model.features.allSatisfy { $0.hashSize == 40_000_000 && $0.tableRows == $0.rows && $0.dimension == 128 })
        #expect(model.totalTableRows == 187_767_399)
        #expect(model.bottomMLP?.layerWidths == [512, 256, 128])
        #expect(model.topMLP == MLP(inputWidth: 128 + 27 * 26 / 2, layerWidths: [1024, 1024, 512, 256, 1]))
        #expect(workload.training.batchPerGPU == 8192)
    }

    @Test func dcnConcatenatesDenseFeaturesWithEmbeddings() throws {
        let (_, model) = try Self.load("dcn-criteo")
        #expect(model.features.map(\.rows) == Self.kaggleCardinalities)
        #expect(model.embeddingDimension == 39)
        #expect(model.bottomMLP == nil)
        #expect(model.interaction == .dcn(CrossNetwork(layers: 3)))
        #expect(model.topMLP.inputWidth == 13 + 26 * 39)
        // Three full-rank cross layers on 1,027 values.
        let crossParameters: Double = 3 * (1027 * 1027 + 1027)
        #expect(model.interaction.parameterCount(model.interactionInput) == crossParameters)
    }

    @Test func prod512SpreadsItsGroups() throws {
        let (workload, model) = try Self.load("prod-512")
        #expect(model.features.count == 512)
        #expect(model.features.allSatisfy { (10...100).contains($0.pooling) && (1_000_000...100_000_000).contains($0.rows) })
        #expect(model.features.first?.name == "user_history_0")
        #expect(model.features.last?.name == "crossed_63")
        #expect(Set(model.features.compactMap(\.group)) == ["user_history", "item_history", "context", "crossed"])
        guard case .wukong(let layers, let layer) = model.interaction else {
            Issue.record("expected a Wukong interaction")
            return
        }
        #expect(layers == 4 && layer.outputEmbeddings == 64)
        // 256 dense features through a bottom MLP ending at 2·D: 514 Wukong input vectors.
        #expect(model.interactionInput.vectors == 514)
        #expect(model.towerModule == TowerModule(kind: .linear, output: .compression(4)))
        #expect(model.towerModule.outputWidth(features: 64, dimension: 128) == 2048)
        #expect(workload.training.precisions.embedding == .fp16)
        let data = try Self.synthetic(workload)
        #expect(data.seed == 512 && data.samples == 100_000_000 && data.zipfExponent == 1.1 && data.groups == 4 && data.noise == 0.1)
    }

    @Test func wukong720HasThePaperScale() throws {
        let (_, model) = try Self.load("wukong-720")
        #expect(model.features.count == 720)
        #expect(model.embeddingDimension == 160)
        #expect(model.topMLP.inputWidth == 192 * 160)
        guard case .wukong(let kind) = model.towerModule.kind else {
            Issue.record("expected a Wukong tower module")
            return
        }
        #expect(kind == WukongLayer(fmEmbeddings: 16, lcbEmbeddings: 16, fmRank: 24, mlpHidden: [1024]))
        // Within the paper's 1–100+ GFLOP per example.
        let flops = model.denseForwardFLOPs(batch: 1) + model.denseBackwardFLOPs(batch: 1)
        #expect(flops > 1e9 && flops < 1e11)
    }

    @Test func kaggleBenchIsTheKaggleModelOnSmallTables() throws {
        let (workload, model) = try Self.load("dlrm-kaggle-bench")
        let (kaggleWorkload, kaggle) = try Self.load("dlrm-criteo-kaggle")
        #expect(model.features.map(\.name) == (1...26).map { "C\($0)" })
        #expect(model.features.allSatisfy { $0.rows == 100_000 && $0.pooling == 1 && $0.dimension == 16 })
        #expect(model.bottomMLP == kaggle.bottomMLP && model.interaction == .dot && model.topMLP == kaggle.topMLP)
        #expect(model.topMLP.inputWidth == 367)
        #expect(workload.training.batchPerGPU == 2048)
        #expect(workload.training.sparseOptimizer == kaggleWorkload.training.sparseOptimizer)
        #expect(workload.training.denseOptimizer == kaggleWorkload.training.denseOptimizer)
        let data = try Self.synthetic(workload)
        // dlrm_s_benchmark.sh: 1000 batches of 2048, uniform ids, seed 727.
        #expect(data.seed == 727 && data.samples == 2_048_000 && data.zipfExponent == 0)
    }

    @Test func syntheticPlantedHasFortyFeaturesInFiveGroups() throws {
        let (workload, model) = try Self.load("synthetic-planted")
        #expect(model.features.count == 40 && model.embeddingDimension == 16)
        #expect(model.features.allSatisfy { (50...2_000).contains($0.rows) && (1...4).contains($0.pooling) })
        #expect(model.interaction == .dot && model.topMLP.inputWidth == 16 + 41 * 40 / 2)
        #expect(model.towerModule == TowerModule(kind: .dot, output: .compression(8)))
        // A planted group of 8 features as a tower: 128 embedding values out as 16.
        #expect(model.towerModule.outputWidth(features: 8, dimension: 16) == 16)
        #expect(workload.training.batchPerGPU == 512)
        let data = try Self.synthetic(workload)
        #expect(data.groups == 5 && data.samples == 2_000_000 && data.zipfExponent == 1.05 && data.noise == 0.1)
    }

    @Test func schemaLinkMatchesTheBundledSchema() throws {
        let linked = try String(contentsOfFile: Self.repositoryRoot.appendingPathComponent("workloads/workload.xsd").path, encoding: .utf8)
        let bundled = try String(contentsOfFile: try WorkloadLoader.schema().path, encoding: .utf8)
        #expect(linked == bundled)
    }
}
