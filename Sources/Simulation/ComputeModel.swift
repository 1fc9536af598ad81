import Topology
import Workload

/// What one GPU does in one compute task, in the units a roofline needs.
public struct ComputeWork: Sendable, Hashable {
    /// Floating-point operations (a multiply-add counts 2, as in `MLP`) of the MLPs and every
    /// other dense layer outside the feature interactions.
    public var flops: Double
    /// FLOPs of the feature-interaction layers: the over-arch's interaction and the tower modules.
    /// They are many small products (batched n×n Gram matrices, thin projections to d_t) that run
    /// well below the MLPs' GEMM rate, so a calibrated device may list their own measured rate
    /// (`AcceleratorModel.interactionFLOPS`); without one they count like `flops`.
    public var interactionFlops: Double
    /// Bytes moved through device memory in long sequential streams: weights, activations,
    /// whole-table optimizer sweeps.
    public var streamedBytes: Double
    /// Bytes moved row by row at data-dependent addresses by embedding lookups (forward gathers).
    public var gatheredBytes: Double
    /// Bytes the sparse backward moves row by row: every id's gradient row read, every touched row
    /// read and written with its optimizer state. Kept apart from gathers because the backward's
    /// per-id accumulation and read-modify-write of rows run slower per byte than the forward's
    /// reads (much slower on a CPU); charged at a measured `AcceleratorModel.scatterBandwidth`
    /// where there is one, else like gathered bytes.
    public var scatteredBytes: Double

    public init(flops: Double = 0, interactionFlops: Double = 0, streamedBytes: Double = 0, gatheredBytes: Double = 0, scatteredBytes: Double = 0) {
        self.flops = flops
        self.interactionFlops = interactionFlops
        self.streamedBytes = streamedBytes
        self.gatheredBytes = gatheredBytes
        self.scatteredBytes = scatteredBytes
    }

    public static let zero = ComputeWork()

    public var isZero: Bool { flops == 0 && interactionFlops == 0 && streamedBytes == 0 && gatheredBytes == 0 && scatteredBytes == 0 }

    /// All floating-point operations, of either kind.
    public var totalFlops: Double { flops + interactionFlops }

    public static func + (a: ComputeWork, b: ComputeWork) -> ComputeWork {
        ComputeWork(
            flops: a.flops + b.flops, interactionFlops: a.interactionFlops + b.interactionFlops, streamedBytes: a.streamedBytes + b.streamedBytes,
            gatheredBytes: a.gatheredBytes + b.gatheredBytes, scatteredBytes: a.scatteredBytes + b.scatteredBytes)
    }
}

/// Per-device roofline: a task takes as long as its slower resource, arithmetic or memory.
///
///     seconds = max(flops / (peak(precision) · denseEfficiency) + interaction / interactionRate,
///                   streamed / (memoryBandwidth · memoryEfficiency) + gathered / gatherRate
///                   + scattered / scatterRate)
///     gatherRate = the model's measured gatherBandwidth, else memoryBandwidth · gatherEfficiency
///     scatterRate = the model's measured scatterBandwidth, else gatherRate
///     interactionRate = the model's measured interactionFLOPS, else peak(precision) · denseEfficiency
///
/// Streamed and gathered bytes add up because they share the same HBM; arithmetic overlaps with
/// memory traffic, as it does inside a well-pipelined kernel (for CPU ranks, whose layers make
/// separate passes, `overlapsArithmeticWithMemory` false adds the two instead of taking the max). What is left out: kernel launch
/// latency (a few µs per kernel, which dominates tiny batches), cache reuse, and SM time taken by
/// communication kernels running concurrently. The three efficiencies are **assumptions awaiting
/// calibration** against measured runs; each default below says where it comes from.
public struct ComputeModel: Sendable, Hashable {
    /// Fraction of the tensor-core (or FP32) peak that dense layers reach. Default 0.6: cuBLAS
    /// GEMMs at DLRM MLP shapes (batch 10³–10⁴, widths 256–4096) run at roughly 60–70 % of peak on
    /// A100/H100 in NVIDIA's published GEMM benchmarks; smaller shapes do worse. The low end is
    /// taken because the interaction's batched products are smaller than the MLPs' GEMMs.
    public var denseEfficiency: Double
    /// Fraction of HBM bandwidth that sequential streams reach. Default 0.8: STREAM-like kernels
    /// (BabelStream triad) reach 80–90 % of the datasheet bandwidth on A100 and H100.
    public var memoryEfficiency: Double
    /// Fraction of HBM bandwidth that embedding gathers reach, for devices whose model gives no
    /// measured `gatherBandwidth` (which is used as it is). Default 0.5: rows of 64–512 bytes
    /// at random addresses waste part of each DRAM burst and defeat prefetching; FBGEMM's
    /// table-batched embedding kernels are reported at about half the HBM bandwidth at these row sizes.
    public var gatherEfficiency: Double
    /// Whether a task's arithmetic hides its memory traffic (the roofline's max, true: fused GPU
    /// kernels) or the two add up (false: a CPU layer runs its GEMM, then its bias, activation and
    /// interaction loops as separate passes over memory, as towerplan's own trainer does).
    public var overlapsArithmeticWithMemory: Bool

    public init(denseEfficiency: Double = 0.6, memoryEfficiency: Double = 0.8, gatherEfficiency: Double = 0.5, overlapsArithmeticWithMemory: Bool = true) {
        self.denseEfficiency = denseEfficiency
        self.memoryEfficiency = memoryEfficiency
        self.gatherEfficiency = gatherEfficiency
        self.overlapsArithmeticWithMemory = overlapsArithmeticWithMemory
    }

    /// Seconds `work` takes on a device of `model` computing in `precision`. Work without FLOPs
    /// needs no peak, so a memory-only task never fails on a device that lists none.
    public func seconds(_ work: ComputeWork, on model: AcceleratorModel, precision: NumericFormat) throws(SimulationError) -> Double {
        let gatherRate = model.gatherBandwidth ?? model.memoryBandwidth * gatherEfficiency
        let memory = work.streamedBytes / (model.memoryBandwidth * memoryEfficiency) + work.gatheredBytes / gatherRate
            + work.scatteredBytes / (model.scatterBandwidth ?? gatherRate)
        guard work.totalFlops > 0 else { return memory }
        guard let format = Precision(rawValue: precision.rawValue), let peak = model.peak(format) else {
            throw SimulationError(
                "accelerator model '\(model.id)' lists no \(precision.rawValue) peak (nor a wider format to fall back on); add <peak precision=\"\(precision.rawValue)\" …/> to it or change the workload's compute precision")
        }
        let arithmetic = work.flops / (peak * denseEfficiency) + work.interactionFlops / (model.interactionFLOPS ?? peak * denseEfficiency)
        return overlapsArithmeticWithMemory ? max(arithmetic, memory) : arithmetic + memory
    }
}
