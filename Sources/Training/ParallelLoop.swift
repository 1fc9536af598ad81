import COpenBLAS
import Dispatch

/// How many CPU threads the engine uses, for BLAS and for its own element-wise loops.
///
/// Why one value for both: OpenBLAS keeps a process-wide thread pool, so the setting is
/// global there anyway; the engine's own loops split their work into exactly `threads`
/// contiguous chunks with `DispatchQueue.concurrentPerform`. Every split loop writes disjoint
/// outputs and sums in a fixed order inside its chunk, so results never depend on scheduling,
/// and loops that reduce across samples (bias gradients) split over the reduced values' columns,
/// never over samples — a run is bit-identical for a given thread count and the 1-thread run is
/// fully reproducible.
public struct ComputeThreads: Sendable, Hashable {
    public let count: Int

    /// `count` threads (at least 1). Sets OpenBLAS's thread count as a side effect.
    public init(_ count: Int) {
        precondition(count >= 1, "threads must be at least 1")
        self.count = count
        openblas_set_num_threads(Int32(count))
    }

    /// Single-threaded, without touching OpenBLAS's setting (for layers built in isolation).
    public static let single = ComputeThreads(unchecked: 1)

    private init(unchecked count: Int) { self.count = count }

    /// Runs `body` over `0 ..< total` cut into at most `count` contiguous ranges, concurrently.
    /// Work below `minimumPerThread` items per thread runs inline: waking threads costs a few
    /// microseconds, more than a small loop.
    ///
    /// `body` is not `@Sendable`: it captures the layer and raw buffers. That is sound here
    /// because every caller's ranges write disjoint memory and `concurrentPerform` returns only
    /// after every chunk has finished, so nothing outlives or races the call.
    func forEachRange(_ total: Int, minimumPerThread: Int = 32, _ body: (Range<Int>) -> Void) {
        let chunks = min(count, total / max(minimumPerThread, 1))
        guard chunks > 1 else {
            if total > 0 { body(0 ..< total) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                work.value(total * chunk / chunks ..< total * (chunk + 1) / chunks)
            }
        }
    }
}

/// Carries a value across a `@Sendable` boundary the compiler cannot see is safe (see
/// `ComputeThreads.forEachRange`).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
