import Dispatch
import Partitioning
import Topology
import Workload

/// The planner over many (cluster, size, workload) points, in parallel over cores: each point is
/// one independent `Planner.plan` on one thread, so a sweep of P points on C cores takes about
/// ⌈P / C⌉ plans.
public enum Sweep {
    /// One point: files by path, and the GPU count to scale the cluster to (nil: as written).
    public struct Point: Sendable, Hashable {
        public var topology: String
        public var workload: String
        public var gpus: Int?

        public init(topology: String, workload: String, gpus: Int?) {
            self.topology = topology
            self.workload = workload
            self.gpus = gpus
        }
    }

    /// What the planner found at one point; `error` set (and the rest nil) when it could not plan.
    public struct Row: Sendable, Codable {
        public var cluster: String
        public var topology: String
        public var workload: String
        public var gpus: Int?
        public var flat: String?
        public var flatSeconds: Double?
        public var best: String?
        public var bestSeconds: Double?
        public var speedup: Double?
        public var candidates: Int?
        public var feasible: Int?
        public var error: String?
    }

    /// Every combination, topologies outermost, then sizes, then workloads.
    public static func points(topologies: [String], workloads: [String], gpus: [Int]?) -> [Point] {
        topologies.flatMap { topology in
            (gpus.map { $0.map(Optional.some) } ?? [nil]).flatMap { size in
                workloads.map { Point(topology: topology, workload: $0, gpus: size) }
            }
        }
    }

    /// Plans every point. `specs` and `workloads` hold the loaded files by path; `affinities`
    /// the embeddings by workload path (strategies that need them are dropped where missing).
    /// Rows come back in the order of `points`.
    public static func run(
        _ points: [Point], specs: [String: ClusterSpec], workloads: [String: Workload], affinities: [String: FeatureAffinity] = [:],
        enumerator: GridEnumerator, epsilon: Double, seed: UInt64, threads: Int, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) -> [Row] {
        let slots = ResultSlots<Row>(count: points.count)
        let counter = Counter()
        let workers = max(1, min(threads, points.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: points.count, by: workers) {
                let point = points[index]
                slots.set(index, row(point, spec: specs[point.topology], workload: workloads[point.workload], affinity: affinities[point.workload],
                                     enumerator: enumerator, epsilon: epsilon, seed: seed))
                progress?(counter.increment(), points.count)
            }
        }
        return slots.values
    }

    private static func row(
        _ point: Point, spec: ClusterSpec?, workload: Workload?, affinity: FeatureAffinity?, enumerator: GridEnumerator, epsilon: Double, seed: UInt64
    ) -> Row {
        var row = Row(cluster: spec?.name ?? point.topology, topology: point.topology, workload: workload?.name ?? point.workload, gpus: point.gpus)
        guard let spec, let workload else {
            row.error = "\(spec == nil ? point.topology : point.workload) was not loaded"
            return row
        }
        do {
            let cluster = try point.gpus.map { try ClusterScaling.scaled(spec, gpus: $0) } ?? Cluster(spec: spec)
            row.cluster = cluster.name
            row.gpus = cluster.accelerators.count
            var search = enumerator
            if affinity == nil { search.strategies = search.strategies.filter { !$0.needsEmbeddings } }
            if search.strategies.isEmpty { search.strategies = [.greedy] }
            let result = try Planner(enumerator: search).plan(
                PlanningProblem(cluster: cluster, workload: workload, affinity: affinity, epsilon: epsilon, seed: seed))
            row.flat = result.baseline?.layout.description
            row.flatSeconds = result.baseline?.stepSeconds
            row.best = result.best?.layout.description
            row.bestSeconds = result.best?.stepSeconds
            row.speedup = result.speedup
            row.candidates = result.counts.candidates
            row.feasible = result.ranking.count { $0.evaluation.isFeasible }
        } catch {
            row.error = "\(error)"
        }
        return row
    }
}
