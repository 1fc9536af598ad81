import Workload
/// `random`: a balanced random split, the baseline that ignores both interactions and order.
///
/// The features are shuffled (seeded) and each goes to a uniformly chosen tower among those it
/// fits under the bound, or to the least-loaded tower when it fits none; `TowerLoads.finish` then
/// repairs what the tail of the shuffle left over the bound. Cost: O(F·T) plus the repair.
public struct RandomPartitioner: TowerPartitioner {
    public init() {}

    public var name: String { "random" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        let bound = try BalanceBound(problem)
        var random = SeededGenerator(seed: problem.seed)
        var loads = TowerLoads(costs: problem.costs, bound: bound)
        for feature in Array(0..<problem.count).shuffled(using: &random) {
            let open = (0..<bound.towerCount).filter { loads.fits(feature, on: $0) }
            loads.place(feature, on: open.randomElement(using: &random) ?? loads.leastLoaded)
        }
        try loads.finish(strategy: name, epsilon: problem.epsilon)
        return loads.part
    }
}

/// `round-robin`: feature i to tower i mod T, in the workload's order, the way features are
/// dealt when nobody plans. Under the bound: a feature that does not fit its tower goes to the
/// next tower (cyclically) that has room, else the least-loaded; `TowerLoads.finish` repairs the
/// rest. With equal costs it is exactly i mod T. Cost: O(F·T) worst case, O(F) when all fit.
public struct RoundRobinPartitioner: TowerPartitioner {
    public init() {}

    public var name: String { "round-robin" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        let bound = try BalanceBound(problem)
        let towers = bound.towerCount
        var loads = TowerLoads(costs: problem.costs, bound: bound)
        for feature in 0..<problem.count {
            let next = (0..<towers).lazy.map { (feature + $0) % towers }.first { loads.fits(feature, on: $0) }
            loads.place(feature, on: next ?? loads.leastLoaded)
        }
        try loads.finish(strategy: name, epsilon: problem.epsilon)
        return loads.part
    }
}

/// `greedy`: longest processing time first, on cost only — what TorchRec's planner does when it
/// co-hosts tables: features by decreasing cost (ties by index), each onto the least-loaded
/// tower (ties to the lowest). LPT's heaviest tower is within 4/3 of the optimum and within one
/// feature's cost of the mean; where that still exceeds the bound, `TowerLoads.finish` repairs.
/// Cost: O(F log F + F·T).
public struct GreedyPartitioner: TowerPartitioner {
    public init() {}

    public var name: String { "greedy" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        let bound = try BalanceBound(problem)
        let costs = problem.costs
        var loads = TowerLoads(costs: costs, bound: bound)
        for feature in costs.indices.sorted(by: { costs[$0] != costs[$1] ? costs[$0] > costs[$1] : $0 < $1 }) {
            loads.place(feature, on: loads.leastLoaded)
        }
        try loads.finish(strategy: name, epsilon: problem.epsilon)
        return loads.part
    }
}

/// `manual`: the towers of a partition file, as a person wrote them. Nothing is moved: the bound
/// is not enforced but reported (the metrics' imbalance), since the point is to score the
/// file's grouping. The tower count is the file's; a problem asking for another one is refused.
public struct ManualPartitioner: TowerPartitioner {
    public let partition: ResolvedPartition
    /// The file it came from, for errors.
    public let file: String

    public init(partition: ResolvedPartition, file: String) {
        self.partition = partition
        self.file = file
    }

    public var name: String { "manual" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        guard partition.towerOfFeature.count == problem.count else {
            throw .invalidProblem("\(file) assigns \(partition.towerOfFeature.count) features, the workload has \(problem.count)")
        }
        guard partition.towerCount == problem.towerCount else {
            throw .invalidProblem(
                "\(file) has \(partition.towerCount) towers but \(problem.towerCount) were asked for; drop --towers or make them agree")
        }
        return partition.towerOfFeature
    }
}
