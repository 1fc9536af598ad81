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
        var tally = TrafficTally(cluster: cluster, participants: Set(collective.groups.joined()).count)
        guard case .allToAll = collective.kind else {
            for phase in try FlowPhase.phases(of: collective, on: cluster) { try cost(phase, into: &tally) }
            return tally.result
        }
        // One Dijkstra per source serves all its destinations.
        var flows: [Flow] = []
        var routes: [Route] = []
        for group in collective.groups {
            for source in group {
                let destinations = group.filter { $0 != source }
                let found = try flowModel.router.routes(
                    from: cluster.accelerators[Int(source)], to: destinations.map { cluster.accelerators[Int($0)] })
                for (destination, route) in zip(destinations, found) {
                    let bytes = collective.traffic.bytes(from: source, to: destination)
                    flows.append(Flow(source: route.source, destination: route.destination, bytes: bytes))
                    routes.append(route)
                    tally.add(bytes: bytes, from: route.source, to: route.destination, arcs: route.arcs)
                }
            }
        }
        // The pairs of one all-to-all(v) progress together (see `FlowModel.Fairness.sizeWeighted`).
        tally.seconds = flowModel.simulate(flows, routes: routes, fairness: .sizeWeighted).completionTime
        return tally.result
    }

    /// Times one phase with the flow model: the slowest flow, times its repetitions, sets the time.
    private func cost(_ phase: FlowPhase, into tally: inout TrafficTally) throws {
        guard !phase.flows.isEmpty else { return }
        let routes = try flowModel.routes(for: phase.flows)
        let outcome = flowModel.simulate(phase.flows, routes: routes)
        var slowest = 0.0
        for (index, flow) in phase.flows.enumerated() {
            slowest = max(slowest, outcome.finishTimes[index] * phase.repetitions[index])
            tally.add(bytes: flow.bytes * phase.repetitions[index], from: flow.source, to: flow.destination, arcs: routes[index].arcs)
        }
        let fill = 2 * Double(phase.treeDepth) * (routes.map(\.latency).max() ?? 0)
        tally.seconds += slowest + fill
    }
}
