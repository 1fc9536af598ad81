import Workload
/// A synthetic affinity graph with planted groups, for tests and benchmarks: F features in G
/// groups of near-equal size (membership shuffled, so feature order says nothing), each feature
/// drawing `partners` edges of weight U(0.5, 1) — with probability 1 − `noise` to a random member
/// of its own group, else to a random feature anywhere. A good partitioner into G towers recovers
/// the groups; the noise edges are what it must cut. Seeded; O(F·partners log(F·partners)).
public struct PlantedAffinity: Sendable {
    /// Group of each feature (0 ..< G).
    public let groupOfFeature: [Int]
    public let graph: AffinityGraph

    public init(features: Int, groups: Int, partners: Int, noise: Double, seed: UInt64) {
        precondition(features >= 2 && groups >= 1 && groups <= features, "need 2 or more features and 1 to F groups")
        var random = SeededGenerator(seed: seed)
        let groupOfFeature = (0..<features).map { $0 * groups / features }.shuffled(using: &random)
        var members = [[Int]](repeating: [], count: groups)
        for (feature, group) in groupOfFeature.enumerated() { members[group].append(feature) }
        var edges: [(Int, Int, Double)] = []
        edges.reserveCapacity(features * partners)
        for feature in 0..<features {
            let own = members[groupOfFeature[feature]]
            for _ in 0..<partners {
                let pool = random.nextUnitDouble() < noise || own.count < 2 ? nil : own
                var partner = feature
                while partner == feature { partner = pool?.randomElement(using: &random) ?? Int.random(in: 0..<features, using: &random) }
                edges.append((feature, partner, 0.5 + 0.5 * random.nextUnitDouble()))
            }
        }
        self.groupOfFeature = groupOfFeature
        graph = AffinityGraph(vertexCount: features, edges: edges)
    }
}
