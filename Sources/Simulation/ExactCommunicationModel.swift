import Topology

/// Costs collectives by enumerating every rank pair as a flow on the cluster graph (`FlowModel`).
///
/// Multi-step algorithms (rings, the phases of a hierarchical all-reduce) are simulated one step at a
/// time with every group's step running concurrently; identical steps repeat, so one simulated step
/// is multiplied by the step count. Exact but O(pairs): meant for clusters up to a few hundred
/// accelerators and as the reference the aggregated model is checked against.
public struct ExactCommunicationModel: CommunicationModel {
    public let cluster: Cluster
    private let flowModel: FlowModel

    public init(cluster: Cluster) {
        self.cluster = cluster
        flowModel = FlowModel(cluster: cluster)
    }

    public func simulate(_ collective: Collective) throws -> CollectiveResult {
        var total = Accumulator(cluster: cluster, participants: Set(collective.groups.joined()).count)
        switch collective.kind {
        case .allToAll:
            var flows: [Flow] = []
            var routes: [Route] = []
            for group in collective.groups {
                for source in group {
                    let destinations = group.filter { $0 != source }
                    let found = try flowModel.router.routes(
                        from: cluster.accelerators[Int(source)], to: destinations.map { cluster.accelerators[Int($0)] })
                    for (destination, route) in zip(destinations, found) {
                        flows.append(Flow(
                            source: route.source, destination: route.destination,
                            bytes: collective.traffic.bytes(from: source, to: destination)))
                        routes.append(route)
                    }
                }
            }
            total.add(flowModel.simulate(flows, routes: routes), flows: flows, routes: routes)
        case .pointToPoint:
            let flows = zip(collective.groups, collective.bufferBytes).compactMap { group, bytes -> Flow? in
                guard group.count == 2 else { return nil }
                return Flow(source: cluster.accelerators[Int(group[0])], destination: cluster.accelerators[Int(group[1])], bytes: bytes)
            }
            let routes = try flowModel.routes(for: flows)
            total.add(flowModel.simulate(flows, routes: routes), flows: flows, routes: routes)
        case .reduceScatter, .allGather:
            try ringSteps(collective.groups, bytes: collective.bufferBytes, stepsPerRank: 1, into: &total)
        case .allReduce(.ring):
            try ringSteps(collective.groups, bytes: collective.bufferBytes, stepsPerRank: 2, into: &total)
        case .allReduce(.tree):
            try doubleBinaryTree(collective.groups, bytes: collective.bufferBytes, into: &total)
        case .allReduce(.hierarchical(let levelName)):
            guard let level = cluster.level(named: levelName) else {
                throw UnknownLevelError(level: levelName, known: cluster.levels.map(\.name))
            }
            // Split each group by domain: inner rings inside domains, outer rings across domains
            // among the ranks with the same position inside their domain.
            var inner: [[Int32]] = []
            var innerBytes: [Double] = []
            var outer: [[Int32]] = []
            var outerBytes: [Double] = []
            for (group, bytes) in zip(collective.groups, collective.bufferBytes) {
                var byDomain: [Int32: [Int32]] = [:]
                var order: [Int32] = []
                for rank in group {
                    let domain = cluster.enclosingDomain(of: cluster.accelerators[Int(rank)], at: level) ?? -1
                    if byDomain[domain] == nil { order.append(domain) }
                    byDomain[domain, default: []].append(rank)
                }
                let members = order.map { byDomain[$0]! }
                let width = members.map(\.count).min() ?? 1
                for member in members {
                    inner.append(member)
                    innerBytes.append(bytes)
                }
                for position in 0..<width {
                    outer.append(members.map { $0[position] })
                    outerBytes.append(bytes / Double(width))
                }
            }
            try ringSteps(inner, bytes: innerBytes, stepsPerRank: 1, into: &total)
            try ringSteps(outer, bytes: outerBytes, stepsPerRank: 2, into: &total)
            try ringSteps(inner, bytes: innerBytes, stepsPerRank: 1, into: &total)
        }
        return total.result
    }

    /// Ring algorithms: every rank sends S/n to its successor per step, `stepsPerRank`·(n−1) steps
    /// (1 for reduce-scatter and all-gather, 2 for all-reduce). All groups run concurrently; the
    /// slowest group sets the time.
    private func ringSteps(_ groups: [[Int32]], bytes: [Double], stepsPerRank: Int, into total: inout Accumulator) throws {
        var flows: [Flow] = []
        var owner: [Int] = []
        for (index, (group, buffer)) in zip(groups, bytes).enumerated() where group.count > 1 {
            for (position, rank) in group.enumerated() {
                let next = group[(position + 1) % group.count]
                flows.append(Flow(
                    source: cluster.accelerators[Int(rank)], destination: cluster.accelerators[Int(next)],
                    bytes: buffer / Double(group.count)))
                owner.append(index)
            }
        }
        guard !flows.isEmpty else { return }
        let routes = try flowModel.routes(for: flows)
        let outcome = flowModel.simulate(flows, routes: routes)
        // Each group repeats its step (n−1)·stepsPerRank times; the slowest group sets the time.
        let repetitions = owner.map { Double(stepsPerRank * (groups[$0].count - 1)) }
        var slowest = 0.0
        for (index, finish) in outcome.finishTimes.enumerated() {
            slowest = max(slowest, finish * repetitions[index])
        }
        total.seconds += slowest
        total.addTraffic(flows, routes: routes, repetitions: repetitions)
    }

    /// NCCL's double binary tree: two trees over the ranks (the second shifted by one so most leaves
    /// of one are inner nodes of the other), each carrying half the buffer up and down at once,
    /// pipelined; plus the pipeline's fill, one hop latency per level each way.
    private func doubleBinaryTree(_ groups: [[Int32]], bytes: [Double], into total: inout Accumulator) throws {
        var flows: [Flow] = []
        var depth = 0
        for (group, buffer) in zip(groups, bytes) where group.count > 1 {
            let count = group.count
            depth = max(depth, Int.bitWidth - count.leadingZeroBitCount - 1)  // ⌊log2 n⌋
            for shift in 0..<2 {
                for position in 1..<count {
                    let child = group[(position + shift) % count]
                    let parent = group[((position - 1) / 2 + shift) % count]
                    let (a, b) = (cluster.accelerators[Int(child)], cluster.accelerators[Int(parent)])
                    flows.append(Flow(source: a, destination: b, bytes: buffer / 2))
                    flows.append(Flow(source: b, destination: a, bytes: buffer / 2))
                }
            }
        }
        guard !flows.isEmpty else { return }
        let routes = try flowModel.routes(for: flows)
        let outcome = flowModel.simulate(flows, routes: routes)
        let hopLatency = routes.map(\.latency).max() ?? 0
        total.add(outcome, flows: flows, routes: routes, extraSeconds: 2 * Double(depth) * hopLatency)
    }
}

/// A hierarchical all-reduce named a level the cluster does not have.
public struct UnknownLevelError: Error, CustomStringConvertible {
    public let level: String
    public let known: [String]
    public var description: String { "the cluster has no level '\(level)' (levels: \(known.joined(separator: ", ")))" }
}

/// Sums time, per-level bytes and per-arc bytes over the phases of a collective.
private struct Accumulator {
    let cluster: Cluster
    let participants: Int
    var seconds = 0.0
    var levelBytes: [String: Double] = [:]
    var arcBytes: [Int32: Double] = [:]

    init(cluster: Cluster, participants: Int) {
        self.cluster = cluster
        self.participants = participants
    }

    /// Adds a phase whose flows all ran once.
    mutating func add(_ outcome: FlowOutcome, flows: [Flow], routes: [Route], extraSeconds: Double = 0) {
        seconds += outcome.completionTime + extraSeconds
        addTraffic(flows, routes: routes, repetitions: [Double](repeating: 1, count: flows.count))
    }

    /// Counts each flow's bytes `repetitions[i]` times, per level crossed and per arc of its route.
    mutating func addTraffic(_ flows: [Flow], routes: [Route], repetitions: [Double]) {
        for (index, flow) in flows.enumerated() where flow.bytes > 0 {
            let bytes = flow.bytes * repetitions[index]
            for level in cluster.levelsCrossed(between: flow.source, and: flow.destination) {
                levelBytes[level.name, default: 0] += bytes
            }
            for item in routes[index].arcs {
                arcBytes[item.arc, default: 0] += bytes * item.share
            }
        }
    }

    var result: CollectiveResult {
        let perRank = participants > 0 ? levelBytes.mapValues { $0 / Double(participants) } : [:]
        return CollectiveResult(seconds: seconds, bytesPerRankByLevel: perRank, arcBytes: arcBytes)
    }
}
