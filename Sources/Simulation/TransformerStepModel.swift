import Topology
import Workload

/// How close to the device's peak a transformer's kernels run: stated sources, not fits.
///
/// Each figure is the fraction of the datasheet peak (or HBM bandwidth) the kernel class reaches.
/// The defaults are H100 SXM measurements; for another device pass that device's figures.
public struct TransformerEfficiency: Sendable, Hashable {
    /// Matrix products (QKV, output, SwiGLU and head projections). Default 0.801: the Maximum
    /// Achievable Matmul FLOPS of an H100 SXM in BF16, 792.1 of 989 TFLOP/s (S. Bekman,
    /// *Machine Learning Engineering*, "Maximum Achievable Matmul FLOPS comparison table",
    /// CUDA 12.1). It is the best shape found by a search, so it is an upper bound for the
    /// model's own shapes.
    public var matrix: Double
    /// The attention core (FlashAttention). Default 0.35: "FlashAttention-2 achieves only 35%
    /// utilization on the H100 GPU" (Shah et al., FlashAttention-3, arXiv 2407.08608, abstract);
    /// Llama 3 was trained before FlashAttention-3 was published.
    public var attention: Double
    /// Element-wise kernels (norms, residual adds, rotary embedding, SwiGLU) and the optimizer, as a
    /// fraction of HBM bandwidth. Default 0.8, as `ComputeModel.memoryEfficiency` (BabelStream).
    public var memory: Double

    public init(matrix: Double = 0.801, attention: Double = 0.35, memory: Double = 0.8) {
        self.matrix = matrix
        self.attention = attention
        self.memory = memory
    }
}

/// Costs one training step of a transformer under tensor, context, pipeline and data parallelism
/// on a cluster graph.
///
/// - Communication goes through the `CommunicationModel` (the aggregated one on the Llama 3
///   cluster), one call per distinct collective with **all of its groups at once**, so groups that
///   share links (DP rings leaving a pod through the 1:7 aggregation layer) slow each other as they
///   would. Every layer's, micro-batch's and stage's instance of a collective is alike, so it is
///   costed once and reused: about a dozen calls per step whatever the model depth.
/// - Compute is costed per micro-batch and chunk on one representative GPU per pipeline stage (all
///   TP, CP and DP ranks of a stage do identical work), then `TransformerPipeline` schedules the
///   stages' operations and the FSDP stream.
/// - TP (Megatron-LM sequence parallelism, Korthikanti et al. 2022): per block, the forward
///   all-gathers the sequence shards before the QKV and the gate/up products and reduce-scatters
///   after the output and down products (2 all-gathers + 2 reduce-scatters of b·s/cp·d values); the
///   backward mirrors them (2 + 2), plus 2 all-gathers that re-gather the inputs for the weight
///   gradients and overlap the input-gradient products (exposed only when longer than them). The
///   others sit between dependent products, so they are exposed.
/// - CP (Llama 3 §3.3.2): the forward all-gathers K and V over the CP ranks and the backward
///   reduce-scatters their gradients, both exposed, as the paper says of its all-gather design.
/// - PP: point-to-point sends of b·s/(cp·tp)·d activations (and gradients) between chunks.
/// - DP: FSDP over the CP·DP ranks of a stage: weights all-gathered once per step, gradients
///   reduce-scattered once, overlapped with compute as `TransformerPipeline` describes.
/// - Exposed time of a dimension: how much shorter the step would be if that dimension's
///   communication were free. These do not add up exactly when one hides behind another.
///
/// What is left out: SM time taken by communication kernels, contention between the streams of
/// different dimensions on one NIC (each collective is costed as if alone), the vocabulary-parallel
/// cross-entropy's small all-reduces, kernel launch gaps, and stragglers.
public struct TransformerStepModel: Sendable {
    public var communication: any CommunicationModel
    public var efficiency: TransformerEfficiency

    public init(communication: any CommunicationModel, efficiency: TransformerEfficiency = TransformerEfficiency()) {
        self.communication = communication
        self.efficiency = efficiency
    }

    /// The device every GPU of the job runs on.
    /// - Throws: when the job needs more GPUs than the cluster has, or they are of different models.
    public func device(for job: TransformerJob) throws(SimulationError) -> AcceleratorModel {
        let cluster = communication.cluster
        guard job.gpus <= cluster.accelerators.count else {
            throw SimulationError(
                "\(job.parallelism) needs \(job.gpus) GPUs but cluster \(cluster.name) has \(cluster.accelerators.count); lower a size")
        }
        var models: [String: AcceleratorModel] = [:]
        for device in cluster.accelerators.prefix(job.gpus) {
            guard let model = cluster.model(of: device) else {
                throw SimulationError("\(cluster.path(of: device)) has no accelerator model, so its compute cannot be costed")
            }
            models[model.id] = model
        }
        guard models.count == 1, let model = models.values.first else {
            throw SimulationError("the job's GPUs are of \(models.count) models (\(models.keys.sorted().joined(separator: ", "))); the transformer step model needs one")
        }
        return model
    }

    /// Simulates one step. With `checkMemory`, a job whose busiest stage does not fit in device
    /// memory (`TransformerMemory`) is refused.
    public func simulate(_ job: TransformerJob, checkMemory: Bool = true) throws -> TransformerStepResult {
        let device = try device(for: job)
        let memory = TransformerMemory.peak(of: job)
        if checkMemory { try memory.check(capacity: device.memoryBytes, device: device.id) }
        let costs = try TransformerCosts(job: job, device: device, efficiency: efficiency, communication: communication)

        let pipeline = costs.pipeline(free: [])
        let outcome = pipeline.run()
        var exposed: [ParallelDimension: Double] = [:]
        for dimension in ParallelDimension.allCases {
            exposed[dimension] = max(0, outcome.stepSeconds - costs.pipeline(free: [dimension]).run().stepSeconds)
        }
        let noCommunication = costs.pipeline(free: Set(ParallelDimension.allCases)).run()
        // The busiest stage: the most compute (ties to the first).
        let computeByStage = (0..<job.parallelism.pp).map { p in
            noCommunication.stages[p].busy
        }
        let busiest = computeByStage.indices.max { computeByStage[$0] < computeByStage[$1] } ?? 0
        let optimizer = costs.optimizer[busiest]
        let bubble = max(0, noCommunication.stepSeconds - computeByStage[busiest] - optimizer)

        let modelFLOPs = job.model.trainingFLOPs(tokens: Double(job.model.globalBatchTokens), sequenceLength: job.model.sequenceLength)
        let peak = device.peak(Precision(rawValue: job.precisions.compute.rawValue) ?? .bf16) ?? 0
        let step = outcome.stepSeconds
        return TransformerStepResult(
            job: job, device: device.id, peakFLOPS: peak, stepSeconds: step,
            modelFLOPs: modelFLOPs, computeSeconds: computeByStage[busiest], bubbleSeconds: bubble, optimizerSeconds: optimizer,
            busiestStage: busiest, idealBubbleFraction: Double(job.parallelism.pp - 1) / Double(job.interleave * job.microBatches),
            exposedSecondsByDimension: exposed, collectives: costs.collectives, memory: memory, memoryCapacity: device.memoryBytes,
            bytesPerGPUByLevel: costs.bytesPerGPUByLevel(),
            busiestLinks: StepModel.busiestLinks(costs.arcBytesPerStep(), cluster: communication.cluster, stepSeconds: step, limit: 5),
            stages: outcome.stages.map { TransformerStepResult.StageTimeline($0) })
    }
}

/// Every time a transformer step is made of, computed once per job: compute per unit and
/// micro-batch, and each distinct collective costed on the cluster.
struct TransformerCosts {
    let job: TransformerJob
    /// The collectives of one step, with their costs and how often they run.
    var collectives: [TransformerStepResult.Collective] = []
    /// Per collective (same order): the bytes it put on each arc, and the participants' share of the job.
    private var arcBytes: [[Int32: Double]] = []
    private var levelBytes: [[String: Double]] = []
    private var participantShare: [Double] = []

    // Seconds for one micro-batch on one GPU.
    private var layerForward = 0.0, layerBackward = 0.0
    private var embeddingForward = 0.0, embeddingBackward = 0.0
    private var headForward = 0.0, headBackward = 0.0
    private var tpLayerForward = 0.0, tpLayerBackward = 0.0, cpLayerForward = 0.0, cpLayerBackward = 0.0
    private var tpEmbeddingForward = 0.0, tpEmbeddingBackward = 0.0, tpHeadForward = 0.0, tpHeadBackward = 0.0
    private var transferForward = 0.0, transferBackward = 0.0
    private var gatherLayer = 0.0, reduceLayer = 0.0, gatherEmbedding = 0.0, reduceEmbedding = 0.0
    /// Optimizer seconds per stage.
    private(set) var optimizer: [Double] = []

    init(job: TransformerJob, device: AcceleratorModel, efficiency: TransformerEfficiency, communication: any CommunicationModel) throws {
        self.job = job
        let model = job.model
        let p = job.parallelism
        let precision = job.precisions.compute
        let tp = Double(p.tp)
        let tokens = job.tokensPerGPUMicroBatch
        let d = Double(model.dimension)

        // Compute: matrix products, attention and element-wise traffic, each at its own efficiency.
        let matrixModel = ComputeModel(denseEfficiency: efficiency.matrix, memoryEfficiency: efficiency.memory)
        let attentionModel = ComputeModel(denseEfficiency: efficiency.attention, memoryEfficiency: efficiency.memory)
        func matrix(_ flops: Double) throws -> Double { try matrixModel.seconds(ComputeWork(flops: flops), on: device, precision: precision) }
        func attention(_ flops: Double) throws -> Double { try attentionModel.seconds(ComputeWork(flops: flops), on: device, precision: precision) }
        func streamed(_ bytes: Double) throws -> Double { try matrixModel.seconds(ComputeWork(streamedBytes: bytes), on: device, precision: precision) }
        let matrixForward = try matrix(model.layerForwardMatrixFLOPsPerToken * tokens / tp)
        let attentionForward = try attention(model.attentionForwardFLOPsPerToken(sequenceLength: model.sequenceLength) * tokens / tp)
        let elementwiseForward = try streamed(model.elementwiseForwardValuesPerToken * precision.bytes * tokens / tp)
        layerForward = matrixForward + attentionForward + elementwiseForward
        layerBackward = 2 * layerForward
        // The embedding is a lookup: write b·s/cp·d/tp values (and scatter as many gradients back).
        embeddingForward = try streamed(tokens * d / tp * precision.bytes)
        embeddingBackward = embeddingForward
        headForward = try matrix(model.headForwardFLOPsPerToken * tokens / tp)
        headBackward = 2 * headForward

        let n = Double(p.gpus)
        func run(
            _ dimension: ParallelDimension, _ operation: String, _ kind: Collective.Kind, _ groups: [[Int32]], bytes: Double, perStep: Double
        ) throws -> Double {
            let participants = groups.reduce(0) { $0 + ($1.count > 1 ? $1.count : 0) }
            guard participants > 0, bytes > 0 else { return 0 }
            let result = try communication.simulate(Collective(kind: kind, groups: groups, bufferBytes: [Double](repeating: bytes, count: groups.count)))
            collectives.append(TransformerStepResult.Collective(
                dimension: dimension, operation: operation, groups: groups.count, groupSize: groups.map(\.count).max() ?? 0,
                bufferBytes: bytes, seconds: result.seconds, perStep: perStep))
            arcBytes.append(result.arcBytes)
            levelBytes.append(result.bytesPerRankByLevel)
            participantShare.append(Double(participants) / n)
            return result.seconds
        }
        let layersPerStage = Double(model.layers) / Double(p.pp)
        let m = Double(job.microBatches)
        let forwardBytes = job.precisions.forwardCommunication.bytes
        let backwardBytes = job.precisions.backwardCommunication.bytes

        // TP with sequence parallelism: gathered buffers of b·s/cp·d values.
        let tpGroups = p.groups(.tp)
        let activation = tokens * d
        // Runs per step, averaged over the stages: per block and micro-batch 2 + 2 in the forward,
        // 4 gathers (2 re-gathers) and 2 reduce-scatters in the backward; the embedding and head add one each way.
        let blocks = layersPerStage * m
        let ends = m / Double(p.pp)
        let tpFirst = collectives.count
        let gatherForward = try run(.tp, "all-gather activations", .allGather, tpGroups, bytes: activation * forwardBytes, perStep: 2 * blocks + ends)
        let scatterForward = try run(.tp, "reduce-scatter activations", .reduceScatter, tpGroups, bytes: activation * forwardBytes, perStep: 2 * blocks + ends)
        let gatherBackward: Double
        let scatterBackward: Double
        if backwardBytes == forwardBytes {
            // Same buffers: the backward's runs are the forward's collectives again.
            (gatherBackward, scatterBackward) = (gatherForward, scatterForward)
            if collectives.count == tpFirst + 2 {
                collectives[tpFirst].perStep += 4 * blocks + ends
                collectives[tpFirst + 1].perStep += 2 * blocks + ends
            }
        } else {
            gatherBackward = try run(.tp, "all-gather gradients", .allGather, tpGroups, bytes: activation * backwardBytes, perStep: 4 * blocks + ends)
            scatterBackward = try run(.tp, "reduce-scatter gradients", .reduceScatter, tpGroups, bytes: activation * backwardBytes, perStep: 2 * blocks + ends)
        }
        // The re-gathers of the QKV and gate/up inputs overlap those products' input gradients.
        let qkvInputGradient = try matrix(2 * tokens * d * (d + 2 * Double(model.kvDimension)) / tp)
        let gateUpInputGradient = try matrix(2 * tokens * d * 2 * Double(model.ffnDimension) / tp)
        tpLayerForward = 2 * gatherForward + 2 * scatterForward
        tpLayerBackward = 2 * gatherBackward + 2 * scatterBackward
            + max(0, gatherForward - qkvInputGradient) + max(0, gatherForward - gateUpInputGradient)
        // Vocabulary-parallel embedding reduce-scatters into sequence shards; the head gathers them.
        tpEmbeddingForward = scatterForward
        tpEmbeddingBackward = gatherBackward
        tpHeadForward = gatherForward
        tpHeadBackward = scatterBackward

        // CP: all-gather K and V of the CP ranks' tokens; reduce-scatter their gradients.
        let cpGroups = p.groups(.cp)
        let keyValues = 2 * tokens * job.kvWidthPerTPRank * Double(p.cp)
        cpLayerForward = try run(.cp, "all-gather K and V", .allGather, cpGroups, bytes: keyValues * forwardBytes, perStep: blocks)
        cpLayerBackward = try run(.cp, "reduce-scatter K and V gradients", .reduceScatter, cpGroups, bytes: keyValues * backwardBytes, perStep: blocks)

        // PP: sequence-parallel activations between consecutive chunks. A collective's groups must be
        // disjoint, so the sends out of even and out of odd stages are costed as two sets; both run
        // at once, each direction of a link carrying one of them.
        let stageBoundaries = p.pp > 1 ? (job.interleave > 1 ? p.pp : p.pp - 1) : 0
        let pairs = (0..<2).map { parity in
            (0..<stageBoundaries).filter { $0 % 2 == parity }.flatMap { stage in
                p.groups(.pp).map { ranks in [ranks[stage], ranks[(stage + 1) % p.pp]] }
            }
        }
        let transfer = activation / tp
        let transferCalls = m * Double(job.interleave)
        transferForward = try pairs.map { try run(.pp, "send activations", .pointToPoint, $0, bytes: transfer * forwardBytes, perStep: transferCalls) }.max() ?? 0
        transferBackward = try pairs.map { try run(.pp, "send gradients", .pointToPoint, $0, bytes: transfer * backwardBytes, perStep: transferCalls) }.max() ?? 0

        // DP: FSDP over the CP·DP ranks holding the same weights.
        let shardGroups = p.groups(varying: [.cp, .dp])
        let weightBytes = precision.bytes
        let gradientBytes = job.precisions.gradientAllReduce.bytes
        gatherLayer = try run(.dp, "all-gather block weights", .allGather, shardGroups, bytes: model.layerParameters / tp * weightBytes, perStep: layersPerStage)
        reduceLayer = try run(.dp, "reduce-scatter block gradients", .reduceScatter, shardGroups, bytes: model.layerParameters / tp * gradientBytes, perStep: layersPerStage)
        // Embedding (first stage) and head (last stage): V·d/tp each, costed with those stages' groups.
        let endGroups = shardGroups.filter { group in
            let stage = p.coordinates(of: group[0]).pp
            return stage == 0 || stage == p.pp - 1
        }
        let endRuns = p.pp == 1 ? 2.0 : 1
        gatherEmbedding = try run(.dp, "all-gather embedding/head", .allGather, endGroups, bytes: model.embeddingParameters / tp * weightBytes, perStep: endRuns)
        reduceEmbedding = try run(.dp, "reduce-scatter embedding/head", .reduceScatter, endGroups, bytes: model.embeddingParameters / tp * gradientBytes, perStep: endRuns)

        // Optimizer: read master, states and gradient, write master and states (FP32), write the weights.
        let states = job.optimizer.stateValuesPerParameter
        let bytesPerParameter = 4 * (3 + 2 * states) + weightBytes
        optimizer = try (0..<p.pp).map { stage in
            try streamed(job.stageParameters(stage) / (tp * Double(p.cp * p.dp)) * bytesPerParameter)
        }
    }

    /// The pipeline with the communication of the `free` dimensions costing nothing.
    func pipeline(free: Set<ParallelDimension>) -> TransformerPipeline {
        let p = job.parallelism
        let tp = free.contains(.tp) ? 0.0 : 1
        let cp = free.contains(.cp) ? 0.0 : 1
        let dp = free.contains(.dp) ? 0.0 : 1
        let layerF = layerForward + tp * tpLayerForward + cp * cpLayerForward
        let layerB = layerBackward + tp * tpLayerBackward + cp * cpLayerBackward
        let chunkCount = p.pp * job.interleave
        let chunks = (0..<chunkCount).map { g in
            let layers = job.chunkLayers[g]
            var chunk = TransformerPipeline.Chunk(
                forward: [Double](repeating: layerF, count: layers), backward: [Double](repeating: layerB, count: layers),
                gather: [Double](repeating: dp * gatherLayer, count: layers), reduce: [Double](repeating: dp * reduceLayer, count: layers))
            if g == 0 {
                chunk.forward.insert(embeddingForward + tp * tpEmbeddingForward, at: 0)
                chunk.backward.insert(embeddingBackward + tp * tpEmbeddingBackward, at: 0)
                chunk.gather.insert(dp * gatherEmbedding, at: 0)
                chunk.reduce.insert(dp * reduceEmbedding, at: 0)
            }
            if g == chunkCount - 1 {
                chunk.forward.append(headForward + tp * tpHeadForward)
                chunk.backward.append(headBackward + tp * tpHeadBackward)
                chunk.gather.append(dp * gatherEmbedding)
                chunk.reduce.append(dp * reduceEmbedding)
            }
            return chunk
        }
        let pp = free.contains(.pp) ? 0.0 : 1
        return TransformerPipeline(
            stages: p.pp, interleave: job.interleave, microBatches: job.microBatches, chunks: chunks,
            transferForward: pp * transferForward, transferBackward: pp * transferBackward, optimizer: optimizer)
    }

    /// Bytes on each arc over one step: every collective's arcs times its runs per step.
    func arcBytesPerStep() -> [Int32: Double] {
        var total: [Int32: Double] = [:]
        for (index, bytes) in arcBytes.enumerated() {
            let runs = collectives[index].perStep
            total.merge(bytes.mapValues { $0 * runs }, uniquingKeysWith: +)
        }
        return total
    }

    /// Bytes per GPU (over all the job's GPUs) crossing each level's boundary in one step.
    func bytesPerGPUByLevel() -> [String: Double] {
        var total: [String: Double] = [:]
        for (index, levels) in levelBytes.enumerated() {
            let scale = collectives[index].perStep * participantShare[index]
            total.merge(levels.mapValues { $0 * scale }, uniquingKeysWith: +)
        }
        return total
    }
}
