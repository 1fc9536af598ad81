import Testing
import Training
import Workload
@testable import Distributed

@Suite struct DistributedPlanTests {
    /// Features whose lookup costs are 1, 2, …, 6 ids of width 4.
    static let workload: Workload = {
        let features = (1 ... 6).map { SparseFeature(name: "f\($0)", rows: 10, dimension: 4, pooling: Double($0)) }
        let model = RecommendationModel(
            embeddingDimension: 4, features: features, denseFeatures: 2, bottomMLP: MLP(inputWidth: 2, layerWidths: [4]), interaction: .dot,
            topMLP: MLP(inputWidth: 0, layerWidths: [1]))
        return Workload(name: "plan", model: .recommendation(model), training: TrainingSetup(
            batchPerGPU: 2, sparseOptimizer: SparseOptimizer(kind: .sgd, learningRate: 1), denseOptimizer: DenseOptimizer(kind: .sgd, learningRate: 1)))
    }()

    @Test func flatBalancesTablesOverEveryRankByLookupCost() throws {
        let plan = try DistributedPlan(workload: Self.workload, layout: .flat, ranks: 3)
        #expect(plan.domains == 1 && plan.ranksPerDomain == 3)
        #expect(plan.towerFeatures == [[0, 1, 2, 3, 4, 5]])
        // LPT over costs 6, 5, 4, 3, 2, 1: 6→0, 5→1, 4→2, 3→2, 2→1, 1→0: loads 7, 7, 7.
        #expect(plan.ownerOfFeature == [0, 1, 2, 2, 1, 0])
        #expect(plan.networkLayout == .flat)
    }

    @Test func spttPlacesEachTowerInsideItsDomain() throws {
        let plan = try DistributedPlan(workload: Self.workload, layout: .sptt(ranksPerDomain: 2, towers: [[5, 0, 1], [2, 3, 4]]), ranks: 4)
        #expect(plan.domains == 2)
        #expect(plan.domain(ofRank: 3) == 1 && plan.localRank(ofRank: 3) == 1)
        // Tower 0 (costs 6, 1, 2) on ranks 0–1; tower 1 (costs 3, 4, 5) on ranks 2–3.
        #expect(plan.ownedFeatures(ofRank: 0) == [5] && plan.ownedFeatures(ofRank: 1) == [0, 1])
        #expect(plan.ownedFeatures(ofRank: 2) == [4] && plan.ownedFeatures(ofRank: 3) == [2, 3])
        #expect(plan.networkLayout == .towers([[5, 0, 1], [2, 3, 4]]))
    }

    @Test(arguments: [
        (DistributedLayout.sptt(ranksPerDomain: 3, towers: [[0, 1, 2, 3, 4, 5]]), "do not split into domains of 3"),
        (.sptt(ranksPerDomain: 2, towers: [[0, 1, 2, 3, 4, 5]]), "need 2 towers, the partition has 1"),
        (.sptt(ranksPerDomain: 2, towers: [[0, 1, 2], [2, 3, 4, 5]]), "feature 2 is in towers 0 and 1"),
        (.sptt(ranksPerDomain: 2, towers: [[0, 1, 2], [3, 4]]), "feature 5 is in no tower"),
        (.sptt(ranksPerDomain: 2, towers: [[0, 1, 2, 3, 4, 5], []]), "tower 1 has no features"),
        (.sptt(ranksPerDomain: 2, towers: [[0, 1, 2], [3, 4, 9]]), "names feature 9"),
    ])
    func plansThatDoNotFitAreRejectedBeforeLaunch(layout: DistributedLayout, reason: String) {
        #expect {
            _ = try DistributedPlan(workload: Self.workload, layout: layout, ranks: 4)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func idsSurviveTheWireInAnyFeatureSelection() throws {
        let columns = [
            SparseColumn(offsets: [0, 2, 2, 3], ids: [4, 1, 7]),
            SparseColumn(offsets: [0, 1, 2, 3], ids: [0, 0, 5]),
            SparseColumn(offsets: [0, 0, 0, 1], ids: [9]),
        ]
        // Two senders (the same columns twice) to a receiver that wants features 2 and 0.
        let packed = IdRouting.pack(columns: columns, count: 3, slots: [[2, 0], [1]])
        #expect(packed.counts == [1 + 2 * 3 + 1 + 3, 1 + 3 + 3])
        let block = Array(packed.payload[..<packed.counts[0]])
        let (received, samples) = try IdRouting.unpack(block + block, counts: [block.count, block.count], featureCount: 2)
        #expect(samples == [3, 3])
        #expect(received[0] == SparseColumn(offsets: [0, 0, 0, 1, 1, 1, 2], ids: [9, 9]))
        #expect(received[1] == SparseColumn(offsets: [0, 2, 2, 3, 5, 5, 6], ids: [4, 1, 7, 4, 1, 7]))
        #expect(throws: DistributedError.self) { try IdRouting.unpack(Array(block.dropLast()), counts: [block.count - 1], featureCount: 2) }
    }

    @Test func stateBytesRoundTripExactly() {
        let state: [String: [Float]] = ["a.weight": [1.5, -0, .nan, .infinity], "step": [0, 3], "é": []]
        let decoded = StateCoding.decode(StateCoding.encode(state))
        #expect(decoded.keys.sorted() == state.keys.sorted())
        for (name, values) in state { #expect(decoded[name]?.map(\.bitPattern) == values.map(\.bitPattern)) }
    }
}
