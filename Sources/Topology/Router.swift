/// The share of a flow that one arc (one direction of a link) carries.
public struct ArcShare: Sendable, Hashable {
    /// Arc id: 2·link + direction (0 is link.a → link.b).
    public let arc: Int32
    /// Fraction of the flow on this arc, in (0, 1].
    public let share: Double

    public init(arc: Int32, share: Double) {
        self.arc = arc
        self.share = share
    }
}

/// How traffic from one device to another travels: every equal-cost path, with ECMP shares.
public struct Route: Sendable {
    public let source: Int32
    public let destination: Int32
    /// Arcs used, each with the fraction of the flow it carries. Shares follow per-hop ECMP:
    /// every device splits what it receives evenly among its next hops on minimal paths, as
    /// switches hashing flows do.
    public let arcs: [ArcShare]
    /// Number of distinct minimal paths.
    public let pathCount: Double
    /// Fewest and most links on a minimal path.
    public let minimumHops: Int
    public let maximumHops: Int
    /// One-way latency of the slowest minimal path (sum of link latencies), seconds.
    public let latency: Double
    /// Largest rate one flow can reach when alone on the network, bytes/s: the tightest arc,
    /// counting the ECMP share it carries (two parallel 400Gb/s links give an 800Gb/s route).
    public let bottleneckBandwidth: Double
}

/// Routing error: the two devices are not connected through devices that forward traffic.
public struct NoRouteError: Error, Sendable, CustomStringConvertible {
    public let source: String
    public let destination: String
    public var description: String { "no route from \(source) to \(destination) through forwarding devices" }
}

/// Minimal-cost routing with ECMP on the cluster graph.
///
/// Cost of a link = 1/bandwidth (the OSPF convention), so a GPU reaches a GPU of its own host
/// over NVLink rather than PCIe, and equal links tie, which is what makes ECMP. Only switches,
/// NICs, CPUs and devices marked `forwards` relay traffic; accelerators do not (on a DGX-1 two
/// GPUs without a direct NVLink talk through PCIe and the CPUs, as they really do).
///
/// Up-down routing: a route never leaves the lowest domain containing both ends (two GPUs of one
/// pod stay inside the pod), the defining rule of routing in trees and Clos fabrics; the search
/// falls back to the whole graph only if that domain is not connected by itself. Non-tree graphs
/// (the DGX-1 hybrid cube-mesh) need no special case: the rule holds for any graph.
///
/// Cost: one Dijkstra over the lowest common domain with early exit, O(E log V) in that domain —
/// microseconds inside a host, ~10 ms across the 24,576-GPU Llama 3 cluster in a release build.
/// Nothing is cached and nothing is quadratic in the number of accelerators.
public struct Router: Sendable {
    public let cluster: Cluster
    /// Integer cost of each link (1e15 / bytes-per-second): integers make equal-cost ties exact.
    private let linkCost: [UInt64]

    public init(cluster: Cluster) {
        self.cluster = cluster
        linkCost = cluster.links.map { max(1, UInt64((1e15 / $0.bandwidth).rounded())) }
    }

    @inline(__always) private func cost(of link: Int) -> UInt64 { linkCost[link] }

    /// The route from device `source` to device `destination`.
    public func route(from source: Int32, to destination: Int32) throws(NoRouteError) -> Route {
        if source == destination {
            return Route(
                source: source, destination: destination, arcs: [], pathCount: 1, minimumHops: 0, maximumHops: 0,
                latency: 0, bottleneckBandwidth: .infinity)
        }
        let common = cluster.lowestCommonDomain(source, destination)
        if let route = search(from: source, to: destination, within: cluster.domains[Int(common)].devices) {
            return route
        }
        let everything = Int32(0)..<Int32(cluster.devices.count)
        if common != 0, let route = search(from: source, to: destination, within: everything) {
            return route
        }
        throw NoRouteError(source: cluster.path(of: source), destination: cluster.path(of: destination))
    }

    /// The route between two accelerators by rank.
    public func route(fromRank source: Int32, toRank destination: Int32) throws(NoRouteError) -> Route {
        try route(from: cluster.accelerators[Int(source)], to: cluster.accelerators[Int(destination)])
    }

    /// Routes from one source to many destinations with a single Dijkstra over the whole cluster,
    /// then one backward walk per destination: what an all-to-all needs (N sources instead of N²
    /// searches). Each walk keeps to the lowest common domain, like `route(from:to:)`, and falls
    /// back to it in the rare graph where the global minimum leaves that domain.
    public func routes(from source: Int32, to destinations: [Int32]) throws(NoRouteError) -> [Route] {
        let everything = Int32(0)..<Int32(cluster.devices.count)
        let tree = shortestPaths(from: source, within: everything, stopAt: nil)
        var slots = [Int32](repeating: -1, count: tree.range.count)
        var result: [Route] = []
        result.reserveCapacity(destinations.count)
        for destination in destinations {
            if destination == source {
                result.append(try route(from: source, to: destination))
                continue
            }
            let common = cluster.domains[Int(cluster.lowestCommonDomain(source, destination))].devices
            if let route = extract(tree, to: destination, within: common, slots: &slots) {
                result.append(route)
            } else {
                result.append(try route(from: source, to: destination))
            }
        }
        return result
    }

    /// Distances from `source` (Dijkstra with the integer link costs), settled flags, over `range`.
    private struct ShortestPaths {
        let source: Int32
        let range: Range<Int32>
        var distance: [UInt64]
        var settled: [Bool]
    }

    private func forwards(_ device: Int32, source: Int32) -> Bool {
        device == source || cluster.groups[Int(cluster.devices[Int(device)].group)].forwards
    }

    private func shortestPaths(from source: Int32, within range: Range<Int32>, stopAt target: Int32?) -> ShortestPaths {
        let base = range.lowerBound
        var paths = ShortestPaths(
            source: source, range: range, distance: [UInt64](repeating: .max, count: range.count),
            settled: [Bool](repeating: false, count: range.count))
        var heap = MinHeap()
        paths.distance[Int(source - base)] = 0
        heap.push(0, source)
        while let (cost, device) = heap.pop() {
            if paths.settled[Int(device - base)] { continue }
            paths.settled[Int(device - base)] = true
            if device == target { break }
            if !forwards(device, source: source) { continue }
            for arc in cluster.outgoingArcs(of: device) {
                let next = cluster.head(of: arc)
                guard range.contains(next), !paths.settled[Int(next - base)] else { continue }
                let candidate = cost + self.cost(of: Int(arc >> 1))
                if candidate < paths.distance[Int(next - base)] {
                    paths.distance[Int(next - base)] = candidate
                    heap.push(candidate, next)
                }
            }
        }
        return paths
    }

    private func search(from source: Int32, to destination: Int32, within range: Range<Int32>) -> Route? {
        var slots = [Int32](repeating: -1, count: range.count)
        return extract(shortestPaths(from: source, within: range, stopAt: destination), to: destination, within: range, slots: &slots)
    }

    /// The minimal-path DAG from the tree's source to `destination`, restricted to `limit`, with
    /// ECMP shares, path counts, hops and latency; nil when no minimal path stays inside `limit`.
    ///
    /// An arc u→v is on a minimal path when v is (walking back from the destination) and
    /// dist(u) + cost = dist(v). Per-node state lives in arrays indexed by the node's position in
    /// the DAG; `slots` maps a device (relative to the tree's range) to that position, -1 for none.
    /// The caller owns it so many routes from one tree share it; it is all -1 again on return.
    private func extract(_ tree: ShortestPaths, to destination: Int32, within limit: Range<Int32>, slots: inout [Int32]) -> Route? {
        let source = tree.source
        let base = tree.range.lowerBound
        @inline(__always) func local(_ device: Int32) -> Int { Int(device - base) }
        guard tree.range.contains(destination), tree.settled[local(destination)] else { return nil }
        @inline(__always) func onMinimalPath(_ arc: Int32, into device: Int32) -> Bool {
            let previous = cluster.tail(of: arc)
            return limit.contains(previous) && tree.range.contains(previous) && tree.settled[local(previous)]
                && forwards(previous, source: source)
                && tree.distance[local(previous)] &+ cost(of: Int(arc >> 1)) == tree.distance[local(device)]
        }
        // Walk back from the destination: the DAG's nodes, each with a slot.
        var nodes: [Int32] = [destination]
        slots[local(destination)] = 0
        defer { for node in nodes { slots[local(node)] = -1 } }
        var cursor = 0
        while cursor < nodes.count {
            let device = nodes[cursor]
            cursor += 1
            for reverse in cluster.outgoingArcs(of: device) where onMinimalPath(reverse ^ 1, into: device) {
                let previous = cluster.head(of: reverse)
                if slots[local(previous)] < 0 {
                    slots[local(previous)] = Int32(nodes.count)
                    nodes.append(previous)
                }
            }
        }
        guard slots[local(source)] >= 0 else { return nil }
        // Forward pass in order of distance: ECMP shares, path counts, hops and latency.
        var order = Array(nodes.indices)
        order.sort { tree.distance[local(nodes[$0])] < tree.distance[local(nodes[$1])] }
        var inflow = [Double](repeating: 0, count: nodes.count)
        var paths = [Double](repeating: 0, count: nodes.count)
        var fewest = [Int](repeating: .max, count: nodes.count)
        var most = [Int](repeating: 0, count: nodes.count)
        var latency = [Double](repeating: 0, count: nodes.count)
        let start = Int(slots[local(source)])
        inflow[start] = 1
        paths[start] = 1
        fewest[start] = 0
        var shares: [ArcShare] = []
        var bottleneck = Double.infinity
        var next: [(arc: Int32, slot: Int)] = []
        for index in order where nodes[index] != destination {
            next.removeAll(keepingCapacity: true)
            for arc in cluster.outgoingArcs(of: nodes[index]) {
                let head = cluster.head(of: arc)
                guard tree.range.contains(head) else { continue }
                let target = Int(slots[local(head)])
                if target >= 0, onMinimalPath(arc, into: head) { next.append((arc, target)) }
            }
            for (arc, target) in next {
                let link = cluster.links[Int(arc >> 1)]
                let share = inflow[index] / Double(next.count)
                shares.append(ArcShare(arc: arc, share: share))
                bottleneck = min(bottleneck, link.bandwidth / share)
                inflow[target] += share
                paths[target] += paths[index]
                fewest[target] = min(fewest[target], fewest[index] + 1)
                most[target] = max(most[target], most[index] + 1)
                latency[target] = max(latency[target], latency[index] + link.latency)
            }
        }
        return Route(
            source: source, destination: destination, arcs: shares, pathCount: paths[0], minimumHops: fewest[0],
            maximumHops: most[0], latency: latency[0], bottleneckBandwidth: bottleneck)
    }
}

/// A binary min-heap of (cost, device), the priority queue of Dijkstra's algorithm.
private struct MinHeap {
    private var items: [(UInt64, Int32)] = []

    mutating func push(_ cost: UInt64, _ device: Int32) {
        items.append((cost, device))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].0 < items[parent].0 else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (UInt64, Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && items[left].0 < items[smallest].0 { smallest = left }
                if right < items.count && items[right].0 < items[smallest].0 { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
