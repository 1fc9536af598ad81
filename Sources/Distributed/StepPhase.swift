import Glibc

/// The phases of one distributed training step, in execution order, named as the simulator names
/// its stages (`StepPlan`; `init(simulatorStage:)` maps them) so that measured and predicted
/// times can be set side by side. With SPTT, the ids and pooled all-to-alls, the embedding
/// gradients all-to-all and the tower all-reduce run inside the tower's domain.
/// A collective's phase includes the wait for the slowest rank to arrive: that is what the step pays.
public enum StepPhase: String, CaseIterable, Sendable, Codable {
    case idsPeerAllToAll = "input dist: ids peer all-to-all"
    case idsAllToAll = "input dist: ids all-to-all"
    case lookup = "embedding lookup"
    case pooledAllToAll = "output dist: pooled embeddings all-to-all"
    case towerForward = "tower module forward"
    case towerOutputsPeerAllToAll = "tower outputs peer all-to-all"
    case denseForward = "bottom MLP + interaction + top MLP forward"
    case denseBackward = "interaction + top MLP + bottom MLP backward"
    case towerGradientsPeerAllToAll = "tower output gradients peer all-to-all"
    case towerBackward = "tower module backward"
    case embeddingGradientsAllToAll = "embedding gradients all-to-all"
    case embeddingUpdate = "embedding backward + optimizer"
    case towerAllReduce = "tower module gradient all-reduce"
    case denseAllReduce = "dense gradient all-reduce"
    case denseOptimizer = "dense optimizer"
}

/// Seconds spent per phase (accumulated over the steps measured).
public struct PhaseTimes: Sendable, Hashable, Codable {
    /// Indexed like `StepPhase.allCases`, so that ranks reduce them in one all-reduce.
    public private(set) var seconds: [Double]

    public init() {
        seconds = Array(repeating: 0, count: StepPhase.allCases.count)
    }

    public subscript(phase: StepPhase) -> Double {
        get { seconds[Self.index(phase)] }
        set { seconds[Self.index(phase)] = newValue }
    }

    private static func index(_ phase: StepPhase) -> Int {
        StepPhase.allCases.firstIndex(of: phase)!
    }
}

/// Accumulates wall-clock time per phase on a monotonic clock, and the CPU time the process
/// spent in it (all its threads, user and system: compute, MPI's polling, the kernel's network
/// stack), which shows where a rank that shares its core waited and where it worked. A class so
/// that the parts of a step (the lookup, the peer exchange, the network) share one. Cost per
/// measurement: two monotonic reads (tens of ns) and two process CPU clock reads (system calls,
/// under a µs each).
final class PhaseClock {
    var times = PhaseTimes()
    var cpuTimes = PhaseTimes()
    private let clock = ContinuousClock()

    /// Runs `body`, adding its duration and CPU time to `phase`.
    func measure<Result, Failure: Error>(_ phase: StepPhase, _ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        let start = clock.now, cpuStart = Self.processCPUSeconds()
        defer {
            times[phase] += Self.seconds(clock.now - start)
            cpuTimes[phase] += Self.processCPUSeconds() - cpuStart
        }
        return try body()
    }

    /// CPU seconds this process has used, all threads (`CLOCK_PROCESS_CPUTIME_ID`).
    static func processCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    /// Runs the collective `body`, adding its duration to `phase` and reporting an MPI failure
    /// as `DistributedError.mpi`.
    func collective<Result>(_ phase: StepPhase, _ body: () throws(MPIError) -> Result) throws(DistributedError) -> Result {
        try measure(phase) { () throws(DistributedError) in
            do throws(MPIError) { return try body() } catch { throw .mpi(error) }
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}
