/// Capacity figures of one level of the hierarchy, measured on its first instance.
public struct LevelSummary: Sendable {
    public let level: Level
    /// Instances of the level in the whole cluster.
    public let count: Int
    /// Accelerators inside one instance.
    public let acceleratorsPerInstance: Int
    /// Devices inside one instance (all kinds, nested levels included).
    public let devicesPerInstance: Int
    /// Total bandwidth of the links leaving one instance, bytes/s per direction. Zero for the root.
    public let uplinkBandwidth: Double
    /// Total bandwidth, inside one instance, of the links attached to the devices that have uplinks:
    /// what the instance can feed its uplinks with.
    public let downlinkBandwidth: Double
    /// downlink / uplink: 7 for a 1:7 oversubscribed level, 1 for non-blocking; below 1 when the
    /// uplinks could carry more than the level feeds them. Nil for the root.
    public let oversubscription: Double?
    /// Most traffic one half of the instance's children can send to the other half at once,
    /// bytes/s per direction (a max-flow across the split; children are the child domains, or
    /// the accelerators where there are none).
    public let bisectionBandwidth: Double
    /// Whether instances of this level differ in accelerator count (heterogeneous cluster):
    /// the figures above are then those of the first instance.
    public let heterogeneous: Bool
}

extension Cluster {
    /// One summary per level, root first.
    ///
    /// Cost: linear in the links of one instance per level, plus a max-flow on the instance with
    /// its child domains contracted to single vertices (a few hundred vertices for the Llama 3 pods).
    public func levelSummaries() -> [LevelSummary] {
        levels.map { level in
            let instances = domains.indices.filter { domains[$0].level == level.index }
            let first = Int32(instances[0])
            let domain = domains[Int(first)]
            let sizes = Set(instances.map { domains[$0].accelerators.count })
            var uplink = 0.0
            var portDevices = Set<Int32>()
            for link in links where domain.devices.contains(link.a) != domain.devices.contains(link.b) {
                uplink += link.bandwidth
                portDevices.insert(domain.devices.contains(link.a) ? link.a : link.b)
            }
            var downlink = 0.0
            for link in links where domain.devices.contains(link.a) && domain.devices.contains(link.b)
                && (portDevices.contains(link.a) || portDevices.contains(link.b))
            {
                downlink += link.bandwidth
            }
            return LevelSummary(
                level: level, count: instances.count, acceleratorsPerInstance: domain.accelerators.count,
                devicesPerInstance: domain.devices.count, uplinkBandwidth: uplink, downlinkBandwidth: downlink,
                oversubscription: uplink > 0 ? downlink / uplink : nil, bisectionBandwidth: bisection(of: first),
                heterogeneous: sizes.count > 1)
        }
    }

    /// Max-flow between the first and second half of a domain's children (or accelerators).
    func bisection(of domain: Int32) -> Double {
        let item = domains[Int(domain)]
        let children = Array(self.children(of: domain))
        // Vertex of each device: its child domain (contracted) or itself.
        var vertexOf: [Int32: Int] = [:]
        var vertexCount = 0
        var units: [Int] = []
        if children.isEmpty {
            for device in item.devices {
                vertexOf[device] = vertexCount
                if devices[Int(device)].kind == .accelerator { units.append(vertexCount) }
                vertexCount += 1
            }
        } else {
            for child in children {
                for device in domains[Int(child)].devices { vertexOf[device] = vertexCount }
                units.append(vertexCount)
                vertexCount += 1
            }
            for device in item.devices where vertexOf[device] == nil {
                vertexOf[device] = vertexCount
                vertexCount += 1
            }
        }
        guard units.count >= 2 else { return 0 }
        var network = FlowNetwork(vertexCount: vertexCount + 2)
        let source = vertexCount
        let sink = vertexCount + 1
        for link in links {
            guard let a = vertexOf[link.a], let b = vertexOf[link.b], a != b else { continue }
            network.addEdge(a, b, capacity: link.bandwidth, reverseCapacity: link.bandwidth)
        }
        let half = units.count / 2
        for (index, unit) in units.enumerated() {
            // Odd counts: the middle unit sits out, so both sides have the same size.
            if index < half {
                network.addEdge(source, unit, capacity: .infinity, reverseCapacity: 0)
            } else if index >= units.count - half {
                network.addEdge(unit, sink, capacity: .infinity, reverseCapacity: 0)
            }
        }
        return network.maximumFlow(from: source, to: sink)
    }
}

/// Dinic's max-flow on a small graph. O(V²E) worst case; the graphs here have at most a few
/// thousand edges.
struct FlowNetwork {
    private var heads: [Int] = []
    private var capacities: [Double] = []
    private var adjacency: [[Int]]

    init(vertexCount: Int) { adjacency = Array(repeating: [], count: vertexCount) }

    /// Adds an edge and its residual twin (edge index ^ 1).
    mutating func addEdge(_ from: Int, _ to: Int, capacity: Double, reverseCapacity: Double) {
        adjacency[from].append(heads.count)
        heads.append(to)
        capacities.append(capacity)
        adjacency[to].append(heads.count)
        heads.append(from)
        capacities.append(reverseCapacity)
    }

    mutating func maximumFlow(from source: Int, to sink: Int) -> Double {
        var total = 0.0
        while true {
            var level = [Int](repeating: -1, count: adjacency.count)
            level[source] = 0
            var queue = [source]
            var head = 0
            while head < queue.count {
                let vertex = queue[head]
                head += 1
                for edge in adjacency[vertex] where capacities[edge] > 1e-9 && level[heads[edge]] < 0 {
                    level[heads[edge]] = level[vertex] + 1
                    queue.append(heads[edge])
                }
            }
            guard level[sink] >= 0 else { return total }
            var next = [Int](repeating: 0, count: adjacency.count)
            while true {
                let pushed = augment(source, sink, .infinity, &level, &next)
                if pushed <= 1e-9 { break }
                total += pushed
            }
        }
    }

    private mutating func augment(_ vertex: Int, _ sink: Int, _ limit: Double, _ level: inout [Int], _ next: inout [Int]) -> Double {
        if vertex == sink { return limit }
        while next[vertex] < adjacency[vertex].count {
            let edge = adjacency[vertex][next[vertex]]
            let target = heads[edge]
            if capacities[edge] > 1e-9 && level[target] == level[vertex] + 1 {
                let pushed = augment(target, sink, min(limit, capacities[edge]), &level, &next)
                if pushed > 0 {
                    capacities[edge] -= pushed
                    capacities[edge ^ 1] += pushed
                    return pushed
                }
            }
            next[vertex] += 1
        }
        return 0
    }
}
