import Workload

/// A transformer workload bound to a factorization and a pipeline schedule: everything the step
/// model and the memory check need, checked once.
///
/// The global batch stays what the workload says, in tokens (the Llama 3 paper keeps 16M tokens at
/// 8K and at 128K sequences); a sequence-length override changes how many sequences that is.
/// Each DP replica takes sequences / dp of them, in M micro-batches of b sequences.
public struct TransformerJob: Sendable, Hashable {
    public let name: String
    /// The model, with the sequence length this job trains at.
    public let model: TransformerModel
    public let precisions: Precisions
    public let optimizer: DenseOptimizer
    public let parallelism: TransformerParallelism
    /// Chunks (virtual pipeline stages) per stage, V.
    public let interleave: Int
    /// Micro-batches per replica per step, M.
    public let microBatches: Int
    /// Sequences per micro-batch, b.
    public let microBatchSequences: Int
    /// Transformer blocks in each chunk g = v·PP + p (see `layerLayout`).
    public let chunkLayers: [Int]

    /// Binds `workload` to a factorization. `sequenceLength` overrides the file's; `microBatches`
    /// overrides the file's micro-batch size (`micro-batch`, default 1 sequence).
    /// - Throws: when the workload is not a transformer, or a size does not divide what it splits.
    public init(
        workload: Workload, parallelism: TransformerParallelism, sequenceLength: Int? = nil, microBatches: Int? = nil, interleave: Int = 1
    ) throws(SimulationError) {
        guard var model = workload.transformer else {
            throw SimulationError(
                "workload '\(workload.name)' is a \(workload.kindName) model; the 4D (tp, cp, pp, dp) step model needs a <transformer> workload")
        }
        let p = parallelism
        if let sequenceLength {
            guard sequenceLength >= 1 else { throw SimulationError("the sequence length must be at least 1, got \(sequenceLength)") }
            guard model.globalBatchTokens % sequenceLength == 0 else {
                throw SimulationError(
                    "the global batch of \(model.globalBatchTokens) tokens is not a whole number of \(sequenceLength)-token sequences; pick a sequence length that divides it")
            }
            model.sequenceLength = sequenceLength
        }
        let sequences = model.globalBatchSequences
        guard sequences % p.dp == 0 else {
            throw SimulationError("the global batch of \(sequences) sequences of \(model.sequenceLength) tokens does not split over dp=\(p.dp) replicas; pick a dp that divides \(sequences)")
        }
        let perReplica = sequences / p.dp
        let b: Int
        let m: Int
        if let microBatches {
            guard microBatches >= 1, perReplica % microBatches == 0 else {
                throw SimulationError("each replica has \(perReplica) sequences per step, which do not split into \(microBatches) micro-batches; pick a divisor of \(perReplica)")
            }
            m = microBatches
            b = perReplica / microBatches
        } else {
            b = workload.training.batchPerGPU
            guard perReplica % b == 0 else {
                throw SimulationError("each replica has \(perReplica) sequences per step, not a multiple of the workload's micro-batch of \(b) sequences; set --micro-batches or change micro-batch")
            }
            m = perReplica / b
        }
        guard interleave >= 1 else { throw SimulationError("--interleave must be at least 1, got \(interleave)") }
        guard p.pp * interleave <= model.layers else {
            throw SimulationError("pp·interleave = \(p.pp * interleave) chunks for \(model.layers) layers: every chunk needs a layer; lower pp or interleave")
        }
        if interleave > 1 && m % p.pp != 0 {
            throw SimulationError(
                "the interleaved schedule needs the micro-batches (\(m)) to be a multiple of pp (\(p.pp)), as Megatron-LM's does; change --micro-batches or use --interleave 1")
        }
        guard model.heads % p.tp == 0, model.ffnDimension % p.tp == 0 else {
            throw SimulationError("tp=\(p.tp) must divide the \(model.heads) heads and the FFN dimension \(model.ffnDimension)")
        }
        guard model.kvHeads % p.tp == 0 || p.tp % model.kvHeads == 0 else {
            throw SimulationError("tp=\(p.tp) and the \(model.kvHeads) KV heads: one must divide the other (KV heads are split, or replicated when tp exceeds them)")
        }
        if p.cp > 1 && model.sequenceLength % (2 * p.cp) != 0 {
            throw SimulationError(
                "cp=\(p.cp) splits each sequence into 2·cp = \(2 * p.cp) chunks (Llama 3's load-balanced causal split); \(model.sequenceLength) tokens do not divide")
        }
        name = workload.name
        self.model = model
        precisions = workload.training.precisions
        optimizer = workload.training.denseOptimizer
        self.parallelism = parallelism
        self.interleave = interleave
        self.microBatches = m
        microBatchSequences = b
        chunkLayers = Self.layerLayout(layers: model.layers, chunks: p.pp * interleave)
    }

    /// Blocks per chunk: L + 2 slots (the embedding and the head each count as one) spread evenly
    /// over the chunks, so the first and last chunk carry one block fewer — what Llama 3 does with
    /// 126 layers on 16 stages (§3.3.2: 7, 8, …, 8, 7). Slots left over go to the middle chunks first.
    static func layerLayout(layers: Int, chunks: Int) -> [Int] {
        let slots = layers + 2
        var counts = [Int](repeating: slots / chunks, count: chunks)
        let receivers = chunks > 2 ? Array(1..<(chunks - 1)) + [0, chunks - 1] : Array(0..<chunks)
        for index in receivers.prefix(slots % chunks) { counts[index] += 1 }
        counts[0] -= 1
        counts[chunks - 1] -= 1
        return counts
    }

    /// GPUs the job uses.
    public var gpus: Int { parallelism.gpus }
    /// Tokens one GPU's micro-batch holds: b·s / cp.
    public var tokensPerGPUMicroBatch: Double { Double(microBatchSequences * model.sequenceLength) / Double(parallelism.cp) }
    /// Blocks on stage p (over its V chunks).
    public func stageLayers(_ p: Int) -> Int { (0..<interleave).reduce(0) { $0 + chunkLayers[$1 * parallelism.pp + p] } }
    /// Weights on stage p: its blocks, plus the embedding on the first stage and the head and
    /// final norm on the last.
    public func stageParameters(_ p: Int) -> Double {
        var parameters = Double(stageLayers(p)) * model.layerParameters
        if p == 0 { parameters += model.embeddingParameters }
        if p == parallelism.pp - 1 { parameters += model.embeddingParameters + Double(model.dimension) }
        return parameters
    }
    /// K and V values one TP rank holds per token: kvDimension / min(tp, kvHeads) (heads are
    /// replicated when tp exceeds them).
    var kvWidthPerTPRank: Double { Double(model.kvDimension) / Double(min(parallelism.tp, model.kvHeads)) }
}
