import Foundation
import SchemaXML
import Testing

@testable import Workload

/// Transformer workloads: the shipped Llama 3 files carry the paper's numbers, the counts follow
/// their stated formulas, and the loader explains what a transformer file gets wrong.
@Suite struct TransformerWorkloadTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("workloads")

    static func load(_ text: String) throws(XMLDiagnostics) -> Workload {
        try WorkloadLoader.load(data: Data(text.utf8), name: "t.xml")
    }

    /// A small transformer file; `transformer` and `training` replace the two elements' attributes.
    static func file(
        transformer: String = #"layers="2" dimension="8" ffn-dimension="16" heads="2" kv-heads="1" vocabulary="10" sequence-length="4" global-batch-tokens="8""#,
        training: String = "", optimizers: String = #"<dense-optimizer kind="adam" learning-rate="0.001"/>"#
    ) -> String {
        """
        <workload name="tiny">
          <transformer \(transformer)/>
          <training \(training)>
            <precision compute="bf16" gradient-all-reduce="fp32"/>
            \(optimizers)
          </training>
        </workload>
        """
    }

    static func problems(_ text: String) -> [XMLDiagnostic] {
        do {
            _ = try load(text)
            Issue.record("expected the file to be rejected")
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// Llama 3 paper (arXiv 2407.21783) Table 3, and the parameter counts those shapes give.
    @Test(arguments: [
        ("llama3-8b", 32, 4096, 14336, 32, 8_028_164_096.0),
        ("llama3-70b", 80, 8192, 28672, 64, 70_549_512_192.0),
        ("llama3-405b", 126, 16384, 53248, 128, 405_845_000_192.0),
    ])
    func shippedLlama3(name: String, layers: Int, dimension: Int, ffn: Int, heads: Int, parameters: Double) throws {
        let workload = try WorkloadLoader.load(path: Self.folder.appendingPathComponent("\(name).xml").path)
        let model = try #require(workload.transformer)
        #expect(workload.name == name && workload.recommendation == nil && workload.features.isEmpty)
        #expect(model.layers == layers && model.dimension == dimension && model.ffnDimension == ffn && model.heads == heads)
        #expect(model.kvHeads == 8 && model.vocabulary == 128_000 && model.headDimension == 128)
        #expect(model.sequenceLength == 8192 && model.globalBatchTokens == 16_777_216 && model.globalBatchSequences == 2048)
        #expect(model.parameterCount == parameters)
        #expect(workload.training.precisions.compute == .bf16 && workload.training.precisions.gradientAllReduce == .fp32)
        #expect(workload.training.batchPerGPU == 1)
        #expect(workload.training.denseOptimizer.kind == .adam)
        #expect(workload.training.sparseOptimizer == SparseOptimizer(kind: .adam, learningRate: workload.training.denseOptimizer.learningRate))
    }

    /// Every count of the small file by hand: d = 8, f = 16, 2 heads of 4, 1 KV head, V = 10, s = 4.
    @Test func countsOfASmallModel() throws {
        let model = try #require(try Self.load(Self.file()).transformer)
        #expect(model.headDimension == 4 && model.kvDimension == 4 && model.globalBatchSequences == 2)
        // Q 8×8, K and V 8×4 each, output 8×8, gate/up/down 3 × 8×16.
        #expect(model.layerMatrixParameters == 64 + 32 + 32 + 64 + 384)
        #expect(model.layerParameters == 576 + 16)
        #expect(model.embeddingParameters == 80)
        #expect(model.parameterCount == 2 * 592 + 2 * 80 + 8)
        #expect(model.layerForwardMatrixFLOPsPerToken == 1152)
        // Causal attention: 4·d per query–key pair, s²/2 pairs per sequence → 2·d·s per token.
        #expect(model.attentionForwardFLOPsPerToken(sequenceLength: 4) == 64)
        #expect(model.headForwardFLOPsPerToken == 160)
        // 3 × 8 tokens × (2 blocks × (1152 + 64) + 160).
        #expect(model.trainingFLOPs(tokens: 8, sequenceLength: 4) == 62_208)
        // = 6·N_matrix·tokens + 6·L·d·s·tokens with N_matrix = 2·576 + 80.
        let matrixTerm: Double = 6 * (2 * 576 + 80) * 8
        let attentionTerm: Double = 6 * 2 * 8 * 4 * 8
        #expect(model.trainingFLOPs(tokens: 8, sequenceLength: 4) == matrixTerm + attentionTerm)
        let stored: Double = 6 * 8 + 2 * 4 + 3 * 16
        let moved: Double = 12 * 8 + 2 * 4 + 3 * 16
        #expect(model.storedActivationValuesPerToken == stored)
        #expect(model.elementwiseForwardValuesPerToken == moved)
    }

    @Test func microBatchDefaultsToOneSequence() throws {
        #expect(try Self.load(Self.file()).training.batchPerGPU == 1)
        #expect(try Self.load(Self.file(training: #"micro-batch="2""#)).training.batchPerGPU == 2)
    }

    @Test func shapesMustDivide() {
        let heads = Self.problems(Self.file(transformer: #"layers="2" dimension="8" ffn-dimension="16" heads="3" kv-heads="1" vocabulary="10" sequence-length="4" global-batch-tokens="8""#))
        #expect(heads.count == 1 && heads[0].message.contains(#"dimension="8" is not a multiple of heads="3""#), "\(heads)")
        let kv = Self.problems(Self.file(transformer: #"layers="2" dimension="8" ffn-dimension="16" heads="2" kv-heads="3" vocabulary="10" sequence-length="4" global-batch-tokens="8""#))
        #expect(kv.count == 1 && kv[0].message.contains("kv-heads=\"3\""), "\(kv)")
        let batch = Self.problems(Self.file(transformer: #"layers="2" dimension="8" ffn-dimension="16" heads="2" kv-heads="1" vocabulary="10" sequence-length="4" global-batch-tokens="10""#))
        #expect(batch.count == 1 && batch[0].message.contains("not a whole number of 4-token sequences") && batch[0].message.contains("e.g. 8"), "\(batch)")
        #expect(batch.first?.location == SourceLocation(file: "t.xml", line: 2))
        let zero = Self.problems(Self.file(transformer: #"layers="0" dimension="8" ffn-dimension="16" heads="2" kv-heads="1" vocabulary="10" sequence-length="4" global-batch-tokens="8""#))
        #expect(zero.count == 1 && zero[0].message.contains(#"layers="0" must be at least 1"#), "\(zero)")
    }

    @Test func recommendationTrainingAttributesAreRefused() {
        let batch = Self.problems(Self.file(training: #"batch-per-gpu="4""#))
        #expect(batch.count == 1 && batch[0].message.contains("does not apply to a transformer"), "\(batch)")
        let sparse = Self.problems(Self.file(optimizers: #"<sparse-optimizer kind="sgd" learning-rate="0.1"/><dense-optimizer kind="adam" learning-rate="0.001"/>"#))
        #expect(sparse.count == 1 && sparse[0].message.contains("remove <sparse-optimizer>"), "\(sparse)")
        #expect(sparse.first?.location.line == 5)
    }

    @Test func microBatchIsForTransformersOnly() {
        let text = """
            <workload name="rec">
              <recommendation><sparse dimension="4"><feature name="a" rows="10"/></sparse><interaction kind="dot"/><top-mlp widths="1"/></recommendation>
              <training batch-per-gpu="2" micro-batch="1"><sparse-optimizer kind="sgd" learning-rate="0.1"/><dense-optimizer kind="sgd" learning-rate="0.1"/></training>
            </workload>
            """
        let found = Self.problems(text)
        #expect(found.count == 1 && found[0].message.contains("applies to transformers only"), "\(found)")
        let missing = Self.problems(text.replacingOccurrences(of: #" batch-per-gpu="2" micro-batch="1""#, with: ""))
        #expect(missing.count == 1 && missing[0].message.contains("needs a batch-per-gpu attribute"), "\(missing)")
        let noSparse = Self.problems(text.replacingOccurrences(of: #" micro-batch="1""#, with: "").replacingOccurrences(of: #"<sparse-optimizer kind="sgd" learning-rate="0.1"/>"#, with: ""))
        #expect(noSparse.count == 1 && noSparse[0].message.contains("has no <sparse-optimizer>"), "\(noSparse)")
    }

    @Test func oneModelElementOnly() {
        let both = Self.file().replacingOccurrences(
            of: "<training", with: #"<recommendation><sparse dimension="4"><feature name="a" rows="10"/></sparse><interaction kind="dot"/><top-mlp widths="1"/></recommendation><training"#)
        #expect(!Self.problems(both).isEmpty)
    }
}
