import Partitioning
import Simulation

/// The propose stage: the order in which feasible candidates are offered (TorchRec's `Proposer`).
/// The planner walks it, applies the quality guard, and takes the first tower plan that passes.
public protocol PlanProposer: Sendable {
    /// Indices into `evaluations` of the feasible ones, most preferred first.
    func order(_ evaluations: [PlanEvaluation]) -> [Int]
}

/// Fastest simulated step first. Candidates within `tieTolerance` of each other's step time are
/// ordered by captured affinity (more of the learned interactions kept inside towers is better
/// model quality at no measurable cost), then by enumeration order, so the result is deterministic.
///
/// The tie rule compares each candidate with the fastest of its tie group, so a long run of
/// near-equal candidates cannot chain into a slow one. Cost: O(n log n).
public struct FastestFirstProposer: PlanProposer {
    /// Relative step-time difference treated as a tie (0.005 = 0.5 %): well inside the simulator's
    /// own uncertainty (its compute efficiencies are uncalibrated assumptions).
    public var tieTolerance: Double

    public static let defaultTieTolerance = 0.005

    public init(tieTolerance: Double = defaultTieTolerance) {
        self.tieTolerance = tieTolerance
    }

    public func order(_ evaluations: [PlanEvaluation]) -> [Int] {
        let feasible = evaluations.indices.filter { evaluations[$0].isFeasible }
            .sorted { (evaluations[$0].stepSeconds ?? 0, $0) < (evaluations[$1].stepSeconds ?? 0, $1) }
        var result: [Int] = []
        var start = 0
        while start < feasible.count {
            let fastest = evaluations[feasible[start]].stepSeconds ?? 0
            var end = start
            while end < feasible.count, (evaluations[feasible[end]].stepSeconds ?? 0) <= fastest * (1 + tieTolerance) { end += 1 }
            result += feasible[start..<end].sorted { a, b in
                let (x, y) = (Self.captured(evaluations[a]), Self.captured(evaluations[b]))
                return x != y ? x > y : a < b
            }
            start = end
        }
        return result
    }

    /// Captured affinity of a tower plan (0 without an affinity or for flat layouts, which have
    /// no towers to keep interactions in).
    static func captured(_ evaluation: PlanEvaluation) -> Double {
        evaluation.partition?.metrics.capturedAffinity ?? 0
    }
}

/// The optional quality guard: a short real training of a candidate against flat, on the
/// workload's CPU proxy. A candidate whose held-out AUC falls more than `tolerance` below flat's
/// is rejected.
public protocol QualityGuard: Sendable {
    var tolerance: Double { get }
    /// Held-out AUC of the flat model trained the same way as the candidates.
    func baselineAUC() throws -> Double
    /// Held-out AUC of the towers of `partition` with tower modules compressing by `compression`
    /// (nil: the workload's own).
    func auc(towers partition: ResolvedPartition, compression: Double?) throws -> Double
}
