import Foundation
import Partitioning
import Simulation
import Topology
import Workload

/// Why the planner could not run: bad input it can name, with what to change.
public enum PlannerError: Error, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let message): message
        }
    }
}

/// The partition stage: the features of a tower configuration grouped into towers and placed on
/// the level's domains under their memory (TorchRec partitions after proposing; here the towers'
/// contents decide each tower's load, so they are needed before a step can be costed).
public protocol TowerPartitionStage: Sendable {
    func partition(_ configuration: TowerConfiguration, problem: PlanningProblem) throws(TowerPartitionError) -> WorkloadPartition
}

/// Partitions with Partitioning's strategies (`WorkloadPartition`), towers placed heaviest first on
/// the roomiest domain. A domain's memory is the sum over its GPUs of `MemoryBudget`'s per-GPU
/// table capacity after the flat model's dense replica, as `towerplan partition` counts it; the
/// tower modules' replicas are checked by the simulator's own memory check afterwards.
public struct StrategyPartitionStage: TowerPartitionStage {
    public init() {}

    public func partition(_ configuration: TowerConfiguration, problem: PlanningProblem) throws(TowerPartitionError) -> WorkloadPartition {
        let workload = problem.workload
        let domains = Self.domains(of: problem.cluster, level: configuration.level, workload: workload)
        return try WorkloadPartition(
            workload: workload, affinity: problem.affinity, partitioner: configuration.strategy.partitioner(), towers: configuration.towers,
            epsilon: problem.epsilon, seed: problem.seed, domains: domains, costModel: problem.costModel)
    }

    /// Table memory of each domain of `level` (empty when the level does not exist or is uneven,
    /// which the enumerator has ruled out). O(GPUs).
    public static func domains(of cluster: Cluster, level name: String, workload: Workload) -> TowerDomains {
        guard let level = cluster.level(named: name), let grid = try? DomainGrid(cluster: cluster, level: level) else {
            return TowerDomains(memoryBytes: [])
        }
        let dense = workload.recommendation?.denseParameterCount ?? 0
        let perRank = MemoryBudget().tableCapacityPerRank(cluster, denseReplicaBytes: MemoryBudget.denseReplicaBytes(workload, parameters: dense))
        return TowerDomains(memoryBytes: grid.ranks.map { ranks in ranks.reduce(0) { $0 + perRank[Int($1)] } })
    }
}

/// The estimate stage: one training step of a layout, costed.
public protocol StepEstimator: Sendable {
    func estimate(_ plan: StepPlan) throws -> StepResult
}

/// The step simulator exactly as `towerplan simulate` runs it: the aggregated communication model
/// where the cluster allows it (the exact one otherwise), default compute efficiencies, the
/// sparse-dist pipeline on. The communication model is built once per cluster (it routes one host
/// profile), so a search pays for it once. Cost per estimate: one `StepModel.simulate`.
public struct SimulatedStepEstimator: StepEstimator {
    public let model: StepModel

    public init(cluster: Cluster, compute: ComputeModel = ComputeModel(), overlapInputDistribution: Bool = true) {
        model = StepModel(
            communication: AggregatedCommunicationModel.best(for: cluster), compute: compute, overlapInputDistribution: overlapInputDistribution)
    }

    public func estimate(_ plan: StepPlan) throws -> StepResult {
        try model.simulate(plan)
    }
}

/// Builds the step plan of a layout, the way `simulate` builds it from the same options and files.
public enum LayoutPlans {
    /// The workload with every tower module compressing by `ratio` (nil: unchanged). Renamed
    /// `NAME-c<ratio>` when it changes, so files made for it say so.
    public static func workload(_ workload: Workload, compression ratio: Double?) -> Workload {
        guard let ratio, var model = workload.recommendation, model.towerModule.output != .compression(ratio) else { return workload }
        if case .identity = model.towerModule.kind { return workload }
        model.towerModule.output = .compression(ratio)
        var changed = workload
        changed.model = .recommendation(model)
        changed.name = "\(workload.name)-c\(PlanText.ratio(ratio))"
        return changed
    }

    /// The step plan of `layout` on `cluster`; towers need their partition.
    public static func stepPlan(
        _ layout: PlanLayout, partition: ResolvedPartition?, workload: Workload, cluster: Cluster
    ) throws -> StepPlan {
        switch layout {
        case .flat(let sharding):
            return try FlatLayout(sharding: sharding).plan(workload: workload, cluster: cluster)
        case .towers(let configuration):
            var sptt = SPTTLayout(towerLevel: configuration.level, intraDomain: configuration.intraDomain)
            if let partition {
                try sptt.apply(partition)
            } else {
                sptt.towerCount = configuration.towers
            }
            return try sptt.plan(workload: self.workload(workload, compression: configuration.compression), cluster: cluster)
        }
    }
}

extension SPTTLayout {
    /// Takes a partition's towers and the domain of each (`simulate --partition`, `compare`, the planner).
    public mutating func apply(_ partition: ResolvedPartition) throws(SimulationError) {
        assignment = try TowerAssignment(towerOfFeature: partition.towerOfFeature, towerCount: partition.towerCount)
        domainOfTower = partition.domainOfTower
    }
}
