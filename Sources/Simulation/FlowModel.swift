import Topology

/// A point-to-point transfer between two devices that starts with the others of its set.
public struct Flow: Sendable, Hashable {
    public var source: Int32
    public var destination: Int32
    public var bytes: Double

    public init(source: Int32, destination: Int32, bytes: Double) {
        self.source = source
        self.destination = destination
        self.bytes = bytes
    }
}

/// What happened to a set of concurrent flows.
public struct FlowOutcome: Sendable {
    /// Time until the last flow has arrived, seconds (transfer plus path latency).
    public let completionTime: Double
    /// Arrival time of each flow, in the order given.
    public let finishTimes: [Double]
    /// Bytes carried by each arc (2·link + direction), only arcs that carried traffic.
    public let arcBytes: [Int32: Double]

    /// How busy one arc was over the whole transfer.
    public struct ArcLoad: Sendable {
        public let arc: Int32
        public let bytes: Double
        /// bytes / (bandwidth × completion time): 1 means busy all the time.
        public let utilization: Double
    }

    /// Arcs by how busy they were, highest first (ties by arc id, so the order is stable).
    public func busiestArcs(in cluster: Cluster, limit: Int) -> [ArcLoad] {
        guard completionTime > 0 else { return [] }
        var loads: [ArcLoad] = []
        loads.reserveCapacity(arcBytes.count)
        for (arc, bytes) in arcBytes {
            let capacity = cluster.links[Int(arc >> 1)].bandwidth * completionTime
            loads.append(ArcLoad(arc: arc, bytes: bytes, utilization: bytes / capacity))
        }
        loads.sort { $0.utilization != $1.utilization ? $0.utilization > $1.utilization : $0.arc < $1.arc }
        return Array(loads.prefix(limit))
    }
}

/// Flow-level network model: concurrent flows share links max-min fairly.
///
/// Rates come from progressive filling (every unfrozen flow's rate grows at the same pace; an arc
/// whose capacity runs out freezes the flows crossing it), recomputed whenever a flow finishes.
/// A flow split by ECMP loads each arc in proportion to its share of the route. Each flow also
/// pays its path's one-way latency once. This is the model ASTRA-sim's analytical backend and
/// SimGrid's default use for bulk transfers; it ignores packet-level effects (incast, PFC pauses),
/// which is right for the multi-MB messages of embedding all-to-alls.
///
/// Two sharing rules (`Fairness`): plain max-min, where every flow on a bottleneck gets the same
/// rate (independent transfers, TCP-like), and size-weighted max-min, where rates grow in proportion
/// to the bytes each flow carries, for the transfers of one collective.
///
/// Cost: O(events × bottleneck rounds × Σ route arcs). Events are distinct finish times, so
/// symmetric patterns (every flow the same size) take one or a few; this exact per-pair model is for
/// clusters of up to a few hundred accelerators.
public struct FlowModel: Sendable {
    /// How concurrent flows share a saturated arc.
    public enum Fairness: Sendable {
        /// Max-min fair per flow: flows crossing a bottleneck get equal rates, so small flows finish
        /// first and large ones continue alone, possibly bottlenecked elsewhere while the first
        /// bottleneck idles. Right for independent transfers.
        case perFlow
        /// Max-min fair with weights equal to the flows' sizes: every flow progresses at the same
        /// fraction of its bytes until an arc saturates. The transfers of one uneven all-to-allv
        /// are paced this way by a collective library (NCCL moves every peer's chunks in lockstep
        /// steps over its channels), and it is the max-min allocation that finishes the whole
        /// collective first: the flows of the most loaded arc end together when that arc has carried
        /// its load, so the completion time is the busiest arc's load over its bandwidth.
        case sizeWeighted
    }

    public let cluster: Cluster
    public let router: Router

    public init(cluster: Cluster) {
        self.cluster = cluster
        router = Router(cluster: cluster)
    }

    /// Simulates `flows` starting together. Flows between a device and itself take no time.
    public func run(_ flows: [Flow], fairness: Fairness = .perFlow) throws(NoRouteError) -> FlowOutcome {
        simulate(flows, routes: try routes(for: flows), fairness: fairness)
    }

    /// The route of each flow, each distinct (source, destination) pair routed once.
    public func routes(for flows: [Flow]) throws(NoRouteError) -> [Route] {
        var routes: [Route] = []
        routes.reserveCapacity(flows.count)
        var cache: [Int64: Route] = [:]
        for flow in flows {
            let key = Int64(flow.source) << 32 | Int64(flow.destination)
            if let cached = cache[key] {
                routes.append(cached)
            } else {
                let route = try router.route(from: flow.source, to: flow.destination)
                cache[key] = route
                routes.append(route)
            }
        }
        return routes
    }

    /// The same over routes the caller already has (one per flow, in order).
    public func simulate(_ flows: [Flow], routes: [Route], fairness: Fairness = .perFlow) -> FlowOutcome {
        // Compact arc numbering: only arcs some flow uses.
        var arcIndex: [Int32: Int] = [:]
        var arcs: [Int32] = []
        var usage: [[(arc: Int, share: Double)]] = []
        usage.reserveCapacity(flows.count)
        var arcBytes: [Int32: Double] = [:]
        for (flow, route) in zip(flows, routes) {
            var entries: [(arc: Int, share: Double)] = []
            entries.reserveCapacity(route.arcs.count)
            for item in route.arcs {
                let index: Int
                if let known = arcIndex[item.arc] {
                    index = known
                } else {
                    index = arcs.count
                    arcIndex[item.arc] = index
                    arcs.append(item.arc)
                }
                entries.append((index, item.share))
                arcBytes[item.arc, default: 0] += flow.bytes * item.share
            }
            usage.append(entries)
        }
        let capacity = arcs.map { cluster.links[Int($0 >> 1)].bandwidth }
        var remaining = flows.map(\.bytes)
        var finish = [Double](repeating: 0, count: flows.count)
        var active = flows.indices.filter { remaining[$0] > 0 && !usage[$0].isEmpty }
        var now = 0.0
        var rate = [Double](repeating: 0, count: flows.count)
        var spare = [Double](repeating: 0, count: arcs.count)
        var demand = [Double](repeating: 0, count: arcs.count)
        // Unfrozen flows crossing each arc: an arc takes part in filling only while some flow can
        // still grow on it (weighted demands do not cancel to exactly zero when subtracted).
        var crossing = [Int](repeating: 0, count: arcs.count)
        var frozen = [Bool](repeating: false, count: flows.count)
        // Rate growth per filling step: 1 per flow, or the flow's size relative to the largest.
        let largest = flows.map(\.bytes).max() ?? 0
        let weight = flows.map { fairness == .perFlow || largest <= 0 ? 1.0 : $0.bytes / largest }

        while !active.isEmpty {
            // Progressive filling: (weighted) max-min fair rates of the active flows.
            for index in arcs.indices { spare[index] = capacity[index]; demand[index] = 0; crossing[index] = 0 }
            for flow in active {
                rate[flow] = 0
                frozen[flow] = false
                for entry in usage[flow] {
                    demand[entry.arc] += entry.share * weight[flow]
                    crossing[entry.arc] += 1
                }
            }
            var unfrozen = active.count
            while unfrozen > 0 {
                var step = Double.infinity
                for index in arcs.indices where crossing[index] > 0 && demand[index] > 0 {
                    step = min(step, spare[index] / demand[index])
                }
                guard step.isFinite else { break }
                for index in arcs.indices where crossing[index] > 0 {
                    spare[index] -= step * demand[index]
                }
                for flow in active where !frozen[flow] { rate[flow] += step * weight[flow] }
                // Freeze every flow that crosses an arc with no capacity left.
                for flow in active where !frozen[flow] {
                    let saturated = usage[flow].contains { spare[$0.arc] <= capacity[$0.arc] * 1e-12 }
                    if saturated {
                        frozen[flow] = true
                        unfrozen -= 1
                        for entry in usage[flow] {
                            crossing[entry.arc] -= 1
                            demand[entry.arc] = crossing[entry.arc] == 0 ? 0 : demand[entry.arc] - entry.share * weight[flow]
                        }
                    }
                }
            }
            // Advance to the next finish.
            var step = Double.infinity
            for flow in active where rate[flow] > 0 { step = min(step, remaining[flow] / rate[flow]) }
            guard step.isFinite else { break }
            now += step
            var stillActive: [Int] = []
            for flow in active {
                remaining[flow] -= rate[flow] * step
                if remaining[flow] <= flows[flow].bytes * 1e-9 {
                    finish[flow] = now
                } else {
                    stillActive.append(flow)
                }
            }
            active = stillActive
        }
        var completion = 0.0
        for index in flows.indices where flows[index].bytes > 0 && flows[index].source != flows[index].destination {
            finish[index] += routes[index].latency
            completion = max(completion, finish[index])
        }
        return FlowOutcome(completionTime: completion, finishTimes: finish, arcBytes: arcBytes)
    }
}
