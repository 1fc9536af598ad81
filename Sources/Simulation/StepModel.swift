import Topology
import Workload

/// Times a `StepPlan` on a cluster: list scheduling of its task graph with one compute stream and
/// one communication stream per GPU.
///
/// - A compute task starts on a GPU when its dependencies are done *on that GPU* and the GPU's
///   previous compute task has finished; its duration is the roofline of that GPU's own work, so
///   GPUs that own more tables take longer.
/// - A collective starts for each of its groups when the last member of the group is ready (its
///   dependencies done and its previous collective finished), and ends for all members after the
///   communication model's time, which is set by the slowest participant and the most loaded link.
///   Collectives of one GPU run one at a time, so concurrent transfers never double-count
///   bandwidth; compute and communication overlap freely (SM time NCCL kernels take is not charged).
/// - With `overlapInputDistribution`, tasks marked as input distribution carry the next batch's
///   ids (TorchRec's `TrainPipelineSparseDist`), so nothing in the step waits for them. They are
///   placed after every other task, each into the first gap of its participants' communication
///   streams long enough to hold it (after its own dependencies): the network carries them while
///   the step computes, without slowing the step's own collectives. When no gap is long enough
///   they run after the last collective and lengthen the step. TorchRec issues them at the start
///   of the step on a separate stream, where they share bandwidth with the output distribution;
///   gap filling is the optimistic end of that.
/// - With `serialized`, each rank has one stream instead of two: every task waits for the rank's
///   previous task of either kind, in plan order — a synchronous trainer whose blocking collectives
///   run on the thread that computes (towerplan's own CPU ranks), where nothing overlaps. On a
///   cluster whose ranks time-share fewer cores (`Cluster.sharedCores`), the ranks' compute also
///   shares the cores, and a rank waiting in a collective lends its core to the others
///   (`CoreSharing`, an event simulation in place of the list scheduling).
///
/// The step time is the last finish over all GPUs; the critical path is found by walking back from
/// it through whichever predecessor (a dependency or the previous task on the same stream, or for a
/// collective the member that arrived last) determined each start.
///
/// Cost: one communication-model call per collective, plus O(tasks · N · dependencies).
public struct StepModel: Sendable {
    public var communication: any CommunicationModel
    public var compute: ComputeModel
    public var overlapInputDistribution: Bool
    /// One stream per rank: compute and communication never overlap (see the type's comment).
    public var serialized: Bool

    public init(communication: any CommunicationModel, compute: ComputeModel = ComputeModel(), overlapInputDistribution: Bool = true, serialized: Bool = false) {
        self.serialized = serialized
        self.communication = communication
        self.compute = compute
        self.overlapInputDistribution = overlapInputDistribution
    }

    public func simulate(_ plan: StepPlan) throws -> StepResult {
        let cluster = communication.cluster
        let count = plan.rankCount
        guard count == cluster.accelerators.count else {
            throw SimulationError("the plan is for \(count) GPUs but cluster \(cluster.name) has \(cluster.accelerators.count)")
        }
        let models = try cluster.accelerators.enumerated().map { rank, device throws(SimulationError) -> AcceleratorModel in
            guard let model = cluster.model(of: device) else {
                throw SimulationError("accelerator \(rank) (\(cluster.path(of: device))) has no accelerator model, so its compute cannot be costed")
            }
            return model
        }

        let taskCount = plan.tasks.count
        let sharedCores = serialized ? cluster.sharedCores.flatMap { $0 < count ? $0 : nil } : nil
        // Under the pipeline, the next batch's input distribution is placed after everything else,
        // into gaps of the communication streams (a rank that time-shares a core has no second stream).
        let deferred = plan.tasks.indices.filter {
            sharedCores == nil && overlapInputDistribution && plan.tasks[$0].isInputDistribution && plan.tasks[$0].isCommunication
        }
        let blank = [Double](repeating: 0, count: count)
        var start = [[Double]](repeating: blank, count: taskCount)
        var finish = [[Double]](repeating: blank, count: taskCount)
        var active = [[Bool]](repeating: [Bool](repeating: false, count: count), count: taskCount)
        /// Predecessor (task, rank) that set each start, packed as task << 32 | rank; −1 for none.
        var cause = [[Int64]](repeating: [Int64](repeating: -1, count: count), count: taskCount)
        var levelBytes = [[String: Double]](repeating: [:], count: taskCount)
        var collectiveSeconds = [Double](repeating: 0, count: taskCount)
        var arcBytes: [Int32: Double] = [:]
        var lastCompute = [Int](repeating: -1, count: count)
        var lastCommunication = [Int](repeating: -1, count: count)
        /// Busy intervals of each rank's communication stream (and the task), by start time.
        var streamBusy = [[(start: Double, finish: Double, task: Int)]](repeating: [], count: count)
        let pack = { (task: Int, rank: Int) in Int64(task) << 32 | Int64(rank) }

        /// Earliest start of `task` on `rank` from its dependencies and the stream's `previous` task.
        func ready(_ task: Int, _ rank: Int, after previous: Int) -> (time: Double, by: Int64) {
            var time = 0.0
            var by: Int64 = -1
            for dependency in plan.tasks[task].dependencies
            where !(overlapInputDistribution && plan.tasks[dependency].isInputDistribution) && finish[dependency][rank] > time {
                time = finish[dependency][rank]
                by = pack(dependency, rank)
            }
            if previous >= 0, finish[previous][rank] > time {
                time = finish[previous][rank]
                by = pack(previous, rank)
            }
            return (time, by)
        }

        /// Costs a collective and books its bytes.
        func cost(_ task: Int, _ collective: Collective) throws -> Double {
            let result = try communication.simulate(collective)
            let participants = Double(Set(collective.groups.joined()).count)
            levelBytes[task] = result.bytesPerRankByLevel.mapValues { $0 * participants / Double(count) }
            collectiveSeconds[task] = result.seconds
            arcBytes.merge(result.arcBytes, uniquingKeysWith: +)
            return result.seconds
        }

        /// Places a collective's groups: each starts at `groupStart(group)` and runs `seconds`.
        func place(_ task: Int, _ collective: Collective, seconds: Double, groupStart: ([Int]) -> (Double, Int64)) {
            for rank in 0..<count {
                (start[task][rank], cause[task][rank]) = ready(task, rank, after: -1)
                finish[task][rank] = start[task][rank]
            }
            for group in collective.groups where !group.isEmpty {
                let members = group.map(Int.init)
                let (time, by) = groupStart(members)
                for member in members {
                    start[task][member] = time
                    finish[task][member] = time + seconds
                    active[task][member] = true
                    cause[task][member] = by
                    let slot = streamBusy[member].firstIndex { $0.start > time } ?? streamBusy[member].count
                    streamBusy[member].insert((time, time + seconds, task), at: slot)
                }
            }
        }

        if let cores = sharedCores {
            let tasks = try plan.tasks.enumerated().map { index, task throws -> CoreSharing.Task in
                switch task.work {
                case .compute(let work):
                    return .compute(try (0 ..< count).map { try compute.seconds(work[$0], on: models[$0], precision: plan.computePrecision) })
                case .communication(let collective):
                    return .collective(groups: collective.groups.map { $0.map(Int.init) }, seconds: try cost(index, collective))
                }
            }
            let timeline = try CoreSharing(cores: cores, ranks: count).schedule(tasks)
            (start, finish, active, cause) = (timeline.start, timeline.finish, timeline.active, timeline.cause)
        }
        for (index, task) in plan.tasks.enumerated() where sharedCores == nil && !deferred.contains(index) {
            switch task.work {
            case .compute(let work):
                for rank in 0..<count {
                    let (time, by) = ready(index, rank, after: lastCompute[rank])
                    start[index][rank] = time
                    finish[index][rank] = time + (try compute.seconds(work[rank], on: models[rank], precision: plan.computePrecision))
                    active[index][rank] = true
                    cause[index][rank] = by
                    lastCompute[rank] = index
                    if serialized { lastCommunication[rank] = index }
                }
            case .communication(let collective):
                let seconds = try cost(index, collective)
                // A group starts when its last member is ready (ties to the first in group order).
                place(index, collective, seconds: seconds) { members in
                    var latest: (Double, Int64) = (-1, -1)
                    for member in members {
                        let candidate = ready(index, member, after: lastCommunication[member])
                        if candidate.time > latest.0 { latest = candidate }
                    }
                    return latest
                }
                for member in collective.groups.joined() {
                    lastCommunication[Int(member)] = index
                    if serialized { lastCompute[Int(member)] = index }
                }
            }
        }
        // Backfill: the first time after the dependencies at which every member's stream is free
        // for the whole collective; after the last collective when no gap is long enough.
        for index in deferred {
            guard case .communication(let collective) = plan.tasks[index].work else { continue }
            let seconds = try cost(index, collective)
            place(index, collective, seconds: seconds) { members in
                var latest: (Double, Int64) = (0, -1)
                for member in members {
                    let candidate = ready(index, member, after: -1)
                    if candidate.time > latest.0 { latest = candidate }
                }
                let busy = members.flatMap { member in streamBusy[member].map { (interval: $0, rank: member) } }
                    .sorted { $0.interval.start < $1.interval.start }
                var time = latest.0
                var by = latest.1
                for (interval, rank) in busy where interval.finish > time {
                    if interval.start >= time + seconds { break }
                    time = interval.finish
                    by = pack(interval.task, rank)
                }
                return (time, by)
            }
        }

        // The step ends at the last finish; ties go to the later task, then the lower rank.
        var stepSeconds = 0.0
        var end: (task: Int, rank: Int)?
        for task in plan.tasks.indices {
            for rank in 0..<count where finish[task][rank] >= stepSeconds && (finish[task][rank] > stepSeconds || end.map { task > $0.task } ?? true) {
                stepSeconds = finish[task][rank]
                end = (task, rank)
            }
        }

        // The slowest GPU: the most compute in total (ties to the lowest rank).
        var computeTotal = [Double](repeating: 0, count: count)
        for (task, item) in plan.tasks.enumerated() where !item.isCommunication {
            for rank in 0..<count { computeTotal[rank] += finish[task][rank] - start[task][rank] }
        }
        let slowest = computeTotal.indices.max { computeTotal[$0] < computeTotal[$1] } ?? 0

        // Phases on the slowest GPU: a collective is exposed where that GPU has no compute running.
        let busy = plan.tasks.indices.filter { !plan.tasks[$0].isCommunication }.map { (start[$0][slowest], finish[$0][slowest]) }
        var phases: [StepResult.Phase] = []
        var accounted = 0.0
        for (task, item) in plan.tasks.enumerated() {
            let duration = finish[task][slowest] - start[task][slowest]
            if item.isCommunication {
                var exposed = 0.0
                if active[task][slowest] {
                    let hidden = busy.reduce(0.0) { sum, interval in
                        sum + max(0, min(interval.1, finish[task][slowest]) - max(interval.0, start[task][slowest]))
                    }
                    exposed = max(0, duration - hidden)
                }
                phases.append(StepResult.Phase(name: item.name, isCommunication: true, seconds: collectiveSeconds[task], exposedSeconds: exposed))
                accounted += exposed
            } else {
                phases.append(StepResult.Phase(name: item.name, isCommunication: false, seconds: duration, exposedSeconds: duration))
                accounted += duration
            }
        }

        var path: [StepResult.PathStep] = []
        var cursor: Int64 = end.map { pack($0.task, $0.rank) } ?? -1
        while cursor >= 0 {
            let task = Int(cursor >> 32)
            let rank = Int(cursor & 0xFFFF_FFFF)
            if active[task][rank] && finish[task][rank] > start[task][rank] {
                path.append(StepResult.PathStep(
                    task: plan.tasks[task].name, rank: Int32(rank), isCommunication: plan.tasks[task].isCommunication,
                    start: start[task][rank], finish: finish[task][rank]))
            }
            cursor = cause[task][rank]
        }

        var totalLevelBytes: [String: Double] = [:]
        for bytes in levelBytes { totalLevelBytes.merge(bytes, uniquingKeysWith: +) }

        var tracks = [LabelledRank(rank: 0, label: "rank 0")]
        for candidate in [LabelledRank(rank: Int32(slowest), label: "slowest GPU")] + plan.ranksOfInterest {
            if let existing = tracks.firstIndex(where: { $0.rank == candidate.rank }) {
                tracks[existing].label += "; " + candidate.label
            } else {
                tracks.append(candidate)
            }
        }

        return StepResult(
            summary: plan.summary, notes: plan.notes, rankCount: count, globalBatch: plan.globalBatch,
            overlapsInputDistribution: overlapInputDistribution, stepSeconds: stepSeconds, slowestRank: Int32(slowest),
            idleSeconds: stepSeconds - accounted > stepSeconds * 1e-9 ? stepSeconds - accounted : 0, phases: phases, criticalPath: path.reversed(),
            bytesPerGPUByLevel: totalLevelBytes,
            busiestLinks: Self.busiestLinks(arcBytes, cluster: cluster, stepSeconds: stepSeconds, limit: 5),
            tasks: plan.tasks.indices.map { task in
                StepResult.TaskTimeline(
                    name: plan.tasks[task].name, isCommunication: plan.tasks[task].isCommunication,
                    isInputDistribution: plan.tasks[task].isInputDistribution,
                    start: start[task], finish: finish[task], active: active[task], bytesPerGPUByLevel: levelBytes[task])
            },
            tracks: tracks)
    }

    /// Link directions by bytes / (bandwidth × step), highest first, ties by arc id.
    static func busiestLinks(_ arcBytes: [Int32: Double], cluster: Cluster, stepSeconds: Double, limit: Int) -> [StepResult.LinkLoad] {
        guard stepSeconds > 0 else { return [] }
        let ranked = arcBytes.map { arc, bytes in (arc: arc, bytes: bytes, utilization: bytes / (cluster.links[Int(arc >> 1)].bandwidth * stepSeconds)) }
            .sorted { $0.utilization != $1.utilization ? $0.utilization > $1.utilization : $0.arc < $1.arc }
        return ranked.prefix(limit).map { item in
            let link = cluster.links[Int(item.arc >> 1)]
            return StepResult.LinkLoad(
                from: cluster.path(of: cluster.tail(of: item.arc)), to: cluster.path(of: cluster.head(of: item.arc)), medium: link.medium,
                bandwidth: link.bandwidth, bytes: item.bytes, utilization: item.utilization)
        }
    }
}
