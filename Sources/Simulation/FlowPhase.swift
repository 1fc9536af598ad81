import Topology

/// One step pattern of a collective: flows that run at the same time, each repeated a number of
/// times (a ring of n ranks repeats its step n−1 or 2(n−1) times).
///
/// Every collective except the all-to-all is a short list of phases with O(ranks) flows each; both
/// communication models cost the same phases, so they differ only in how a set of concurrent flows
/// is timed (max-min fair flows, or the busiest arc's load).
struct FlowPhase {
    var flows: [Flow] = []
    /// Accelerator rank of each flow's source and destination.
    var ranks: [(source: Int32, destination: Int32)] = []
    var repetitions: [Double] = []
    /// Pipelined trees add their fill: 2 · depth · the longest hop latency.
    var treeDepth = 0

    mutating func add(_ cluster: Cluster, from source: Int32, to destination: Int32, bytes: Double, repetitions count: Double) {
        flows.append(Flow(source: cluster.accelerators[Int(source)], destination: cluster.accelerators[Int(destination)], bytes: bytes))
        ranks.append((source, destination))
        repetitions.append(count)
    }

    /// The phases of every collective kind but the all-to-all, in order.
    static func phases(of collective: Collective, on cluster: Cluster) throws -> [FlowPhase] {
        let groups = collective.groups
        let bytes = collective.bufferBytes
        switch collective.kind {
        case .allToAll:
            preconditionFailure("all-to-alls are costed by each model directly")
        case .pointToPoint:
            var phase = FlowPhase()
            for (group, size) in zip(groups, bytes) where group.count == 2 {
                phase.add(cluster, from: group[0], to: group[1], bytes: size, repetitions: 1)
            }
            return [phase]
        case .reduceScatter, .allGather:
            return [ring(groups, bytes: bytes, stepsPerRank: 1, cluster: cluster)]
        case .allReduce(.ring):
            return [ring(groups, bytes: bytes, stepsPerRank: 2, cluster: cluster)]
        case .allReduce(.tree):
            return [doubleBinaryTree(groups, bytes: bytes, cluster: cluster)]
        case .allReduce(.hierarchical(let levelName)):
            guard let level = cluster.level(named: levelName) else {
                throw UnknownLevelError(level: levelName, known: cluster.levels.map(\.name))
            }
            // Inner rings inside each domain, outer rings across domains among the ranks with the
            // same position inside their domain.
            var inner: [[Int32]] = []
            var innerBytes: [Double] = []
            var outer: [[Int32]] = []
            var outerBytes: [Double] = []
            for (group, size) in zip(groups, bytes) {
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
                    innerBytes.append(size)
                }
                for position in 0..<width {
                    outer.append(members.map { $0[position] })
                    outerBytes.append(size / Double(width))
                }
            }
            let reduceScatter = ring(inner, bytes: innerBytes, stepsPerRank: 1, cluster: cluster)
            return [reduceScatter, ring(outer, bytes: outerBytes, stepsPerRank: 2, cluster: cluster), reduceScatter]
        }
    }

    /// Ring algorithms: each rank sends S/n to its successor per step, `stepsPerRank`·(n−1) steps
    /// (1 for reduce-scatter and all-gather, 2 for all-reduce).
    private static func ring(_ groups: [[Int32]], bytes: [Double], stepsPerRank: Int, cluster: Cluster) -> FlowPhase {
        var phase = FlowPhase()
        for (group, buffer) in zip(groups, bytes) where group.count > 1 {
            let steps = Double(stepsPerRank * (group.count - 1))
            for (position, rank) in group.enumerated() {
                phase.add(cluster, from: rank, to: group[(position + 1) % group.count], bytes: buffer / Double(group.count), repetitions: steps)
            }
        }
        return phase
    }

    /// NCCL's double binary tree: two trees over the ranks (the second shifted by one so most leaves
    /// of one are inner nodes of the other), each carrying half the buffer up and down at once, pipelined.
    private static func doubleBinaryTree(_ groups: [[Int32]], bytes: [Double], cluster: Cluster) -> FlowPhase {
        var phase = FlowPhase()
        for (group, buffer) in zip(groups, bytes) where group.count > 1 {
            let count = group.count
            phase.treeDepth = max(phase.treeDepth, Int.bitWidth - count.leadingZeroBitCount - 1)  // ⌊log2 n⌋
            for shift in 0..<2 {
                for position in 1..<count {
                    let child = group[(position + shift) % count]
                    let parent = group[((position - 1) / 2 + shift) % count]
                    phase.add(cluster, from: child, to: parent, bytes: buffer / 2, repetitions: 1)
                    phase.add(cluster, from: parent, to: child, bytes: buffer / 2, repetitions: 1)
                }
            }
        }
        return phase
    }
}

/// A hierarchical all-reduce named a level the cluster does not have.
public struct UnknownLevelError: Error, CustomStringConvertible {
    public let level: String
    public let known: [String]
    public var description: String { "the cluster has no level '\(level)' (levels: \(known.joined(separator: ", ")))" }
}

/// Sums time, per-level bytes and per-arc bytes over the phases of a collective.
struct TrafficTally {
    let cluster: Cluster
    let participants: Int
    var seconds = 0.0
    var levelBytes: [String: Double] = [:]
    var arcBytes: [Int32: Double] = [:]

    init(cluster: Cluster, participants: Int) {
        self.cluster = cluster
        self.participants = participants
    }

    /// Counts `bytes` from `source` to `destination` (devices) over the arcs of a route.
    mutating func add(bytes: Double, from source: Int32, to destination: Int32, arcs: [ArcShare]) {
        guard bytes > 0 else { return }
        for level in cluster.levelsCrossed(between: source, and: destination) {
            levelBytes[level.name, default: 0] += bytes
        }
        for item in arcs { arcBytes[item.arc, default: 0] += bytes * item.share }
    }

    var result: CollectiveResult {
        let perRank = participants > 0 ? levelBytes.mapValues { $0 / Double(participants) } : [:]
        return CollectiveResult(seconds: seconds, bytesPerRankByLevel: perRank, arcBytes: arcBytes)
    }
}

/// Bytes per arc in a dense array (adding is an index, not a hash), with the arcs touched listed
/// so the sparse result costs only what was used.
struct ArcLoads {
    private(set) var bytes: [Double]
    private(set) var touched: [Int32] = []

    init(arcCount: Int) { bytes = [Double](repeating: 0, count: arcCount) }

    @inline(__always) subscript(arc: Int32) -> Double { bytes[Int(arc)] }

    @inline(__always) mutating func add(_ amount: Double, to arc: Int32) {
        if bytes[Int(arc)] == 0 { touched.append(arc) }
        bytes[Int(arc)] += amount
    }

    var sparse: [Int32: Double] {
        var result: [Int32: Double] = [:]
        result.reserveCapacity(touched.count)
        for arc in touched where bytes[Int(arc)] != 0 { result[arc] = bytes[Int(arc)] }
        return result
    }
}
