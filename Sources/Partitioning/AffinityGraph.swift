/// The feature–feature affinity as an undirected weighted graph: vertex f is feature f, an edge
/// {f, g} of weight a_fg > 0 says how strongly the two interact. Stored in compressed sparse rows
/// (CSR), each edge once in each direction, so a vertex's neighbours are one contiguous slice.
///
/// Why sparse: an embeddings file holds a dense F×F matrix, but partitioning only needs the
/// strong edges, and at 10,000 features the dense matrix alone is 800 MB. `strongest(_:)` keeps
/// the k heaviest edges of each vertex (O(F·k) memory). Metrics are taken on the full graph
/// (`init(dense:count:)`), so sparsifying never changes what a partition is scored on.
public struct AffinityGraph: Sendable, Hashable {
    /// F.
    public let vertexCount: Int
    /// Neighbours of vertex v: `targets[offsets[v]..<offsets[v+1]]`, with `weights` alongside.
    public let offsets: [Int]
    public let targets: [Int32]
    public let weights: [Double]

    /// A graph from undirected edges (f, g, weight): self-loops and non-positive weights are
    /// dropped, the weights of repeated pairs are added. Cost: O(F + E log E) (a sort of the edges).
    public init(vertexCount: Int, edges: [(Int, Int, Double)]) {
        var directed: [(Int32, Int32, Double)] = []
        directed.reserveCapacity(edges.count * 2)
        for (f, g, weight) in edges where f != g && weight > 0 {
            directed.append((Int32(f), Int32(g), weight))
            directed.append((Int32(g), Int32(f), weight))
        }
        directed.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var offsets = [Int](repeating: 0, count: vertexCount + 1)
        var targets: [Int32] = []
        var weights: [Double] = []
        for (index, edge) in directed.enumerated() {
            if index > 0, directed[index - 1].0 == edge.0, directed[index - 1].1 == edge.1 {
                weights[weights.count - 1] += edge.2
                continue
            }
            targets.append(edge.1)
            weights.append(edge.2)
            offsets[Int(edge.0) + 1] += 1
        }
        for v in 0..<vertexCount { offsets[v + 1] += offsets[v] }
        self.init(vertexCount: vertexCount, offsets: offsets, targets: targets, weights: weights)
    }

    /// The full graph of a dense symmetric matrix (row-major, `count`×`count`): every positive
    /// off-diagonal entry is an edge; the diagonal is ignored. Cost: O(F²).
    public init(dense matrix: [Double], count: Int) {
        var offsets = [0]
        var targets: [Int32] = []
        var weights: [Double] = []
        for f in 0..<count {
            for g in 0..<count where g != f && matrix[f * count + g] > 0 {
                targets.append(Int32(g))
                weights.append(matrix[f * count + g])
            }
            offsets.append(targets.count)
        }
        self.init(vertexCount: count, offsets: offsets, targets: targets, weights: weights)
    }

    init(vertexCount: Int, offsets: [Int], targets: [Int32], weights: [Double]) {
        self.vertexCount = vertexCount
        self.offsets = offsets
        self.targets = targets
        self.weights = weights
    }

    /// Undirected edges.
    public var edgeCount: Int { targets.count / 2 }

    /// Σ a_fg over unordered pairs f ≠ g.
    public var totalWeight: Double { weights.reduce(0, +) / 2 }

    /// Weight of the edges whose two ends share a part (`part[f]` is f's tower): the affinity a
    /// partition keeps inside its towers. Cost: O(E).
    public func internalWeight(_ part: [Int]) -> Double {
        var sum = 0.0
        for v in 0..<vertexCount {
            for edge in offsets[v]..<offsets[v + 1] where part[Int(targets[edge])] == part[v] { sum += weights[edge] }
        }
        return sum / 2
    }

    /// Weight of the edges between parts (the cut): total − internal. Cost: O(E).
    public func cutWeight(_ part: [Int]) -> Double { totalWeight - internalWeight(part) }

    /// The sparsified graph: each vertex keeps its `k` heaviest edges (ties to the lower
    /// neighbour index), and an edge survives when either end keeps it, so the result stays
    /// symmetric and every vertex keeps at least min(k, degree) edges. Weights are unchanged.
    ///
    /// Why: an affinity from learned embeddings is dense but mostly weak; the partition is decided
    /// by each feature's strongest partners, and the partitioner's cost is linear in edges.
    /// Cost: O(Σ_v d_v log d_v) time for degrees d_v (a sort of each vertex's edges), O(F·k) memory.
    public func strongest(_ k: Int) -> AffinityGraph {
        var kept: [[Int32]] = Array(repeating: [], count: vertexCount)
        var keptWeights: [[Double]] = Array(repeating: [], count: vertexCount)
        let (weights, targets) = (self.weights, self.targets)
        for v in 0..<vertexCount {
            let range = offsets[v]..<offsets[v + 1]
            let chosen: [Int]
            if range.count <= k {
                chosen = Array(range)
            } else {
                chosen = Array(range.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : targets[$0] < targets[$1] }.prefix(k))
            }
            for edge in chosen {
                let u = Int(targets[edge])
                kept[v].append(targets[edge])
                keptWeights[v].append(weights[edge])
                kept[u].append(Int32(v))
                keptWeights[u].append(weights[edge])
            }
        }
        // Each kept edge was recorded at both ends, twice when both ends chose it: keep one copy.
        var keptOffsets = [0]
        var keptTargets: [Int32] = []
        var keptWeightList: [Double] = []
        var seen = [Int](repeating: -1, count: vertexCount)
        for v in 0..<vertexCount {
            for (u, weight) in zip(kept[v], keptWeights[v]) where seen[Int(u)] != v {
                seen[Int(u)] = v
                keptTargets.append(u)
                keptWeightList.append(weight)
            }
            keptOffsets.append(keptTargets.count)
        }
        return AffinityGraph(vertexCount: vertexCount, offsets: keptOffsets, targets: keptTargets, weights: keptWeightList)
    }
}
