import Topology
import Workload

/// Device memory one GPU of a stage needs for a transformer job, the way Llama 3 trains
/// (§3.3.2): FSDP shards optimizer state over the CP·DP ranks of a stage but keeps the stage's
/// weights gathered through the step (no resharding after the forward), gradients accumulate in
/// FP32 over the micro-batches, and activations are kept, not recomputed.
///
/// - Formulas, per GPU of stage p with P_p = its parameters (`TransformerJob.stageParameters`):
///   - weights: P_p / tp · bytes(compute format);
///   - gradients: P_p / tp · bytes(gradient format) (FP32 in Llama 3);
///   - optimizer: P_p / (tp · cp · dp) · 4 · (1 + states) — an FP32 master copy and the optimizer's
///     FP32 state (Adam: 2 moments, 12 bytes per parameter);
///   - activations: `TransformerModel.storedActivationValuesPerToken` · bytes(compute) per block and
///     token, divided by tp (sequence parallelism shards the rest), times the tokens of a GPU's
///     micro-batch (b·s/cp), times the blocks and micro-batches in flight on the stage at the peak of
///     1F1B: min(M, PP − p) micro-batches of all its blocks without interleaving; with it,
///     min(M·V, 2·(PP − p − 1) + (V − 1)·PP + 1) chunk forwards of about L_p / V blocks each
///     (Korthikanti et al. 2022 §4.2.3: stage 0 holds about L·(1 + (PP − 1)/(PP·V)) blocks' worth);
///   - logits: on the last stage, b·s/cp tokens × V/tp vocabulary entries in FP32 for the loss.
/// - Not counted: the CUDA context, library workspaces, allocator fragmentation and communication
///   buffers (a few GB on a real run), so "fits" here is a necessary condition, not a sufficient one.
public struct TransformerMemory: Sendable, Hashable, Codable {
    public var weightBytes: Double
    public var gradientBytes: Double
    public var optimizerBytes: Double
    public var activationBytes: Double
    public var logitBytes: Double
    /// The stage these numbers are for (the one that needs the most).
    public var stage: Int

    public var totalBytes: Double { weightBytes + gradientBytes + optimizerBytes + activationBytes + logitBytes }

    /// The needs of every stage's GPUs.
    public static func stages(of job: TransformerJob) -> [TransformerMemory] {
        let p = job.parallelism
        let model = job.model
        let compute = job.precisions.compute.bytes
        let tokens = job.tokensPerGPUMicroBatch
        let perBlock = model.storedActivationValuesPerToken * compute / Double(p.tp) * tokens
        return (0..<p.pp).map { stage in
            let parameters = job.stageParameters(stage) / Double(p.tp)
            let blocks = Double(job.stageLayers(stage))
            let inFlight: Double
            if job.interleave == 1 {
                inFlight = Double(min(job.microBatches, p.pp - stage)) * blocks
            } else {
                let chunks = min(job.microBatches * job.interleave, 2 * (p.pp - stage - 1) + (job.interleave - 1) * p.pp + 1)
                inFlight = Double(chunks) * blocks / Double(job.interleave)
            }
            let states = job.optimizer.stateValuesPerParameter
            return TransformerMemory(
                weightBytes: parameters * compute,
                gradientBytes: parameters * job.precisions.gradientAllReduce.bytes,
                optimizerBytes: parameters / Double(p.cp * p.dp) * 4 * (1 + states),
                activationBytes: inFlight * perBlock,
                logitBytes: stage == p.pp - 1 ? tokens * Double(model.vocabulary) / Double(p.tp) * 4 : 0,
                stage: stage)
        }
    }

    /// The stage that needs the most memory.
    public static func peak(of job: TransformerJob) -> TransformerMemory {
        stages(of: job).max { $0.totalBytes < $1.totalBytes }!
    }

    /// Throws when the peak does not fit in `capacity` bytes, saying by how much and what it is made of.
    public func check(capacity: Double, device: String) throws(SimulationError) {
        guard totalBytes > capacity else { return }
        throw SimulationError(
            "stage \(stage) needs \(Units.formatBytes(totalBytes)) per GPU but a \(device) has \(Units.formatBytes(capacity)): "
                + "weights \(Units.formatBytes(weightBytes)), gradients \(Units.formatBytes(gradientBytes)), optimizer \(Units.formatBytes(optimizerBytes)), "
                + "activations \(Units.formatBytes(activationBytes)), logits \(Units.formatBytes(logitBytes)); "
                + "raise tp or pp, lower the micro-batch or --interleave, or add cp")
    }
}
