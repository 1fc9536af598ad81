import Dispatch
import Partitioning
import Simulation
import Topology
import Workload

/// A plan re-simulated at other cluster sizes (`ClusterScaling`): the same flat sharding, and the
/// same tower configuration with the tower count scaled with the domains (T' = T·H'/H rounded, at
/// least 1, at most H' and F), re-partitioned by the same strategy with the same seed. At the
/// cluster's own size this reproduces the plan exactly.
public enum ScalingStudy {
    public struct Point: Sendable {
        public let gpus: Int
        public let flat: StepResult?
        public let towers: StepResult?
        /// T' at this size (nil without a tower plan or when it failed).
        public let towerCount: Int?
        /// Why a side is missing (memory, balance), empty when both were simulated.
        public let note: String
    }

    /// Simulates every size in `gpus` (in parallel over `threads`), in the order given.
    public static func run(
        spec: ClusterSpec, problem: PlanningProblem, flat: ShardingType, towers configuration: TowerConfiguration?, gpus: [Int],
        partitioner: any TowerPartitionStage = StrategyPartitionStage(), threads: Int = 1
    ) -> [Point] {
        let baseDomains = configuration.flatMap { domainCount(problem.cluster, level: $0.level) } ?? 1
        let slots = ResultSlots<Point>(count: gpus.count)
        let workers = max(1, min(threads, gpus.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: gpus.count, by: workers) {
                slots.set(index, point(
                    spec: spec, problem: problem, flat: flat, configuration: configuration, baseDomains: baseDomains, gpus: gpus[index],
                    partitioner: partitioner))
            }
        }
        return slots.values
    }

    private static func point(
        spec: ClusterSpec, problem: PlanningProblem, flat: ShardingType, configuration: TowerConfiguration?, baseDomains: Int, gpus: Int,
        partitioner: any TowerPartitionStage
    ) -> Point {
        let cluster: Cluster
        do {
            cluster = gpus == problem.cluster.accelerators.count ? problem.cluster : try ClusterScaling.scaled(spec, gpus: gpus)
        } catch {
            return Point(gpus: gpus, flat: nil, towers: nil, towerCount: nil, note: "\(error)")
        }
        var scaled = problem
        scaled.cluster = cluster
        let estimator = SimulatedStepEstimator(cluster: cluster)
        var notes: [String] = []
        var flatStep: StepResult?
        do {
            flatStep = try estimator.estimate(LayoutPlans.stepPlan(.flat(flat), partition: nil, workload: problem.workload, cluster: cluster))
        } catch {
            notes.append("flat: \(Rejection(simulationError: error))")
        }
        guard var configuration else { return Point(gpus: gpus, flat: flatStep, towers: nil, towerCount: nil, note: notes.joined(separator: "; ")) }
        let domains = domainCount(cluster, level: configuration.level) ?? 0
        let features = problem.workload.features.count
        configuration.towers = max(1, min(domains, features, Int((Double(configuration.towers * domains) / Double(baseDomains)).rounded())))
        var towerStep: StepResult?
        do {
            let partition = try partitioner.partition(configuration, problem: scaled)
            towerStep = try estimator.estimate(
                LayoutPlans.stepPlan(.towers(configuration), partition: partition.resolved, workload: problem.workload, cluster: cluster))
        } catch let error as TowerPartitionError {
            notes.append("DMT: \(Rejection(partitionError: error))")
        } catch {
            notes.append("DMT: \(Rejection(simulationError: error))")
        }
        return Point(gpus: gpus, flat: flatStep, towers: towerStep, towerCount: configuration.towers, note: notes.joined(separator: "; "))
    }

    private static func domainCount(_ cluster: Cluster, level name: String) -> Int? {
        cluster.level(named: name).map { cluster.domains(at: $0).count }
    }
}
