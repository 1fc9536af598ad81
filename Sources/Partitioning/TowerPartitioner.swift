/// A tower-partitioning strategy (DESIGN §1.2, TP): which of T towers each of F features joins.
///
/// Every strategy but `manual` returns a partition in which every tower holds at least one
/// feature and every tower's cost is at most (1 + ε)·mean (`BalanceBound`), or throws a
/// `TowerPartitionError` that says by how much the bound cannot be met.
public protocol TowerPartitioner: Sendable {
    /// The strategy's name, as `--strategy` takes it and partition files record it.
    var name: String { get }
    /// The tower (0 ..< T) of each feature.
    func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int]
}

/// What a strategy partitions: F features with their costs, what is known about how they
/// interact, and the number of towers with the balance allowance.
public struct PartitionProblem: Sendable {
    /// Feature names, for errors.
    public var names: [String]
    /// Cost of each feature (`FeatureCostModel`): non-negative, any scale.
    public var costs: [Double]
    /// Feature–feature affinity (`tp`); nil when no embeddings were given.
    public var affinity: AffinityGraph?
    /// Per-feature representation vectors (`kmeans`); nil when no embeddings were given.
    public var representations: [[Double]]?
    /// T.
    public var towerCount: Int
    /// ε: every tower's cost may be at most (1 + ε)·mean.
    public var epsilon: Double
    public var seed: UInt64

    public init(
        names: [String], costs: [Double], affinity: AffinityGraph? = nil, representations: [[Double]]? = nil, towerCount: Int,
        epsilon: Double = 0.05, seed: UInt64 = 1
    ) {
        self.names = names
        self.costs = costs
        self.affinity = affinity
        self.representations = representations
        self.towerCount = towerCount
        self.epsilon = epsilon
        self.seed = seed
    }

    /// F.
    public var count: Int { costs.count }
}

/// Why a partition cannot be made, with the numbers that say by how much and what to change.
public enum TowerPartitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Inconsistent input: sizes that disagree, a negative cost or ε, fewer than one tower.
    case invalidProblem(String)
    /// T > F: some tower would be empty.
    case moreTowersThanFeatures(towers: Int, features: Int)
    /// One feature alone costs more than a tower may: `ratio` = its cost / mean tower cost.
    case featureTooHeavy(feature: String, ratio: Double, epsilon: Double, towers: Int, maxTowers: Int)
    /// The strategy found no partition within the bound; `achieved` is the best max/mean it found.
    case boundNotMet(strategy: String, achieved: Double, epsilon: Double, towers: Int)
    /// The strategy needs input the problem lacks (`tp` an affinity, `kmeans` representations);
    /// `needs` says what and where it comes from.
    case missingInput(strategy: String, needs: String)
    /// Tower placement: a tower's tables and optimizer state fit in no free domain.
    case doesNotFit(tower: Int, bytes: Double, roomiest: Double, freeDomains: Int)
    /// Tower placement: more towers than domains (SPTT puts one tower on each).
    case moreTowersThanDomains(towers: Int, domains: Int)

    public var description: String {
        switch self {
        case .invalidProblem(let message):
            return message
        case .moreTowersThanFeatures(let towers, let features):
            return "\(towers) towers for \(features) features: every tower needs at least one feature; use at most \(features) towers"
        case .featureTooHeavy(let feature, let ratio, let epsilon, let towers, let maxTowers):
            return "feature \(feature) alone costs \(Self.times(ratio)) the mean tower; the bound \(Self.times(1 + epsilon)) cannot hold with \(towers) towers; try ε ≥ \(Self.number(ratio - 1)) or at most \(maxTowers) towers"
        case .boundNotMet(let strategy, let achieved, let epsilon, let towers):
            return "\(strategy) found no split into \(towers) towers with every tower within \(Self.times(1 + epsilon)) the mean cost: the best has \(Self.times(achieved)), over by \(Self.number(achieved - 1 - epsilon)); try ε ≥ \(Self.number(achieved - 1)) or fewer towers"
        case .missingInput(let strategy, let needs):
            return "strategy \(strategy) needs \(needs)"
        case .doesNotFit(let tower, let bytes, let roomiest, let freeDomains):
            return "tower \(tower) needs \(Self.gigabytes(bytes)) for its tables and optimizer state, but the roomiest of the \(freeDomains) free domains has \(Self.gigabytes(roomiest)): short by \(Self.gigabytes(bytes - roomiest)); use more towers (smaller ones), a larger tower domain (--tower-domain), or a smaller storage precision"
        case .moreTowersThanDomains(let towers, let domains):
            return "\(towers) towers but \(domains) tower domains: SPTT holds one tower per domain; use at most \(domains) towers or a level with more domains (--tower-domain)"
        }
    }

    /// What to do when a strategy lacks embeddings.
    public static let embeddingsHint = "pass an embeddings file (--embeddings), or pick a cost-only strategy (random, round-robin, greedy)"

    /// 2.4 → "2.40×".
    private static func times(_ value: Double) -> String { number(value) + "×" }

    private static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded(.up) / 100
        return String(format: "%.2f", rounded)
    }

    private static func gigabytes(_ bytes: Double) -> String { String(format: "%.3g GB", bytes / 1e9) }
}

/// The balance bound of a problem: every tower's cost ≤ capacity = (1 + ε)·mean, mean = Σ cost / T.
///
/// Creating one checks what makes the bound impossible whatever the strategy: T < 1, T > F, and a
/// feature heavier than the capacity (the error says how much heavier, and the ε or T that would
/// do). Whether the remaining bin packing is feasible is NP-hard to decide, so a strategy that
/// finds no feasible split reports the best it found (`boundNotMet`). Cost: O(F).
public struct BalanceBound: Sendable, Hashable {
    public let mean: Double
    public let capacity: Double
    public let epsilon: Double
    public let towerCount: Int

    public init(_ problem: PartitionProblem) throws(TowerPartitionError) {
        let towers = problem.towerCount, count = problem.count
        guard towers >= 1 else { throw .invalidProblem("the number of towers must be at least 1, got \(towers)") }
        guard problem.epsilon >= 0, problem.epsilon.isFinite else {
            throw .invalidProblem("ε must be a finite number ≥ 0, got \(problem.epsilon)")
        }
        guard problem.names.count == count else {
            throw .invalidProblem("\(problem.names.count) feature names for \(count) costs")
        }
        if let bad = problem.costs.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw .invalidProblem("feature \(problem.names[bad]) has cost \(problem.costs[bad]); costs are finite and ≥ 0")
        }
        guard towers <= count else { throw .moreTowersThanFeatures(towers: towers, features: count) }
        let total = problem.costs.reduce(0, +)
        mean = total / Double(towers)
        capacity = (1 + problem.epsilon) * mean
        epsilon = problem.epsilon
        towerCount = towers
        if let heaviest = problem.costs.indices.max(by: { problem.costs[$0] < problem.costs[$1] }), problem.costs[heaviest] > capacity * (1 + 1e-12) {
            let cost = problem.costs[heaviest]
            throw .featureTooHeavy(
                feature: problem.names[heaviest], ratio: cost / mean, epsilon: problem.epsilon, towers: towers,
                maxTowers: max(1, Int(((1 + problem.epsilon) * total / cost).rounded(.down))))
        }
    }

    /// Max tower cost / mean of `part` (1 is perfect balance). Cost: O(F).
    public func imbalance(_ part: [Int], costs: [Double]) -> Double {
        TowerLoads.imbalance(part, costs: costs, towers: towerCount)
    }
}

/// A partition under construction: the tower of each placed feature, the cost and size of each
/// tower. The one place the strategies share their bookkeeping and their last step, `finish`,
/// which fills empty towers and moves or swaps features out of towers over the bound.
struct TowerLoads {
    let costs: [Double]
    let capacity: Double
    /// Tower of each feature; −1 while unplaced.
    private(set) var part: [Int]
    private(set) var load: [Double]
    private(set) var size: [Int]

    init(costs: [Double], bound: BalanceBound) {
        self.costs = costs
        capacity = bound.capacity
        part = [Int](repeating: -1, count: costs.count)
        load = [Double](repeating: 0, count: bound.towerCount)
        size = [Int](repeating: 0, count: bound.towerCount)
    }

    /// Starts from a complete partition.
    init(part: [Int], costs: [Double], bound: BalanceBound) {
        self.init(costs: costs, bound: bound)
        for (feature, tower) in part.enumerated() { place(feature, on: tower) }
    }

    var towerCount: Int { load.count }

    /// Whether `feature` fits on `tower` under the bound (with a relative slack of 1e-12 for
    /// rounding, so a perfect fit is not refused).
    func fits(_ feature: Int, on tower: Int) -> Bool {
        load[tower] + costs[feature] <= capacity * (1 + 1e-12)
    }

    var leastLoaded: Int { load.indices.min { load[$0] < load[$1] } ?? 0 }

    mutating func place(_ feature: Int, on tower: Int) {
        if part[feature] >= 0 { remove(feature) }
        part[feature] = tower
        load[tower] += costs[feature]
        size[tower] += 1
    }

    private mutating func remove(_ feature: Int) {
        let tower = part[feature]
        load[tower] -= costs[feature]
        size[tower] -= 1
        part[feature] = -1
    }

    /// Max tower cost / mean; 1 when every cost is 0.
    static func imbalance(_ part: [Int], costs: [Double], towers: Int) -> Double {
        var load = [Double](repeating: 0, count: towers)
        for (feature, tower) in part.enumerated() { load[tower] += costs[feature] }
        let mean = load.reduce(0, +) / Double(towers)
        return mean > 0 ? (load.max() ?? 0) / mean : 1
    }

    /// The last step of every strategy: gives each empty tower a feature, then, while a tower is
    /// over the bound, applies the best move (a feature to a tower with room) or swap (a feature
    /// for a lighter one of a tower with room) out of the most loaded tower, and throws
    /// `boundNotMet` with the imbalance reached when none is left.
    ///
    /// `gain(feature, tower, part)` scores a feature's place by the strategy's objective under
    /// partition `part` (tp: its affinity to the tower), a move by the difference; among moves and swaps the highest total gain wins, then the largest relief
    /// of the overloaded tower. Every step lowers the overloaded tower and lifts no other one over
    /// the bound, so it ends. Cost per step: O(s·(T + F)) for an overloaded tower of s features.
    mutating func finish(strategy: String, epsilon: Double, gain: (Int, Int, [Int]) -> Double = { _, _, _ in 0 }) throws(TowerPartitionError) {
        fillEmptyTowers(gain: gain)
        var members = [[Int]](repeating: [], count: towerCount)
        for (feature, tower) in part.enumerated() { members[tower].append(feature) }
        var steps = 0
        while let over = load.indices.filter({ load[$0] > capacity * (1 + 1e-12) }).max(by: { load[$0] < load[$1] }), steps < 10 * costs.count {
            steps += 1
            var best: (score: Double, relief: Double, feature: Int, tower: Int, swap: Int?)?
            let consider = { (score: Double, relief: Double, feature: Int, tower: Int, swap: Int?) in
                if best.map({ score > $0.score + 1e-12 || (abs(score - $0.score) <= 1e-12 && relief > $0.relief) }) ?? true {
                    best = (score, relief, feature, tower, swap)
                }
            }
            for feature in members[over] where size[over] > 1 {
                let stay = gain(feature, over, part)
                for tower in 0..<towerCount where tower != over {
                    if fits(feature, on: tower) {
                        consider(gain(feature, tower, part) - stay, costs[feature], feature, tower, nil)
                        continue
                    }
                    for other in members[tower] where costs[other] < costs[feature] {
                        guard load[tower] - costs[other] + costs[feature] <= capacity * (1 + 1e-12) else { continue }
                        let score = gain(feature, tower, part) - stay + gain(other, over, part) - gain(other, tower, part)
                        consider(score, costs[feature] - costs[other], feature, tower, other)
                    }
                }
            }
            guard let chosen = best else { break }
            members[over].removeAll { $0 == chosen.feature }
            members[chosen.tower].append(chosen.feature)
            place(chosen.feature, on: chosen.tower)
            if let other = chosen.swap {
                members[chosen.tower].removeAll { $0 == other }
                members[over].append(other)
                place(other, on: over)
            }
        }
        let mean = load.reduce(0, +) / Double(towerCount)
        if load.contains(where: { $0 > capacity * (1 + 1e-12) }) {
            throw .boundNotMet(strategy: strategy, achieved: (load.max() ?? 0) / mean, epsilon: epsilon, towers: towerCount)
        }
    }

    /// Moves one feature into each empty tower, from a tower of two or more features, the move
    /// that loses the least `gain`. A feature alone never exceeds the bound (checked by
    /// `BalanceBound`), and its old tower only gets lighter.
    private mutating func fillEmptyTowers(gain: (Int, Int, [Int]) -> Double) {
        for empty in 0..<towerCount where size[empty] == 0 {
            let now = part
            func loss(_ feature: Int) -> Double { gain(feature, now[feature], now) - gain(feature, empty, now) }
            guard let feature = part.indices.filter({ size[now[$0]] > 1 }).min(by: { loss($0) < loss($1) }) else { return }
            place(feature, on: empty)
        }
    }
}

/// The strategies by the names the CLI takes (`--strategy`, `--strategies`).
public enum PartitionStrategy: String, CaseIterable, Sendable {
    case tp, kmeans, random
    case roundRobin = "round-robin"
    case greedy, manual

    /// Whether the strategy needs an embeddings file (`tp` the affinity, `kmeans` the vectors).
    public var needsEmbeddings: Bool { self == .tp || self == .kmeans }

    /// The strategy's partitioner with its default settings; `manual` is the one given (a
    /// partition file's towers), and an error without it.
    public func partitioner(manual: ManualPartitioner? = nil) throws(TowerPartitionError) -> any TowerPartitioner {
        switch self {
        case .tp: MultilevelPartitioner()
        case .kmeans: BalancedKMeansPartitioner()
        case .random: RandomPartitioner()
        case .roundRobin: RoundRobinPartitioner()
        case .greedy: GreedyPartitioner()
        case .manual:
            if let manual { manual } else { throw .missingInput(strategy: "manual", needs: "a partition file (--manual FILE)") }
        }
    }
}
