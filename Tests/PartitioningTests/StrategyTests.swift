import Workload
import Partitioning
import Testing

/// Every strategy on random instances (the bound holds, every tower is used, seeds replay), the
/// errors that say by how much a bound cannot hold, and what each strategy is for: tp recovers
/// planted blocks, kmeans clusters representations.
@Suite struct StrategyTests {
    static let boundedStrategies: [any TowerPartitioner] = [
        MultilevelPartitioner(), BalancedKMeansPartitioner(), RandomPartitioner(), RoundRobinPartitioner(), GreedyPartitioner(),
    ]

    /// A random instance: `features` costs in [0.5, 1.5), a planted graph, random 4-d representations.
    static func instance(features: Int, towers: Int, seed: UInt64, epsilon: Double = 0.05) -> PartitionProblem {
        var random = SeededGenerator(seed: seed)
        let planted = PlantedAffinity(features: features, groups: towers, partners: 6, noise: 0.3, seed: seed)
        return PartitionProblem(
            names: (0..<features).map { "f_\($0)" }, costs: (0..<features).map { _ in 0.5 + random.nextUnitDouble() },
            affinity: planted.graph, representations: (0..<features).map { _ in (0..<4).map { _ in random.nextUnitDouble() - 0.5 } },
            towerCount: towers, epsilon: epsilon, seed: seed)
    }

    static func loads(_ part: [Int], _ problem: PartitionProblem) -> [Double] {
        var load = [Double](repeating: 0, count: problem.towerCount)
        for (feature, tower) in part.enumerated() { load[tower] += problem.costs[feature] }
        return load
    }

    @Test(arguments: [(60, 4), (200, 16), (97, 7), (80, 20)])
    func everyStrategyKeepsTheBoundAndUsesEveryTower(features: Int, towers: Int) throws {
        for seed in UInt64(1)...4 {
            let problem = Self.instance(features: features, towers: towers, seed: seed)
            let capacity = (1 + problem.epsilon) * problem.costs.reduce(0, +) / Double(towers)
            for strategy in Self.boundedStrategies {
                let part = try strategy.partition(problem)
                #expect(part.count == features)
                #expect(part.allSatisfy { (0..<towers).contains($0) })
                #expect(Set(part).count == towers, "\(strategy.name): an empty tower")
                let heaviest = Self.loads(part, problem).max() ?? 0
                #expect(heaviest <= capacity * (1 + 1e-9), "\(strategy.name) seed \(seed): \(heaviest) > \(capacity)")
            }
        }
    }

    @Test func theSameSeedGivesTheSamePartition() throws {
        let problem = Self.instance(features: 120, towers: 8, seed: 3)
        for strategy in Self.boundedStrategies {
            #expect(try strategy.partition(problem) == strategy.partition(problem), "\(strategy.name)")
        }
        var other = problem
        other.seed = 4
        #expect(try RandomPartitioner().partition(problem) != RandomPartitioner().partition(other))
    }

    @Test func roundRobinDealsEqualCostsInOrder() throws {
        let problem = PartitionProblem(names: (0..<7).map { "f\($0)" }, costs: [Double](repeating: 1, count: 7), towerCount: 3, epsilon: 0.5)
        #expect(try RoundRobinPartitioner().partition(problem) == [0, 1, 2, 0, 1, 2, 0])
    }

    @Test func greedyIsLongestProcessingTimeFirst() throws {
        // Costs 5, 4, 3, 3, 2, 1 onto 2 towers (mean 9): 5→0, 4→1, 3→1, 3→0, 2→0 (8 vs 7… ties to the lower), 1→1.
        let problem = PartitionProblem(names: (0..<6).map { "f\($0)" }, costs: [5, 4, 3, 3, 2, 1], towerCount: 2, epsilon: 0.05)
        let part = try GreedyPartitioner().partition(problem)
        #expect(part == [0, 1, 1, 0, 1, 0])
        #expect(Self.loads(part, problem) == [9, 9])
    }

    @Test func aFeatureHeavierThanTheBoundIsNamedWithTheNumbers() {
        // Mean tower 10 / 4 = 2.5; big_7 costs 6 = 2.4× the mean; ε ≥ 1.4 or at most ⌊1.05 · 10 / 6⌋ = 1 tower would do.
        var costs = [Double](repeating: 4.0 / 7, count: 8)
        costs[7] = 6
        let problem = PartitionProblem(names: (0..<8).map { "big_\($0)" }, costs: costs, towerCount: 4)
        for strategy in Self.boundedStrategies {
            #expect(throws: TowerPartitionError.featureTooHeavy(feature: "big_7", ratio: 2.4, epsilon: 0.05, towers: 4, maxTowers: 1)) {
                try strategy.partition(problem)
            }
        }
        let error = TowerPartitionError.featureTooHeavy(feature: "big_7", ratio: 2.4, epsilon: 0.05, towers: 16, maxTowers: 6)
        #expect(error.description == "feature big_7 alone costs 2.40× the mean tower; the bound 1.05× cannot hold with 16 towers; try ε ≥ 1.40 or at most 6 towers")
    }

    @Test func moreTowersThanFeaturesIsRefused() {
        let problem = PartitionProblem(names: ["a", "b"], costs: [1, 1], towerCount: 3)
        #expect(throws: TowerPartitionError.moreTowersThanFeatures(towers: 3, features: 2)) { try GreedyPartitioner().partition(problem) }
        #expect(TowerPartitionError.moreTowersThanFeatures(towers: 3, features: 2).description.contains("use at most 2 towers"))
    }

    @Test func anImpossiblePackingSaysHowFarTheBestIs() {
        // Three features of cost 1 on two towers: mean 1.5, bound 1.575, but some tower holds two (2 = 1.33× the mean).
        let problem = PartitionProblem(names: ["a", "b", "c"], costs: [1, 1, 1], affinity: AffinityGraph(vertexCount: 3, edges: []), towerCount: 2)
        for strategy in [MultilevelPartitioner(), RandomPartitioner(), RoundRobinPartitioner(), GreedyPartitioner()] as [any TowerPartitioner] {
            #expect {
                try strategy.partition(problem)
            } throws: { error in
                guard case .boundNotMet(let name, let achieved, let epsilon, let towers) = error as? TowerPartitionError else { return false }
                return name == strategy.name && abs(achieved - 4.0 / 3) < 1e-9 && epsilon == 0.05 && towers == 2
            }
        }
        let error = TowerPartitionError.boundNotMet(strategy: "tp", achieved: 4.0 / 3, epsilon: 0.05, towers: 2)
        #expect(error.description == "tp found no split into 2 towers with every tower within 1.05× the mean cost: the best has 1.34×, over by 0.29; try ε ≥ 0.34 or fewer towers")
    }

    @Test func strategiesSayWhatInputTheyLack() {
        let problem = PartitionProblem(names: ["a", "b"], costs: [1, 1], towerCount: 2)
        #expect { try MultilevelPartitioner().partition(problem) } throws: { "\($0)".contains("strategy tp needs a feature affinity; pass an embeddings file (--embeddings)") }
        #expect { try BalancedKMeansPartitioner().partition(problem) } throws: { "\($0)".contains("strategy kmeans needs per-feature representation vectors") }
        #expect { try PartitionStrategy.manual.partitioner() } throws: { "\($0)".contains("strategy manual needs a partition file (--manual FILE)") }
    }

    @Test func tpRecoversPlantedBlocksWhereRandomDoesNot() throws {
        for (features, groups) in [(256, 16), (1024, 64)] {
            let planted = PlantedAffinity(features: features, groups: groups, partners: 12, noise: 0.3, seed: 7)
            let problem = PartitionProblem(
                names: (0..<features).map { "f_\($0)" }, costs: [Double](repeating: 1, count: features), affinity: planted.graph,
                towerCount: groups, epsilon: 0.05, seed: 1)
            let tp = try MultilevelPartitioner().partition(problem)
            let random = try RandomPartitioner().partition(problem)
            #expect(PartitionMetrics.adjustedRandIndex(tp, planted.groupOfFeature) >= 0.9)
            #expect(abs(PartitionMetrics.adjustedRandIndex(random, planted.groupOfFeature)) < 0.05)
            #expect(PartitionMetrics.capturedAffinity(tp, graph: planted.graph) > 3 * PartitionMetrics.capturedAffinity(random, graph: planted.graph))
        }
    }

    @Test func tpRecoversNoisyBlocksOfADenseMatrix() throws {
        // The embeddings-file shape: every pair has some affinity, pairs inside a block more.
        let features = 60, groups = 6
        var random = SeededGenerator(seed: 5)
        let group = (0..<features).map { $0 % groups }.shuffled(using: &random)
        var matrix = [Double](repeating: 0, count: features * features)
        for f in 0..<features {
            for g in (f + 1)..<features {
                let value = (group[f] == group[g] ? 1 : 0) + 0.6 * random.nextUnitDouble()
                matrix[f * features + g] = value
                matrix[g * features + f] = value
            }
        }
        let problem = PartitionProblem(
            names: (0..<features).map { "f_\($0)" }, costs: [Double](repeating: 1, count: features),
            affinity: AffinityGraph(dense: matrix, count: features), towerCount: groups)
        #expect(PartitionMetrics.adjustedRandIndex(try MultilevelPartitioner().partition(problem), group) >= 0.9)
    }

    @Test func kmeansGroupsClusteredRepresentations() throws {
        // 5 clusters of 12 around orthogonal directions, with noise; costs equal.
        let features = 60, clusters = 5
        var random = SeededGenerator(seed: 11)
        let cluster = (0..<features).map { $0 % clusters }.shuffled(using: &random)
        let vectors = cluster.map { c in (0..<8).map { d in (d == c ? 1.0 : 0.0) + 0.25 * (random.nextUnitDouble() - 0.5) } }
        let problem = PartitionProblem(
            names: (0..<features).map { "f_\($0)" }, costs: [Double](repeating: 1, count: features), representations: vectors,
            towerCount: clusters)
        #expect(PartitionMetrics.adjustedRandIndex(try BalancedKMeansPartitioner().partition(problem), cluster) >= 0.95)
        #expect(abs(PartitionMetrics.adjustedRandIndex(try RandomPartitioner().partition(problem), cluster)) < 0.1)
    }

    @Test func sparsifyingKeepsEachVertexsStrongestEdgesSymmetrically() {
        // A star: vertex 0 has edges of weight 1…5 to 1…5; each leaf keeps its only edge, so all survive with k = 2.
        let star = AffinityGraph(vertexCount: 6, edges: (1...5).map { (0, $0, Double($0)) })
        #expect(star.strongest(2).edgeCount == 5)
        // A path 0–1–2–3 of weights 3, 1, 2: with k = 1, 0 keeps 0–1, 1 keeps 0–1, 2 keeps 2–3, 3 keeps 2–3; 1–2 goes.
        let path = AffinityGraph(vertexCount: 4, edges: [(0, 1, 3), (1, 2, 1), (2, 3, 2)]).strongest(1)
        #expect(path.edgeCount == 2)
        #expect(path.totalWeight == 5)
        #expect(path.cutWeight([0, 0, 1, 1]) == 0)
    }
}
