import Workload
/// `kmeans`: constrained (balanced) k-means on the features' learned representation vectors, the
/// paper-style variant of TP: features whose embeddings look alike share a tower.
///
/// Vectors are scaled to unit length first, so distance is cosine distance: an embedding's norm
/// mostly tracks how often the feature's ids occur, its direction what the feature means.
/// Then, per restart: k-means++ seeding (Arthur & Vassilvitskii 2007, seeded), and Lloyd
/// iterations whose assignment step respects the bound — features in order of regret (how much
/// farther their second-nearest centroid is than their nearest, largest first), each to the
/// nearest centroid whose tower still has room, else the least-loaded tower — and whose update
/// step moves each centroid to the mean of its features. The restart with the smallest sum of
/// squared distances wins; `TowerLoads.finish` fills empty towers and repairs the bound,
/// preferring moves to near centroids.
///
/// Cost: O(restarts · iterations · (F·T·dim + F log F)).
public struct BalancedKMeansPartitioner: TowerPartitioner {
    public var restarts: Int
    public var iterations: Int

    public init(restarts: Int = 3, iterations: Int = 50) {
        self.restarts = restarts
        self.iterations = iterations
    }

    public var name: String { "kmeans" }

    public func partition(_ problem: PartitionProblem) throws(TowerPartitionError) -> [Int] {
        let bound = try BalanceBound(problem)
        guard let representations = problem.representations else {
            throw .missingInput(strategy: name, needs: "per-feature representation vectors; " + TowerPartitionError.embeddingsHint)
        }
        guard representations.count == problem.count, let width = representations.first?.count, width > 0,
            representations.allSatisfy({ $0.count == width })
        else {
            throw .invalidProblem("kmeans needs one representation vector per feature, all of the same non-zero length")
        }
        let points = representations.map { vector in
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? vector.map { $0 / norm } : vector
        }
        var random = SeededGenerator(seed: problem.seed)
        var best: (part: [Int], centroids: [[Double]], inertia: Double)?
        for _ in 0..<max(1, restarts) {
            var centroids = seeds(points, count: bound.towerCount, random: &random)
            var part: [Int] = []
            for _ in 0..<max(1, iterations) {
                let next = assign(points, centroids: centroids, costs: problem.costs, bound: bound)
                if next == part { break }
                part = next
                centroids = Self.means(points, part: part, previous: centroids)
            }
            let inertia = points.indices.reduce(0) { $0 + Self.distance(points[$1], centroids[part[$1]]) }
            if best.map({ inertia < $0.inertia }) ?? true { best = (part, centroids, inertia) }
        }
        guard let best else { return [] }
        var loads = TowerLoads(part: best.part, costs: problem.costs, bound: bound)
        try loads.finish(strategy: name, epsilon: problem.epsilon) { feature, tower, _ in
            -Self.distance(points[feature], best.centroids[tower])
        }
        return loads.part
    }

    /// Squared Euclidean distance.
    static func distance(_ a: [Double], _ b: [Double]) -> Double {
        var sum = 0.0
        for index in a.indices {
            let difference = a[index] - b[index]
            sum += difference * difference
        }
        return sum
    }

    /// k-means++: the first centre uniformly, each next one with probability proportional to its
    /// squared distance from the nearest centre chosen (uniformly when all distances are 0).
    private func seeds(_ points: [[Double]], count: Int, random: inout SeededGenerator) -> [[Double]] {
        var centres = [points[Int.random(in: 0..<points.count, using: &random)]]
        var nearest = points.map { Self.distance($0, centres[0]) }
        while centres.count < count {
            let total = nearest.reduce(0, +)
            var chosen = Int.random(in: 0..<points.count, using: &random)
            if total > 0 {
                var threshold = random.nextUnitDouble() * total
                for (index, distance) in nearest.enumerated() {
                    threshold -= distance
                    if threshold < 0 {
                        chosen = index
                        break
                    }
                }
            }
            centres.append(points[chosen])
            for index in points.indices { nearest[index] = min(nearest[index], Self.distance(points[index], points[chosen])) }
        }
        return centres
    }

    /// The assignment step under the bound, as described on the type.
    private func assign(_ points: [[Double]], centroids: [[Double]], costs: [Double], bound: BalanceBound) -> [Int] {
        let distances = points.map { point in centroids.map { Self.distance(point, $0) } }
        let regret = distances.map { row -> Double in
            let sorted = row.sorted()
            return sorted.count > 1 ? sorted[1] - sorted[0] : 0
        }
        var loads = TowerLoads(costs: costs, bound: bound)
        for feature in points.indices.sorted(by: { regret[$0] != regret[$1] ? regret[$0] > regret[$1] : $0 < $1 }) {
            let byDistance = centroids.indices.sorted { distances[feature][$0] < distances[feature][$1] }
            loads.place(feature, on: byDistance.first { loads.fits(feature, on: $0) } ?? loads.leastLoaded)
        }
        return loads.part
    }

    /// The mean of each tower's points; a tower without points keeps its previous centroid.
    private static func means(_ points: [[Double]], part: [Int], previous: [[Double]]) -> [[Double]] {
        var sums = previous.map { [Double](repeating: 0, count: $0.count) }
        var counts = [Int](repeating: 0, count: previous.count)
        for (index, point) in points.enumerated() {
            counts[part[index]] += 1
            for (dimension, value) in point.enumerated() { sums[part[index]][dimension] += value }
        }
        return sums.indices.map { tower in counts[tower] == 0 ? previous[tower] : sums[tower].map { $0 / Double(counts[tower]) } }
    }
}
