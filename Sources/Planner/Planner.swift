import Dispatch
import Foundation
import Partitioning
import Simulation
import Topology
import Workload

/// How far the search has got, for progress bars.
public struct PlanProgress: Sendable {
    public var stage: String
    public var done: Int
    public var total: Int
}

/// Searches DMT layouts (DESIGN §2.3, after TorchRec's planner): a pipeline of small, swappable
/// stages.
///
/// 1. **enumerate** (`PlanEnumerator`): flat baselines and tower configurations;
/// 2. **partition** (`TowerPartitionStage`): each distinct (level, tower count, strategy) is
///    partitioned once and placed under the domains' memory, then reused by every compression
///    ratio and intra-domain sharding (a partition does not depend on either, since every
///    feature's share of a tower module's FLOPs is the same). A configuration whose partition
///    fails the balance bound or memory is rejected without being simulated;
/// 3. **estimate** (`StepEstimator`): one simulated step per remaining candidate, in parallel over
///    `threads`;
/// 4. **propose** (`PlanProposer`): feasible candidates in preference order; the optional
///    `QualityGuard` is asked about tower plans in that order until one passes, so short trainings
///    run only for candidates that would otherwise win (and once per distinct partition and ratio);
/// 5. **report**: `PlanResult`, every candidate with the reason it lost.
///
/// Cost: E candidates cost E simulations (≈ 5–10 ms each on a 512-GPU cluster in release builds)
/// plus P ≤ E / (ratios × 2) partitions (milliseconds for hundreds of features), plus the guard's
/// trainings when set.
public struct Planner: Sendable {
    public var enumerator: any PlanEnumerator
    public var partitioner: any TowerPartitionStage
    public var proposer: any PlanProposer
    public var qualityGuard: (any QualityGuard)?
    /// Threads the estimate stage uses.
    public var threads: Int

    public init(
        enumerator: any PlanEnumerator = GridEnumerator(), partitioner: any TowerPartitionStage = StrategyPartitionStage(),
        proposer: any PlanProposer = FastestFirstProposer(), qualityGuard: (any QualityGuard)? = nil, threads: Int = 1
    ) {
        self.enumerator = enumerator
        self.partitioner = partitioner
        self.proposer = proposer
        self.qualityGuard = qualityGuard
        self.threads = max(1, threads)
    }

    public func plan(
        _ problem: PlanningProblem, estimator: (any StepEstimator)? = nil, progress: (@Sendable (PlanProgress) -> Void)? = nil
    ) throws -> PlanResult {
        let layouts = try enumerator.enumerate(problem)
        let estimator = estimator ?? SimulatedStepEstimator(cluster: problem.cluster)

        // Partition: once per (level, towers, strategy).
        struct Key: Hashable {
            let level: String
            let towers: Int
            let strategy: PartitionStrategy
        }
        var partitions: [Key: Result<WorkloadPartition, TowerPartitionError>] = [:]
        let keys = layouts.compactMap { $0.towers.map { Key(level: $0.level, towers: $0.towers, strategy: $0.strategy) } }
        var distinct: [Key] = []
        for key in keys where partitions[key] == nil {
            distinct.append(key)
            partitions[key] = .failure(.invalidProblem("pending"))
        }
        for (index, key) in distinct.enumerated() {
            progress?(PlanProgress(stage: "partitioning", done: index, total: distinct.count))
            let configuration = TowerConfiguration(level: key.level, towers: key.towers, strategy: key.strategy)
            partitions[key] = Result { () throws(TowerPartitionError) in try partitioner.partition(configuration, problem: problem) }
        }

        // Estimate: every candidate whose partition exists, in parallel.
        let made = partitions
        let results = ResultSlots<PlanEvaluation>(count: layouts.count)
        let counter = Counter()
        let total = layouts.count
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for index in stride(from: worker, to: layouts.count, by: threads) {
                let layout = layouts[index]
                var partition: WorkloadPartition?
                var evaluation: PlanEvaluation
                if let configuration = layout.towers {
                    switch made[Key(level: configuration.level, towers: configuration.towers, strategy: configuration.strategy)] {
                    case .success(let made): partition = made
                    case .failure(let error):
                        results.set(index, PlanEvaluation(layout: layout, partition: nil, step: nil, rejection: Rejection(partitionError: error)))
                        progress?(PlanProgress(stage: "simulating", done: counter.increment(), total: total))
                        continue
                    case nil: break
                    }
                }
                do {
                    let plan = try LayoutPlans.stepPlan(layout, partition: partition?.resolved, workload: problem.workload, cluster: problem.cluster)
                    evaluation = PlanEvaluation(layout: layout, partition: partition, step: try estimator.estimate(plan))
                } catch {
                    evaluation = PlanEvaluation(layout: layout, partition: partition, step: nil, rejection: Rejection(simulationError: error))
                }
                results.set(index, evaluation)
                progress?(PlanProgress(stage: "simulating", done: counter.increment(), total: total))
            }
        }
        var evaluations = results.values
        let simulations = evaluations.count { $0.step != nil }

        // Propose, guard, rank.
        let order = proposer.order(evaluations)
        let baselineIndex = order.first { if case .flat = evaluations[$0].layout { true } else { false } }
        var bestIndex: Int?
        var checks = 0
        var notes: [String] = []
        if let qualityGuard {
            var memo: [String: Double] = [:]
            let baselineAUC = try qualityGuard.baselineAUC()
            checks += 1
            for index in order where evaluations[index].layout.towers != nil {
                guard let configuration = evaluations[index].layout.towers, let partition = evaluations[index].partition else { continue }
                progress?(PlanProgress(stage: "AUC guard", done: checks, total: checks + 1))
                let key = "\(partition.resolved.towerOfFeature)/\(configuration.compression ?? 0)"
                let auc: Double
                if let known = memo[key] {
                    auc = known
                } else {
                    auc = try qualityGuard.auc(towers: partition.resolved, compression: configuration.compression)
                    memo[key] = auc
                    checks += 1
                }
                evaluations[index].auc = auc
                if auc < baselineAUC - qualityGuard.tolerance {
                    evaluations[index].rejection = .aucGuard(auc: auc, baseline: baselineAUC, tolerance: qualityGuard.tolerance)
                } else {
                    bestIndex = index
                    break
                }
            }
            notes.append(String(format: "AUC guard: flat proxy AUC %.4f, tolerance %.4f, %d trainings", baselineAUC, qualityGuard.tolerance, checks))
        } else {
            bestIndex = order.first { evaluations[$0].layout.towers != nil }
        }

        let ranking = Self.rank(evaluations, order: order, best: bestIndex, baseline: baselineIndex)
        if bestIndex == nil { notes.append("no DMT candidate meets every constraint; see the reasons below") }
        if baselineIndex == nil { notes.append("no flat sharding fits this cluster's memory") }
        return PlanResult(
            clusterName: problem.cluster.name, workloadName: problem.workload.name, gpus: problem.cluster.accelerators.count,
            baseline: baselineIndex.map { evaluations[$0] }, best: bestIndex.map { evaluations[$0] }, ranking: ranking,
            counts: PlanResult.Counts(candidates: layouts.count, partitions: distinct.count, simulations: simulations, aucChecks: checks),
            notes: notes)
    }

    /// The final order: best, then feasible candidates in proposal order (each slower than the
    /// best by its own margin, or tied with less affinity), then the rejected ones.
    static func rank(_ evaluations: [PlanEvaluation], order: [Int], best: Int?, baseline: Int?) -> [RankedPlan] {
        var ranking: [RankedPlan] = []
        let bestSeconds = best.flatMap { evaluations[$0].stepSeconds }
        let bestCaptured = best.map { FastestFirstProposer.captured(evaluations[$0]) } ?? 0
        if let best { ranking.append(RankedPlan(evaluation: evaluations[best], outcome: .best)) }
        for index in order where index != best && evaluations[index].isFeasible {
            let evaluation = evaluations[index]
            if index == baseline {
                ranking.append(RankedPlan(evaluation: evaluation, outcome: .baseline))
                continue
            }
            let fraction = bestSeconds.map { (evaluation.stepSeconds ?? 0) / $0 - 1 } ?? 0
            let captured = FastestFirstProposer.captured(evaluation)
            let tied = evaluation.layout.towers != nil && fraction <= FastestFirstProposer.defaultTieTolerance && captured < bestCaptured
            let outcome: RankedPlan.Outcome =
                tied ? .lessAffinity(fraction: fraction, captured: captured, best: bestCaptured) : .slower(fraction: fraction)
            ranking.append(RankedPlan(evaluation: evaluation, outcome: outcome))
        }
        for evaluation in evaluations where !evaluation.isFeasible {
            ranking.append(RankedPlan(evaluation: evaluation, outcome: .rejected(evaluation.rejection ?? .infeasible("not simulated"))))
        }
        return ranking
    }
}

/// Write-once slots filled from several threads. Each index is written by exactly one thread,
/// under a lock (cheap next to a simulation).
final class ResultSlots<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Value?]

    init(count: Int) { slots = [Value?](repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value) {
        lock.withLock { slots[index] = value }
    }

    /// Every slot's value; each must have been set.
    var values: [Value] { lock.withLock { slots.compactMap { $0 } } }
}

/// A thread-safe count of finished items, for progress.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func increment() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
