import Foundation
import Testing
import Topology
import Workload

@testable import Simulation

/// The 4D transformer step model: `--parallel` parsing, the rank layout on a Llama 3-shaped
/// cluster, the pipeline schedule's bubble, the aggregation layer's effect on DP, the memory
/// check and the plan search.
@Suite struct TransformerStepTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Llama 3 cluster's shape at a small size: Grand Teton-like hosts (8 GPUs on NVLink, one
    /// 400 Gb/s NIC each), 2 hosts per ToR, `racks` racks per pod on a non-blocking spine, `pods`
    /// pods joined by aggregation switches at `ratio` (1:7 on the real cluster).
    static func cluster(pods: Int = 8, racks: Int = 4, ratio: String = "1:7", memory: String = "80GB") throws -> Cluster {
        let text = """
            <cluster name="mini-llama3">
              <accelerator-model id="H100" memory="\(memory)" memory-bandwidth="3.35TB/s"><peak precision="bf16" flops="989TFLOP/s"/></accelerator-model>
              <template id="box">
                <accelerator id="gpu" model="H100" count="8"/>
                <switch id="nvswitch"/>
                <nic id="nic" count="8"/>
                <link a="gpu" b="nvswitch" bandwidth="450GB/s" latency="0.7us"/>
                <link a="gpu" b="nic" pattern="one-to-one" bandwidth="63GB/s" latency="1us"/>
              </template>
              <fabric>
                <level name="pod" count="\(pods)">
                  <level name="rack" count="\(racks)">
                    <switch id="tor"/>
                    <host template="box" count="2"/>
                    <link a="host/nic" b="tor" bandwidth="400Gb/s" latency="1.5us"/>
                  </level>
                  <switch id="spine" count="4"/>
                  <link a="rack/tor" b="spine" pattern="all" oversubscription="1:1" latency="1.5us"/>
                </level>
                <switch id="aggregation" count="4"/>
                <link a="pod/spine" b="aggregation" pattern="all" oversubscription="\(ratio)" latency="1.5us"/>
              </fabric>
            </cluster>
            """
        return try ClusterLoader.load(data: Data(text.utf8), name: "mini-llama3.xml")
    }

    /// A transformer workload (BF16, FP32 gradients, Adam) of the given shape.
    static func workload(
        layers: Int = 8, dimension: Int = 2048, ffn: Int = 8192, heads: Int = 16, kvHeads: Int = 8, vocabulary: Int = 32000,
        sequence: Int = 2048, batchTokens: Int
    ) throws -> Workload {
        let text = """
            <workload name="small">
              <transformer layers="\(layers)" dimension="\(dimension)" ffn-dimension="\(ffn)" heads="\(heads)" kv-heads="\(kvHeads)"
                           vocabulary="\(vocabulary)" sequence-length="\(sequence)" global-batch-tokens="\(batchTokens)"/>
              <training>
                <precision compute="bf16" forward-communication="bf16" backward-communication="bf16" gradient-all-reduce="fp32"/>
                <dense-optimizer kind="adam" learning-rate="0.0001"/>
              </training>
            </workload>
            """
        return try WorkloadLoader.load(data: Data(text.utf8), name: "small.xml")
    }

    static func simulate(_ workload: Workload, _ parallel: String, on cluster: Cluster, interleave: Int = 1) throws -> TransformerStepResult {
        let job = try TransformerJob(workload: workload, parallelism: try TransformerParallelism.parse(parallel), interleave: interleave)
        return try TransformerStepModel(communication: try AggregatedCommunicationModel(cluster: cluster)).simulate(job)
    }

    // MARK: --parallel

    @Test func parsesParallel() throws {
        #expect(try TransformerParallelism.parse("tp=8,cp=1,pp=16,dp=64") == TransformerParallelism(tp: 8, cp: 1, pp: 16, dp: 64))
        #expect(try TransformerParallelism.parse("dp=2, TP=4") == TransformerParallelism(tp: 4, cp: 1, pp: 1, dp: 2))
        #expect(try TransformerParallelism.parse("tp=8,pp=16", gpus: 16_384).dp == 128)
        #expect(try TransformerParallelism.parse("tp=8,cp=1,pp=16,dp=64").description == "tp=8,cp=1,pp=16,dp=64")
        #expect(try TransformerParallelism.parse("tp=8,cp=1,pp=16,dp=64").gpus == 8192)
    }

    @Test(arguments: [
        ("tp=8,ep=2", nil, "unknown key 'ep'"),
        ("tp=8,pp", nil, "'pp' is not key=value"),
        ("tp=0", nil, "tp=0: a size must be a whole number of at least 1"),
        ("tp=two", nil, "a size must be a whole number"),
        ("tp=8,tp=4", nil, "tp is given twice"),
        ("tp=8,cp=1,pp=16,dp=64", 16_384, "tp·cp·pp·dp = 8192 GPUs, but 16384 GPUs are to be used"),
        ("tp=8,pp=3", 16_384, "not a multiple of tp·cp·pp = 24"),
        ("tp=65536,dp=65536", nil, "more than 2³⁰ GPUs"),
    ] as [(String, Int?, String)])
    func parallelErrorsSayWhat(text: String, gpus: Int?, message: String) {
        #expect {
            _ = try TransformerParallelism.parse(text, gpus: gpus)
        } throws: { error in
            (error as? TransformerParallelism.ParseError)?.description.contains(message) == true
        }
    }

    // MARK: Rank layout

    /// TP groups stay inside one host; DP groups reach across pods (TP fastest, DP outermost).
    @Test func tpInsideHostsAndDPAcrossPods() throws {
        let cluster = try Self.cluster()
        let parallelism = TransformerParallelism(tp: 8, cp: 2, pp: 2, dp: 16)
        #expect(parallelism.gpus == cluster.accelerators.count)
        #expect(parallelism.rank(tp: 3, cp: 1, pp: 1, dp: 5) == 3 + 8 * (1 + 2 * (1 + 2 * 5)))
        #expect(parallelism.coordinates(of: 187) == (3, 1, 1, 5))
        let host = try #require(cluster.level(named: "host"))
        let pod = try #require(cluster.level(named: "pod"))
        func domains(_ group: [Int32], _ level: Level) -> Set<Int32> {
            Set(group.map { cluster.enclosingDomain(of: cluster.accelerators[Int($0)], at: level) ?? -1 })
        }
        let tp = parallelism.groups(.tp)
        #expect(tp.count == 64 && tp.allSatisfy { domains($0, host).count == 1 })
        let dp = parallelism.groups(.dp)
        #expect(dp.count == 32 && dp.allSatisfy { domains($0, pod).count == 8 })
        // CP and PP neighbours are one and two hosts away, inside a pod.
        #expect(parallelism.groups(.cp).allSatisfy { domains($0, pod).count == 1 && domains($0, host).count == 2 })
        #expect(parallelism.groups(.pp).allSatisfy { domains($0, pod).count == 1 })
        // FSDP shards over CP and DP together: one group per (tp, pp).
        let shards = parallelism.groups(varying: [.cp, .dp])
        #expect(shards.count == 16 && shards.allSatisfy { $0.count == 32 })
        #expect(Set(shards.joined()).count == parallelism.gpus)
    }

    // MARK: Pipeline schedule

    /// Equal chunks and free communication: the step is the compute plus (PP − 1)/(V·M) of it.
    @Test(arguments: [(1, 8), (2, 8), (4, 4), (2, 12)])
    func bubbleIsTheInterleavedFormula(interleave: Int, microBatches: Int) {
        let stages = 4
        let chunk = TransformerPipeline.Chunk(forward: [0.5], backward: [1], gather: [0], reduce: [0])
        let pipeline = TransformerPipeline(
            stages: stages, interleave: interleave, microBatches: microBatches, chunks: Array(repeating: chunk, count: stages * interleave),
            transferForward: 0, transferBackward: 0, optimizer: Array(repeating: 0, count: stages))
        let compute = Double(microBatches * interleave) * 1.5
        let expected = compute * (1 + Double(stages - 1) / Double(interleave * microBatches))
        let outcome = pipeline.run()
        #expect(abs(outcome.stepSeconds - expected) < 1e-9, "\(outcome.stepSeconds) vs \(expected)")
        #expect(outcome.stages.allSatisfy { $0.operations.count == 2 * microBatches * interleave })
    }

    /// Llama 3 drops a block from the first and last stage (126 layers on 16 stages: 7, 8 × 14, 7).
    @Test func layersSpreadLikeLlama3() {
        #expect(TransformerJob.layerLayout(layers: 126, chunks: 16) == [7] + Array(repeating: 8, count: 14) + [7])
        #expect(TransformerJob.layerLayout(layers: 126, chunks: 1) == [126])
        #expect(TransformerJob.layerLayout(layers: 8, chunks: 4) == [1, 3, 3, 1])
        #expect(TransformerJob.layerLayout(layers: 9, chunks: 4).reduce(0, +) == 9)
    }

    // MARK: Whole steps

    /// FLOPs, throughput and MFU follow from the step time; single-member dimensions cost nothing.
    @Test func stepAccounting() throws {
        let cluster = try Self.cluster(pods: 1, racks: 2)
        let workload = try Self.workload(batchTokens: 4 * 8 * 2048)
        let result = try Self.simulate(workload, "tp=8,pp=2,dp=2", on: cluster)
        let model = try #require(workload.transformer)
        #expect(result.modelFLOPs == model.trainingFLOPs(tokens: Double(4 * 8 * 2048), sequenceLength: 2048))
        #expect(abs(result.flopsPerGPU - result.modelFLOPs / result.stepSeconds / 32) < 1)
        #expect(abs(result.mfu - result.flopsPerGPU / 989e12) < 1e-12)
        #expect(result.mfu > 0.05 && result.mfu < TransformerEfficiency().matrix)
        #expect(result.job.microBatches == 16 && result.job.microBatchSequences == 1)
        #expect(result.exposedSecondsByDimension[.cp] == 0)
        #expect(result.exposedSecondsByDimension[.tp]! > 0 && result.exposedSecondsByDimension[.pp]! > 0)
        #expect(!result.collectives.contains { $0.dimension == .cp })
        #expect(abs(result.idealBubbleFraction - 1.0 / 16) < 1e-12)
        #expect(result.busiestLinks.count == 5 && result.bytesPerGPUByLevel["host"]! > 0)
        #expect(result.stages.count == 2)
    }

    /// DP rings leaving a pod share its aggregation uplinks: within one pod the 1:7 layer is never
    /// touched, across 8 pods the 16 rings of a 16-GPU replica exceed a pod's 1/7 share
    /// (16 × 50 GB/s > 64 × 50 GB/s / 7): the DP all-gather slows by a third and the step grows, while under a 1:1 fabric it does not.
    @Test func dataParallelAcrossPodsMeetsTheAggregationLayer() throws {
        func step(pods: Int, ratio: String) throws -> TransformerStepResult {
            // 4 replicas per pod, each with the same 8 micro-batches.
            let workload = try Self.workload(layers: 4, batchTokens: 4 * pods * 8 * 2048)
            return try Self.simulate(workload, "tp=8,pp=2,dp=\(4 * pods)", on: try Self.cluster(pods: pods, ratio: ratio))
        }
        let onePod = try step(pods: 1, ratio: "1:7")
        #expect(onePod.stepSeconds == (try step(pods: 1, ratio: "1:1")).stepSeconds)
        #expect(onePod.bytesPerGPUByLevel["pod"] == nil)
        let eightPods = try step(pods: 8, ratio: "1:7")
        let nonBlocking = try step(pods: 8, ratio: "1:1")
        #expect(eightPods.stepSeconds > nonBlocking.stepSeconds * 1.001, "\(eightPods.stepSeconds) vs \(nonBlocking.stepSeconds)")
        #expect(eightPods.exposedSecondsByDimension[.dp]! > nonBlocking.exposedSecondsByDimension[.dp]!)
        let gather = try #require(eightPods.collectives.first { $0.operation == "all-gather block weights" })
        let open = try #require(nonBlocking.collectives.first { $0.operation == "all-gather block weights" })
        #expect(gather.seconds > 1.2 * open.seconds)
        #expect(eightPods.bytesPerGPUByLevel["pod"]! > 0)
        // The other dimensions never leave a pod, so they are untouched by the ratio.
        for operation in ["all-gather activations", "send activations"] {
            #expect(eightPods.collectives.first { $0.operation == operation }?.seconds == nonBlocking.collectives.first { $0.operation == operation }?.seconds)
        }
    }

    // MARK: Memory and the plan search

    @Test func memoryCheckRefusesWhatDoesNotFit() throws {
        let cluster = try Self.cluster(pods: 1, racks: 1, memory: "16GB")
        let workload = try Self.workload(layers: 16, dimension: 4096, ffn: 16384, heads: 32, sequence: 4096, batchTokens: 16 * 4096)
        let job = try TransformerJob(workload: workload, parallelism: TransformerParallelism(tp: 1, dp: 16))
        let memory = TransformerMemory.peak(of: job)
        let parameters = try #require(workload.transformer).parameterCount
        #expect(abs(memory.weightBytes - parameters * 2) < 1 && abs(memory.gradientBytes - parameters * 4) < 1)
        #expect(abs(memory.optimizerBytes - parameters * 12 / 16) < 1)
        let model = TransformerStepModel(communication: try AggregatedCommunicationModel(cluster: cluster))
        #expect {
            _ = try model.simulate(job)
        } throws: { error in
            let message = (error as? SimulationError)?.message ?? ""
            return message.contains("stage 0 needs") && message.contains("has 16GB") && message.contains("raise tp or pp")
        }
        #expect(try model.simulate(job, checkMemory: false).stepSeconds > 0)

        let ranked = try TransformerPlanSearch.rank(workload: workload, cluster: cluster, interleaves: [1, 2])
        let best = try #require(ranked.first)
        #expect(best.fits && best.memory!.totalBytes <= 16e9)
        let fitting = ranked.filter(\.fits)
        #expect(zip(fitting, fitting.dropFirst()).allSatisfy { $0.stepSeconds! <= $1.stepSeconds! })
        let refused = try #require(ranked.first { $0.parallelism == TransformerParallelism(tp: 1, dp: 16) })
        #expect(!refused.fits && refused.reason.contains("needs"))
        #expect(ranked.allSatisfy { $0.parallelism.gpus == 16 && $0.parallelism.tp <= 8 })
    }

    @Test func recommendationWorkloadsAreRefused() throws {
        let recommendation = try StepFixtures.workload(StepFixtures.uniform(2))
        #expect {
            _ = try TransformerJob(workload: recommendation, parallelism: TransformerParallelism())
        } throws: { error in
            (error as? SimulationError)?.message.contains("is a recommendation model") == true
        }
        #expect(throws: SimulationError.self) { _ = try TransformerPlanSearch.rank(workload: recommendation, cluster: try Self.cluster(pods: 1, racks: 1)) }
    }

    @Test func jobErrorsSayWhatToChange() throws {
        let workload = try Self.workload(batchTokens: 8 * 2048)
        func message(_ parallelism: TransformerParallelism, sequence: Int? = nil, microBatches: Int? = nil, interleave: Int = 1) -> String {
            do {
                _ = try TransformerJob(workload: workload, parallelism: parallelism, sequenceLength: sequence, microBatches: microBatches, interleave: interleave)
                return ""
            } catch {
                return error.message
            }
        }
        #expect(message(TransformerParallelism(dp: 3)).contains("does not split over dp=3"))
        #expect(message(TransformerParallelism(dp: 2), microBatches: 3).contains("do not split into 3 micro-batches"))
        #expect(message(TransformerParallelism(pp: 4), interleave: 4).contains("every chunk needs a layer"))
        #expect(message(TransformerParallelism(pp: 4), microBatches: 2, interleave: 2).contains("multiple of pp"))
        #expect(message(TransformerParallelism(tp: 32)).contains("tp=32 must divide"))
        #expect(message(TransformerParallelism(cp: 3), sequence: 2048).contains("2·cp = 6 chunks"))
        #expect(message(TransformerParallelism(), sequence: 3000).contains("not a whole number of 3000-token sequences"))
        #expect(message(TransformerParallelism(dp: 4), sequence: 4096).isEmpty)
    }

    // MARK: The real cluster (slow in debug builds: loading 24,576 GPUs)

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOWERPLAN_SLOW_TESTS"] == "1"))
    func llama3On16kGPUs() throws {
        let cluster = try ClusterLoader.load(path: Self.root.appendingPathComponent("topologies/llama3-h100-24k.xml").path)
        let workload = try WorkloadLoader.load(path: Self.root.appendingPathComponent("workloads/llama3-405b.xml").path)
        let parallelism = try TransformerParallelism.parse("tp=8,cp=1,pp=16,dp=128")
        let host = try #require(cluster.level(named: "host"))
        let pod = try #require(cluster.level(named: "pod"))
        func domains(_ group: [Int32], _ level: Level) -> Int {
            Set(group.map { cluster.enclosingDomain(of: cluster.accelerators[Int($0)], at: level) ?? -1 }).count
        }
        #expect(parallelism.groups(.tp).allSatisfy { domains($0, host) == 1 })
        // 16,384 GPUs fill 5⅓ pods of 3,072; every DP group of 128 replicas spans 6 of them.
        #expect(parallelism.groups(.dp).allSatisfy { domains($0, pod) == 6 })
        #expect(parallelism.groups(.pp).allSatisfy { domains($0, pod) == 1 })
        let job = try TransformerJob(workload: workload, parallelism: parallelism)
        let result = try TransformerStepModel(communication: try AggregatedCommunicationModel(cluster: cluster)).simulate(job, checkMemory: false)
        #expect(result.mfu > 0.2 && result.mfu < 0.6, "MFU \(result.mfu)")
        #expect(result.bytesPerGPUByLevel["pod"]! > 0)
    }
}
