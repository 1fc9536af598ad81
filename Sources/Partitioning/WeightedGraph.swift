import Workload
/// The graph the `tp` partitioner works on: an affinity graph in CSR with a cost per vertex, and
/// the two operations of multilevel partitioning on it, heavy-edge coarsening and induced
/// subgraphs. Internal: `AffinityGraph` is the public face.
struct WeightedGraph {
    var offsets: [Int]
    var targets: [Int32]
    var weights: [Double]
    var vertexWeights: [Double]

    var count: Int { vertexWeights.count }

    /// Weight of the edges between parts. Cost: O(E).
    func cut(_ part: [Int]) -> Double {
        var sum = 0.0
        for v in 0..<count {
            for edge in offsets[v]..<offsets[v + 1] where part[Int(targets[edge])] != part[v] { sum += weights[edge] }
        }
        return sum / 2
    }
    var totalVertexWeight: Double { vertexWeights.reduce(0, +) }

    init(offsets: [Int], targets: [Int32], weights: [Double], vertexWeights: [Double]) {
        self.offsets = offsets
        self.targets = targets
        self.weights = weights
        self.vertexWeights = vertexWeights
    }

    init(_ graph: AffinityGraph, vertexWeights: [Double]) {
        self.init(offsets: graph.offsets, targets: graph.targets, weights: graph.weights, vertexWeights: vertexWeights)
    }

    /// Heavy-edge matching (Karypis & Kumar 1998): vertices in a seeded random order, each
    /// unmatched one paired with the unmatched neighbour it shares the heaviest edge with, as long
    /// as the pair weighs at most `maxVertexWeight`; then every pair becomes one vertex, with the
    /// edges between two pairs summed. Contracting heavy edges keeps them out of any cut made on
    /// the coarse graph. Returns the coarse graph and the coarse vertex of each vertex.
    /// Cost: O(V + E).
    func coarsened(maxVertexWeight: Double, random: inout SeededGenerator) -> (graph: WeightedGraph, map: [Int32]) {
        var match = [Int32](repeating: -1, count: count)
        for v in Array(0..<count).shuffled(using: &random) where match[v] < 0 {
            var best = -1
            var heaviest = 0.0
            for edge in offsets[v]..<offsets[v + 1] {
                let u = Int(targets[edge])
                if match[u] < 0, u != v, weights[edge] > heaviest, vertexWeights[v] + vertexWeights[u] <= maxVertexWeight {
                    best = u
                    heaviest = weights[edge]
                }
            }
            match[v] = Int32(best >= 0 ? best : v)
            if best >= 0 { match[best] = Int32(v) }
        }
        var map = [Int32](repeating: -1, count: count)
        var members: [(Int, Int)] = []
        for v in 0..<count where map[v] < 0 {
            let partner = Int(match[v])
            map[v] = Int32(members.count)
            map[partner] = Int32(members.count)
            members.append((v, partner))
        }
        var coarseOffsets = [0]
        var coarseTargets: [Int32] = []
        var coarseWeights: [Double] = []
        var coarseVertexWeights: [Double] = []
        var slot = [Int](repeating: -1, count: members.count)
        for (coarse, pair) in members.enumerated() {
            let start = coarseTargets.count
            for v in pair.0 == pair.1 ? [pair.0] : [pair.0, pair.1] {
                for edge in offsets[v]..<offsets[v + 1] {
                    let target = map[Int(targets[edge])]
                    if Int(target) == coarse { continue }
                    let existing = slot[Int(target)]
                    if existing >= start {
                        coarseWeights[existing] += weights[edge]
                    } else {
                        slot[Int(target)] = coarseTargets.count
                        coarseTargets.append(target)
                        coarseWeights.append(weights[edge])
                    }
                }
            }
            coarseOffsets.append(coarseTargets.count)
            coarseVertexWeights.append(pair.0 == pair.1 ? vertexWeights[pair.0] : vertexWeights[pair.0] + vertexWeights[pair.1])
        }
        return (WeightedGraph(offsets: coarseOffsets, targets: coarseTargets, weights: coarseWeights, vertexWeights: coarseVertexWeights), map)
    }

    /// The subgraph induced by `vertices` (numbered in the order given), edges to other vertices
    /// dropped. `scratch` has one entry per vertex of this graph, all −1, and is left so.
    /// Cost: O(Σ degree of `vertices`).
    func induced(by vertices: [Int], scratch: inout [Int32]) -> WeightedGraph {
        for (local, v) in vertices.enumerated() { scratch[v] = Int32(local) }
        var subOffsets = [0]
        var subTargets: [Int32] = []
        var subWeights: [Double] = []
        for v in vertices {
            for edge in offsets[v]..<offsets[v + 1] where scratch[Int(targets[edge])] >= 0 {
                subTargets.append(scratch[Int(targets[edge])])
                subWeights.append(weights[edge])
            }
            subOffsets.append(subTargets.count)
        }
        for v in vertices { scratch[v] = -1 }
        return WeightedGraph(offsets: subOffsets, targets: subTargets, weights: subWeights, vertexWeights: vertices.map { vertexWeights[$0] })
    }
}

/// A binary max-heap of (key, vertex) with lazy deletion: a caller pushes a vertex again when
/// its key changes and skips popped entries whose key is stale. O(log n) per push and pop.
struct MaxHeap {
    private var keys: [Double] = []
    private var items: [Int32] = []

    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
    }

    mutating func push(_ key: Double, _ item: Int) {
        keys.append(key)
        items.append(Int32(item))
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard keys[parent] < keys[child] else { break }
            keys.swapAt(parent, child)
            items.swapAt(parent, child)
            child = parent
        }
    }

    /// The entry with the largest key.
    var top: (key: Double, item: Int)? { keys.isEmpty ? nil : (keys[0], Int(items[0])) }

    mutating func pop() {
        let last = keys.count - 1
        keys.swapAt(0, last)
        items.swapAt(0, last)
        keys.removeLast()
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var largest = parent
            if left < keys.count, keys[left] > keys[largest] { largest = left }
            if right < keys.count, keys[right] > keys[largest] { largest = right }
            if largest == parent { break }
            keys.swapAt(parent, largest)
            items.swapAt(parent, largest)
            parent = largest
        }
    }
}
