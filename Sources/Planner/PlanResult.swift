import Partitioning
import Simulation
import Workload

/// Why a candidate cannot be used at all.
public enum Rejection: Sendable, Hashable, CustomStringConvertible {
    /// Tables and optimizer state do not fit the GPUs or domains that would hold them.
    case overMemory(String)
    /// No partition meets the balance bound (a feature too heavy, or none found within it).
    case imbalance(String)
    /// Short training of the candidate lost more AUC against flat than allowed.
    case aucGuard(auc: Double, baseline: Double, tolerance: Double)
    /// Any other reason the layout cannot be built (the simulator's words).
    case infeasible(String)

    /// The simulator's errors: the memory checks of `Simulation` are the only ones that say "short
    /// by" (how many bytes are missing), so that phrase marks a memory rejection.
    init(simulationError error: any Error) {
        let message = "\(error)"
        self = message.contains("short by") ? .overMemory(message) : .infeasible(message)
    }

    init(partitionError error: TowerPartitionError) {
        switch error {
        case .doesNotFit: self = .overMemory(error.description)
        case .featureTooHeavy, .boundNotMet, .moreTowersThanFeatures: self = .imbalance(error.description)
        case .invalidProblem, .missingInput, .moreTowersThanDomains: self = .infeasible(error.description)
        }
    }

    /// A short label for tables: "over memory", "imbalance bound", "AUC guard", "infeasible".
    public var kind: String {
        switch self {
        case .overMemory: "over memory"
        case .imbalance: "imbalance bound"
        case .aucGuard: "AUC guard"
        case .infeasible: "infeasible"
        }
    }

    public var description: String {
        switch self {
        case .overMemory(let message), .imbalance(let message), .infeasible(let message):
            return "\(kind): \(message)"
        case .aucGuard(let auc, let baseline, let tolerance):
            return String(format: "AUC guard: short-training AUC %.4f is %.4f below flat's %.4f (tolerance %.4f)", auc, baseline - auc, baseline, tolerance)
        }
    }
}

/// One candidate after the estimate stage: its partition and simulated step, or why it has none.
public struct PlanEvaluation: Sendable {
    public let layout: PlanLayout
    /// Towers only: the features of each tower and their domains, with balance and affinity metrics.
    public let partition: WorkloadPartition?
    public let step: StepResult?
    public internal(set) var rejection: Rejection?
    /// Held-out AUC of the candidate's short training, when the AUC guard checked it.
    public internal(set) var auc: Double?

    /// Seconds per step; nil when rejected before simulation.
    public var stepSeconds: Double? { step?.stepSeconds }
    public var isFeasible: Bool { rejection == nil && step != nil }
}

/// A candidate in the final order, with why it is where it is.
public struct RankedPlan: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// The fastest DMT plan that meets every constraint.
        case best
        /// The fastest flat layout: what the best plan is measured against.
        case baseline
        /// Feasible, but `fraction` slower than the best plan (0.05 = 5 %); a flat layout may be
        /// faster (negative) when DMT does not pay on the cluster.
        case slower(fraction: Double)
        /// As fast as the best within the tie tolerance, but ranked after it because it keeps less
        /// of the learned affinity inside towers.
        case lessAffinity(fraction: Double, captured: Double, best: Double)
        case rejected(Rejection)
    }

    public let evaluation: PlanEvaluation
    public let outcome: Outcome

    /// Why the candidate lost (or that it won), in words.
    public var reason: String {
        switch outcome {
        case .best: "best plan"
        case .baseline: "flat baseline (fastest flat sharding)"
        case .slower(let fraction) where fraction < 0: "flat: \(PlanText.percent(-fraction)) faster than the best DMT plan, but slower than the flat baseline"
        case .slower(let fraction): "slower by \(PlanText.percent(fraction))"
        case .lessAffinity(let fraction, let captured, let best):
            "within the tie tolerance (\(fraction >= 0 ? "+" : "")\(PlanText.percent(fraction))) but keeps \(PlanText.percent(captured)) of the affinity inside towers against \(PlanText.percent(best))"
        case .rejected(let rejection): rejection.description
        }
    }
}

/// What the planner found.
public struct PlanResult: Sendable {
    public let clusterName: String
    public let workloadName: String
    public let gpus: Int
    /// The fastest flat layout that fits; nil when none does.
    public let baseline: PlanEvaluation?
    /// The fastest DMT plan meeting every constraint; nil when none does.
    public let best: PlanEvaluation?
    /// Every candidate: the best plan first, then the feasible ones by step time (flat ones
    /// included), then the rejected ones in enumeration order.
    public let ranking: [RankedPlan]
    /// Candidates enumerated, partitions computed (distinct level, tower count, strategy), steps simulated.
    public let counts: Counts
    /// Facts about the search a reader should know.
    public let notes: [String]

    public struct Counts: Sendable, Hashable, Codable {
        public var candidates: Int
        public var partitions: Int
        public var simulations: Int
        public var aucChecks: Int
    }

    /// Flat step / best DMT step; nil without both.
    public var speedup: Double? {
        guard let flat = baseline?.stepSeconds, let towers = best?.stepSeconds, towers > 0 else { return nil }
        return flat / towers
    }
}
