import Foundation
import Workload

/// `tp`: the tower partitioner of DESIGN §1.2 — a balanced minimum cut of the feature affinity
/// graph, every tower's cost ≤ (1 + ε)·mean, so strongly interacting features share a tower and
/// no tower makes its domain a straggler.
///
/// Algorithm: multilevel recursive bisection followed by direct k-way refinement, the design of
/// METIS's `pmetis` + k-way refinement (Karypis & Kumar 1998):
/// 1. the affinity graph is sparsified to each feature's `neighbours` strongest edges
///    (`AffinityGraph.strongest`);
/// 2. T towers are made by splitting the features in two, ⌊T/2⌋ : ⌈T/2⌉ by cost, and recursing.
///    Each bisection is itself multilevel: heavy-edge coarsening down to ~`coarsestSize`
///    vertices, greedy graph growing from several seeded starts on the coarsest graph, then
///    Fiduccia–Mattheyses refinement (hill-climbing with rollback) at every level on the way back
///    up. Each bisection may miss its cost target by (1 + ε)^(1/⌈log₂T⌉), so the allowances
///    compound to at most 1 + ε;
/// 3. a greedy k-way boundary refinement on the full graph moves features to the tower they are
///    most connected to, or swaps them with a member of it, never past the bound, and moves
///    features out of any tower over it;
/// 4. `TowerLoads.finish` fills empty towers and repairs what is still over the bound by moves and
///    swaps that lose the least affinity; where that gets stuck (few features per tower, a tight
///    bound), the longest-processing-time packing (`GreedyPartitioner`) is the start instead;
/// 5. a last k-way refinement; the whole run is repeated `trials` times from different random
///    streams and the smallest cut kept.
///
/// Why multilevel rather than spectral: spectral bisection needs the Fiedler vector of every
/// subgraph (Lanczos iterations, each O(E)), handles vertex weights and an explicit load bound only
/// through a refinement pass anyway, and on general graphs gives worse cuts than multilevel FM;
/// the multilevel scheme handles costs natively (coarse vertices carry summed costs, every move is
/// checked against the bound), is deterministic given the seed, and is what METIS, the reference
/// it is benchmarked against (`Benchmarks/metis-compare.sh`), does.
///
/// Cost: O(E log E/F) to sparsify, then per trial O(E log T) for the bisections (each level of the
/// recursion touches every edge a constant number of times per FM pass) and O(E + F·s·k) per
/// k-way pass, s = F/T features per tower; E ≤ 2·F·k after sparsifying.
public struct MultilevelPartitioner: TowerPartitioner {
    /// k: edges kept per feature before partitioning.
    public var neighbours: Int
    /// Bisections stop coarsening at about this many vertices.
    public var coarsestSize: Int
    /// Greedy-growing starts tried on each coarsest graph (the best cut after FM is kept).
    public var growingTries: Int
    /// Whole runs (bisections and refinement) from different random streams; the smallest cut wins.
    public var trials: Int

    public init(neighbours: Int = 32, coarsestSize: Int = 64, growingTries: Int = 4, trials: Int = 4) {
        self.neighbours = neighbours
        self.coarsestSize = coarsestSize
        self.growingTries = growingTries
        self.trials = trials
    }

    public var name: String { "tp" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        let bound = try BalanceBound(problem)
        guard let affinity = problem.affinity else {
            throw .missingInput(strategy: name, needs: "a feature affinity; " + TowerPartitionError.embeddingsHint)
        }
        guard affinity.vertexCount == problem.count else {
            throw .invalidProblem("the affinity has \(affinity.vertexCount) features, the problem \(problem.count)")
        }
        let graph = WeightedGraph(affinity.strongest(neighbours), vertexWeights: problem.costs)
        var random = SeededGenerator(seed: problem.seed)
        var outcomes: [Result<[Int], TowerPartitionError>] = []
        for _ in 0..<max(1, trials) {
            outcomes.append(Result { () throws(TowerPartitionError) in try run(graph, problem: problem, bound: bound, random: &random) })
        }
        let cuts = outcomes.compactMap { outcome in (try? outcome.get()).map { (part: $0, cut: graph.cut($0)) } }
        // Every trial failing is the only way to get no best; the first failure says why.
        guard let best = cuts.min(by: { $0.cut < $1.cut }) else { return try outcomes[0].get() }
        return best.part
    }

    /// One run: recursive bisection, k-way refinement, repair, k-way refinement.
    private func run(_ graph: WeightedGraph, problem: PartitionProblem, bound: BalanceBound, random: inout SeededGenerator) throws(TowerPartitionError) -> [Int] {
        let depth = max(1, ceilLog2(bound.towerCount))
        let tolerance = pow1p(problem.epsilon, 1 / Double(depth))
        var part = [Int](repeating: 0, count: graph.count)
        var scratch = [Int32](repeating: -1, count: graph.count)
        var stack: [(vertices: [Int], first: Int, towers: Int)] = [(Array(0..<graph.count), 0, bound.towerCount)]
        while let (vertices, first, towers) = stack.popLast() {
            guard towers > 1, vertices.count > 1 else {
                for v in vertices { part[v] = first }
                continue
            }
            let left = towers / 2
            let sub = graph.induced(by: vertices, scratch: &scratch)
            let side = bisect(sub, leftShare: Double(left) / Double(towers), tolerance: tolerance, random: &random)
            stack.append((vertices.indices.filter { side[$0] == 1 }.map { vertices[$0] }, first + left, towers - left))
            stack.append((vertices.indices.filter { side[$0] == 0 }.map { vertices[$0] }, first, left))
        }
        var loads = TowerLoads(part: part, costs: problem.costs, bound: bound)
        refineKWay(graph, loads: &loads, random: &random)
        do {
            try loads.finish(strategy: name, epsilon: problem.epsilon) { feature, tower, part in
                connection(of: feature, to: tower, in: graph, part: part)
            }
        } catch {
            // Few features per tower and a tight bound can leave the bisections' towers in a
            // state no single move or swap evens out. Longest-processing-time packing meets such
            // bounds far more often; start from it instead and let the refinement recover the cut.
            guard let packed = try? GreedyPartitioner().partition(problem) else { throw error }
            loads = TowerLoads(part: packed, costs: problem.costs, bound: bound)
        }
        refineKWay(graph, loads: &loads, random: &random)
        return loads.part
    }

    /// ⌈log₂ n⌉ for n ≥ 1.
    private func ceilLog2(_ n: Int) -> Int { n <= 1 ? 0 : Int.bitWidth - (n - 1).leadingZeroBitCount }

    /// (1 + x)^p − 1.
    private func pow1p(_ x: Double, _ p: Double) -> Double { exp(p * log1p(x)) - 1 }

    /// Affinity between `feature` and the features in `tower`. Cost: O(degree).
    private func connection(of feature: Int, to tower: Int, in graph: WeightedGraph, part: [Int]) -> Double {
        var sum = 0.0
        for edge in graph.offsets[feature]..<graph.offsets[feature + 1] where part[Int(graph.targets[edge])] == tower {
            sum += graph.weights[edge]
        }
        return sum
    }

    // MARK: Bisection

    /// Splits `graph` in two, side 0 holding about `leftShare` of the cost (within 1 + tolerance
    /// of each side's target), with a small cut: multilevel, as described on the type.
    func bisect(_ graph: WeightedGraph, leftShare: Double, tolerance: Double, random: inout SeededGenerator) -> [UInt8] {
        let total = graph.totalVertexWeight
        let limits = (total * leftShare * (1 + tolerance), total * (1 - leftShare) * (1 + tolerance))
        var levels = [graph]
        var maps: [[Int32]] = []
        while let finest = levels.last, finest.count > coarsestSize {
            let (coarse, map) = finest.coarsened(maxVertexWeight: 1.5 * total / Double(coarsestSize), random: &random)
            if Double(coarse.count) > 0.95 * Double(finest.count) { break }
            levels.append(coarse)
            maps.append(map)
        }
        let coarsest = levels[levels.count - 1]
        var best: (side: [UInt8], cut: Double, excess: Double)?
        for _ in 0..<max(1, growingTries) {
            var side = grow(coarsest, leftTarget: total * leftShare, leftLimit: limits.0, random: &random)
            let cut = refineTwoWay(coarsest, side: &side, limits: limits)
            let excess = Self.excess(coarsest, side, limits)
            if best.map({ excess < $0.excess - 1e-12 || (excess <= $0.excess + 1e-12 && cut < $0.cut) }) ?? true {
                best = (side, cut, excess)
            }
        }
        var side = best?.side ?? [UInt8](repeating: 0, count: coarsest.count)
        for level in stride(from: levels.count - 2, through: 0, by: -1) {
            let map = maps[level]
            side = map.map { side[Int($0)] }
            _ = refineTwoWay(levels[level], side: &side, limits: limits)
        }
        return side
    }

    /// Cost by which the two sides exceed their limits (0 when both are within).
    private static func excess(_ graph: WeightedGraph, _ side: [UInt8], _ limits: (Double, Double)) -> Double {
        var weight = (0.0, 0.0)
        for (v, s) in side.enumerated() {
            if s == 0 { weight.0 += graph.vertexWeights[v] } else { weight.1 += graph.vertexWeights[v] }
        }
        return max(0, weight.0 - limits.0) + max(0, weight.1 - limits.1)
    }

    /// Greedy graph growing: side 0 starts from a random vertex and repeatedly takes the vertex
    /// of side 1 whose move gains the most (affinity to side 0 minus affinity to side 1), skipping
    /// vertices that would take it past `leftLimit`, until it reaches `leftTarget`. A disconnected
    /// remainder is entered at a random vertex. Cost: O(E log V).
    private func grow(_ graph: WeightedGraph, leftTarget: Double, leftLimit: Double, random: inout SeededGenerator) -> [UInt8] {
        let count = graph.count
        var side = [UInt8](repeating: 1, count: count)
        var gain = [Double](repeating: 0, count: count)
        for v in 0..<count {
            for edge in graph.offsets[v]..<graph.offsets[v + 1] { gain[v] -= graph.weights[edge] }
        }
        var skipped = [Bool](repeating: false, count: count)
        var heap = MaxHeap()
        var weight = 0.0
        var remaining = Array(0..<count).shuffled(using: &random)
        while weight < leftTarget {
            var next: Int?
            while let (key, v) = heap.top {
                heap.pop()
                if side[v] == 1, !skipped[v], key == gain[v] {
                    next = v
                    break
                }
            }
            if next == nil {
                while let v = remaining.last, side[v] == 0 || skipped[v] { remaining.removeLast() }
                guard let v = remaining.popLast() else { break }
                next = v
            }
            guard let v = next else { break }
            if weight > 0, weight + graph.vertexWeights[v] > leftLimit {
                skipped[v] = true
                continue
            }
            side[v] = 0
            weight += graph.vertexWeights[v]
            for edge in graph.offsets[v]..<graph.offsets[v + 1] {
                let u = Int(graph.targets[edge])
                guard side[u] == 1 else { continue }
                gain[u] += 2 * graph.weights[edge]
                heap.push(gain[u], u)
            }
        }
        return side
    }

    /// Fiduccia–Mattheyses refinement of a bisection. Each pass moves vertices one at a time, the
    /// highest-gain unlocked vertex first (from the side over its limit when one is), locking each
    /// moved vertex, even through negative gains; after a run of moves without a better state it
    /// rolls back to the best state seen — fewest cost over the limits first, then smallest cut.
    /// Passes repeat while they improve. Returns the cut. Cost: O(E log V) per pass.
    @discardableResult
    func refineTwoWay(_ graph: WeightedGraph, side: inout [UInt8], limits: (Double, Double)) -> Double {
        let count = graph.count
        let limit = [limits.0, limits.1]
        var gain = [Double](repeating: 0, count: count)
        var locked = [Bool](repeating: false, count: count)
        var heaps = [MaxHeap(), MaxHeap()]
        var moves: [Int] = []
        let patience = max(32, min(count / 8, 256))
        var cut = 0.0
        for _ in 0..<8 {
            var weight = [0.0, 0.0]
            cut = 0
            heaps[0].removeAll()
            heaps[1].removeAll()
            for v in 0..<count {
                weight[Int(side[v])] += graph.vertexWeights[v]
                var external = 0.0, inside = 0.0
                for edge in graph.offsets[v]..<graph.offsets[v + 1] {
                    if side[Int(graph.targets[edge])] == side[v] { inside += graph.weights[edge] } else { external += graph.weights[edge] }
                }
                gain[v] = external - inside
                cut += external
                locked[v] = false
                heaps[Int(side[v])].push(gain[v], v)
            }
            cut /= 2
            let excess = { (w: [Double]) in max(0, w[0] - limit[0]) + max(0, w[1] - limit[1]) }
            var best = (moves: 0, cut: cut, excess: excess(weight))
            moves.removeAll(keepingCapacity: true)
            while moves.count - best.moves < patience {
                // The unlocked vertex of each side with the largest gain (stale entries dropped).
                var candidate: [(gain: Double, vertex: Int)?] = [nil, nil]
                for s in 0..<2 {
                    while let (key, v) = heaps[s].top {
                        if locked[v] || Int(side[v]) != s || key != gain[v] {
                            heaps[s].pop()
                            continue
                        }
                        candidate[s] = (key, v)
                        break
                    }
                }
                let fits = { (s: Int) -> Bool in
                    guard let c = candidate[s] else { return false }
                    return weight[1 - s] + graph.vertexWeights[c.vertex] <= limit[1 - s] || weight[s] > limit[s]
                }
                let from: Int
                if weight[0] > limit[0], candidate[0] != nil {
                    from = 0
                } else if weight[1] > limit[1], candidate[1] != nil {
                    from = 1
                } else if fits(0), fits(1) {
                    from = (candidate[0]?.gain ?? -.infinity) >= (candidate[1]?.gain ?? -.infinity) ? 0 : 1
                } else if fits(0) {
                    from = 0
                } else if fits(1) {
                    from = 1
                } else {
                    break
                }
                guard let (moveGain, v) = candidate[from] else { break }
                heaps[from].pop()
                let to = 1 - from
                side[v] = UInt8(to)
                locked[v] = true
                weight[from] -= graph.vertexWeights[v]
                weight[to] += graph.vertexWeights[v]
                cut -= moveGain
                moves.append(v)
                for edge in graph.offsets[v]..<graph.offsets[v + 1] {
                    let u = Int(graph.targets[edge])
                    gain[u] += Int(side[u]) == to ? -2 * graph.weights[edge] : 2 * graph.weights[edge]
                    if !locked[u] { heaps[Int(side[u])].push(gain[u], u) }
                }
                let now = excess(weight)
                if now < best.excess - 1e-12 || (now <= best.excess + 1e-12 && cut < best.cut - 1e-12) {
                    best = (moves.count, cut, now)
                }
            }
            for v in moves[best.moves...] { side[v] = 1 - side[v] }
            cut = best.cut
            if best.moves == 0 { break }
        }
        return cut
    }

    // MARK: k-way refinement

    /// Greedy k-way boundary refinement (METIS's k-way greedy refinement), with swaps for tight
    /// bounds: passes over the features in a seeded order, moving each to the tower it is most
    /// connected to when that saves affinity (or saves none but evens the two loads) and the tower
    /// has room under the bound; a feature in a tower over the bound moves to the best tower with
    /// room even at a loss. When the best tower has no room, the feature is swapped with the
    /// member of that tower whose exchange saves the most affinity and keeps both towers within
    /// the bound — under a 5 % bound most single moves are blocked, swaps are not. No tower is
    /// emptied. Up to 8 passes, until one changes nothing.
    /// Cost: O(E + F) per pass for the moves, O(F · s · d) for the swaps (s features per tower,
    /// d edges per feature).
    private func refineKWay(_ graph: WeightedGraph, loads: inout TowerLoads, random: inout SeededGenerator) {
        var connection = [Double](repeating: 0, count: loads.towerCount)
        var touched: [Int] = []
        var members = [[Int]](repeating: [], count: loads.towerCount)
        for (v, tower) in loads.part.enumerated() { members[tower].append(v) }
        let move = { (v: Int, to: Int, loads: inout TowerLoads, members: inout [[Int]]) in
            members[loads.part[v]].removeAll { $0 == v }
            members[to].append(v)
            loads.place(v, on: to)
        }
        let order = Array(0..<graph.count).shuffled(using: &random)
        for _ in 0..<8 {
            var changed = 0
            for v in order {
                let from = loads.part[v]
                guard loads.size[from] > 1 else { continue }
                for edge in graph.offsets[v]..<graph.offsets[v + 1] {
                    let tower = loads.part[Int(graph.targets[edge])]
                    if connection[tower] == 0 { touched.append(tower) }
                    connection[tower] += graph.weights[edge]
                }
                let overloaded = loads.load[from] > loads.capacity * (1 + 1e-12)
                let stay = connection[from]
                var best: (tower: Int, gain: Double)?
                var wanted: (tower: Int, gain: Double)?
                for tower in touched where tower != from {
                    let gain = connection[tower] - stay
                    if gain > (wanted?.gain ?? 1e-12) { wanted = (tower, gain) }
                    guard loads.fits(v, on: tower) else { continue }
                    if best.map({ gain > $0.gain + 1e-12 || (gain >= $0.gain - 1e-12 && loads.load[tower] < loads.load[$0.tower]) }) ?? true {
                        best = (tower, gain)
                    }
                }
                for tower in touched { connection[tower] = 0 }
                touched.removeAll(keepingCapacity: true)
                if overloaded, best == nil, loads.fits(v, on: loads.leastLoaded) {
                    best = (loads.leastLoaded, -stay)
                }
                if let (tower, gain) = best,
                    overloaded || gain > 1e-12 || (gain >= -1e-12 && loads.load[tower] + graph.vertexWeights[v] < loads.load[from])
                {
                    move(v, tower, &loads, &members)
                    changed += 1
                } else if let (tower, gain) = wanted, let partner = swapPartner(for: v, gain: gain, in: tower, graph: graph, loads: loads, members: members) {
                    move(v, tower, &loads, &members)
                    move(partner, from, &loads, &members)
                    changed += 1
                }
            }
            if changed == 0 { break }
        }
    }

    /// The member u of `tower` whose exchange with `v` (v to `tower`, u to v's tower) keeps both
    /// within the bound and saves the most affinity, if any saves some: v's gain plus u's, minus
    /// twice their own edge, which stays cut. Cost: O(s · d).
    private func swapPartner(for v: Int, gain: Double, in tower: Int, graph: WeightedGraph, loads: TowerLoads, members: [[Int]]) -> Int? {
        let from = loads.part[v]
        let limit = loads.capacity * (1 + 1e-12)
        var best: (vertex: Int, gain: Double)?
        for u in members[tower] {
            let difference = graph.vertexWeights[v] - graph.vertexWeights[u]
            guard loads.load[tower] + difference <= limit, loads.load[from] - difference <= limit else { continue }
            var toFrom = 0.0, toOwn = 0.0, shared = 0.0
            for edge in graph.offsets[u]..<graph.offsets[u + 1] {
                let w = Int(graph.targets[edge])
                if w == v { shared += graph.weights[edge] }
                switch loads.part[w] {
                case from: toFrom += graph.weights[edge]
                case tower: toOwn += graph.weights[edge]
                default: break
                }
            }
            let total = gain + toFrom - toOwn - 2 * shared
            if total > (best?.gain ?? 1e-12) { best = (u, total) }
        }
        return best?.vertex
    }
}
