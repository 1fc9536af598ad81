import Topology
import Workload

/// Searches the TP × CP × PP × DP factorizations of a transformer job (and the pipeline's
/// interleave) for the fastest one that fits in device memory: the search `towerplan plan` runs
/// for a transformer workload.
///
/// Candidates: tp a power of two up to one host's GPUs (TP outside NVLink is never competitive
/// and the layout keeps groups host-aligned only then), cp a power of two with the sequence
/// splitting into 2·cp chunks, pp a divisor of the GPU count up to the layer count, dp the rest,
/// and each interleave V given. Each is checked by `TransformerJob` (divisibility) and
/// `TransformerMemory` (weights, gradients, optimizer state, activations; formulas there) before it
/// is simulated, so only fitting candidates cost a step simulation (about a dozen collective
/// costings each). Cost: O(candidates) step simulations; tens for Llama 3 405B on 16,384 GPUs.
public enum TransformerPlanSearch {
    /// One factorization and what became of it.
    public struct Candidate: Sendable {
        public let parallelism: TransformerParallelism
        public let interleave: Int
        /// Micro-batches per replica, when the factorization could be bound to the workload.
        public let microBatches: Int?
        /// Peak memory per GPU, when the factorization could be bound.
        public let memory: TransformerMemory?
        /// The simulated step, for candidates that fit.
        public let result: TransformerStepResult?
        /// Why it was refused, or a one-line summary of the step when it fits.
        public let reason: String

        public var fits: Bool { result != nil }
        public var stepSeconds: Double? { result?.stepSeconds }
    }

    /// Factorizations of `gpus` GPUs (default: every GPU of the cluster) for `workload`, fastest
    /// first; the refused ones follow, each with its reason (memory first, then divisibility).
    /// - Throws: when the workload is not a transformer, or `gpus` exceeds the cluster.
    public static func rank(
        workload: Workload, cluster: Cluster, gpus: Int? = nil, sequenceLength: Int? = nil, interleaves: [Int] = [1, 2, 4],
        communication: (any CommunicationModel)? = nil, efficiency: TransformerEfficiency = TransformerEfficiency()
    ) throws -> [Candidate] {
        guard let model = workload.transformer else {
            throw SimulationError("workload '\(workload.name)' is a \(workload.kindName) model; the transformer plan search needs a <transformer> workload")
        }
        let total = gpus ?? cluster.accelerators.count
        guard total >= 1, total <= cluster.accelerators.count else {
            throw SimulationError("cannot plan for \(total) GPUs on cluster \(cluster.name), which has \(cluster.accelerators.count)")
        }
        let stepModel = TransformerStepModel(communication: communication ?? AggregatedCommunicationModel.best(for: cluster), efficiency: efficiency)
        let hostGPUs = cluster.domains[Int(cluster.devices[Int(cluster.accelerators[0])].domain)].accelerators.count
        let sequence = sequenceLength ?? model.sequenceLength
        let powers = (0..<31).map { 1 << $0 }
        var fitting: [Candidate] = []
        var refused: [(order: Int, candidate: Candidate)] = []
        for tp in powers where tp <= hostGPUs && total % tp == 0 {
            for cp in powers where total % (tp * cp) == 0 && (cp == 1 || sequence % (2 * cp) == 0) {
                for pp in 1...min(model.layers, total / (tp * cp)) where total % (tp * cp * pp) == 0 {
                    let parallelism = TransformerParallelism(tp: tp, cp: cp, pp: pp, dp: total / (tp * cp * pp))
                    for interleave in interleaves where pp > 1 || interleave == 1 {
                        let job: TransformerJob
                        do {
                            job = try TransformerJob(workload: workload, parallelism: parallelism, sequenceLength: sequenceLength, interleave: interleave)
                        } catch {
                            refused.append((2, Candidate(
                                parallelism: parallelism, interleave: interleave, microBatches: nil, memory: nil, result: nil, reason: error.message)))
                            continue
                        }
                        let memory = TransformerMemory.peak(of: job)
                        do {
                            let result = try stepModel.simulate(job)
                            fitting.append(Candidate(
                                parallelism: parallelism, interleave: interleave, microBatches: job.microBatches, memory: memory, result: result,
                                reason: "fits (\(Units.formatBytes(memory.totalBytes)) of \(Units.formatBytes(result.memoryCapacity)) per GPU); "
                                    + "step \(Units.formatDuration(result.stepSeconds)), MFU \(String(format: "%.1f%%", result.mfu * 100))"))
                        } catch let error as SimulationError {
                            refused.append((1, Candidate(
                                parallelism: parallelism, interleave: interleave, microBatches: job.microBatches, memory: memory, result: nil,
                                reason: error.message)))
                        }
                    }
                }
            }
        }
        fitting.sort { ($0.stepSeconds ?? 0, $0.parallelism.description) < ($1.stepSeconds ?? 0, $1.parallelism.description) }
        return fitting + refused.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.element.candidate)
    }
}
