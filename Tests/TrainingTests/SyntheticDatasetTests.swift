import Foundation
import SchemaXML
import Testing
import Workload

@testable import Training

@Suite struct SyntheticDatasetTests {
    /// `count` features with tables of 50 to 5,000 rows; feature 1 is multi-hot (pooling 3.5).
    static func features(_ count: Int) -> [SparseFeature] {
        (0..<count).map { SparseFeature(name: "f\($0)", rows: [50, 500, 5000][$0 % 3], dimension: 8, pooling: $0 == 1 ? 3.5 : 1) }
    }

    static func dataset(
        features: Int = 12, dense: Int = 3, seed: UInt64 = 42, samples: Int = 10_000, zipf: Double = 1.05, groups: Int = 3, noise: Double = 0.1
    ) throws -> SyntheticDataset {
        try SyntheticDataset(
            features: Self.features(features), denseFeatures: dense,
            data: SyntheticData(seed: seed, samples: samples, zipfExponent: zipf, groups: groups, noise: noise))
    }

    /// One sample of a batch, comparable across batches.
    struct Sample: Equatable {
        var ids: [[Int32]]
        var dense: [Float]
        var label: Float

        init(_ batch: SampleBatch, _ index: Int) {
            ids = batch.sparse.map { Array($0.ids(ofSample: index)) }
            dense = Array(batch.dense[index * batch.denseWidth ..< (index + 1) * batch.denseWidth])
            label = batch.labels[index]
        }
    }

    static func samples(_ source: inout SyntheticBatchSource, batch: Int) throws -> [Sample] {
        var samples: [Sample] = []
        while let next = try source.next(size: batch) { samples += (0..<next.count).map { Sample(next, $0) } }
        return samples
    }

    @Test func batchesHaveTheWorkloadsShape() throws {
        let data = try Self.dataset(samples: 1000)
        var source = data.training()
        #expect(source.featureCount == 12 && source.denseWidth == 3)
        let batch = try #require(try source.next(size: 400))
        #expect(batch.count == 400 && batch.dense.count == 1200 && batch.labels.allSatisfy { $0 == 0 || $0 == 1 })
        for (feature, column) in batch.sparse.enumerated() {
            #expect(column.ids.allSatisfy { $0 >= 0 && Int($0) < data.tableRows[feature] })
            let sizes = (0..<batch.count).map { column.ids(ofSample: $0).count }
            if feature == 1 {
                // Bags of 1 to 2p − 1 = 6 ids, 3.5 on average.
                #expect(sizes.allSatisfy { (1...6).contains($0) })
                #expect(abs(Double(sizes.reduce(0, +)) / Double(batch.count) - 3.5) < 0.2)
            } else {
                #expect(sizes.allSatisfy { $0 == 1 })
            }
        }
        // 1000 samples: 400, 400, 200, then the end.
        #expect(try source.next(size: 400)?.count == 400)
        #expect(try source.next(size: 400)?.count == 200)
        #expect(try source.next(size: 400) == nil)
    }

    @Test func sameSeedSameSamplesWhateverTheBatching() throws {
        var whole = try Self.dataset(samples: 300).training()
        var pieces = try Self.dataset(samples: 300).training()
        let reference = try Self.samples(&whole, batch: 300)
        #expect(reference.count == 300)
        #expect(try Self.samples(&pieces, batch: 7) == reference)
        // Resuming after 137 samples continues exactly there.
        var resumed = try Self.dataset(samples: 300).training()
        resumed.skip(samples: 137)
        #expect(resumed.position == 137)
        #expect(try Self.samples(&resumed, batch: 50) == Array(reference[137...]))
        var other = try Self.dataset(seed: 43, samples: 300).training()
        #expect(try Self.samples(&other, batch: 300) != reference)
    }

    @Test func heldOutIsAnotherStream() throws {
        let data = try Self.dataset(samples: 500)
        var training = data.training()
        var heldOut = data.heldOut(samples: 500)
        let trainingSamples = try Self.samples(&training, batch: 500)
        let heldOutSamples = try Self.samples(&heldOut, batch: 128)
        #expect(heldOutSamples.count == 500)
        let trainingIds = Set(trainingSamples.map(\.ids))
        #expect(heldOutSamples.filter { trainingIds.contains($0.ids) }.count < 5)
        // A longer held-out stream starts with the same samples.
        var longer = data.heldOut(samples: 800)
        #expect(Array(try Self.samples(&longer, batch: 800).prefix(500)) == heldOutSamples)
    }

    @Test func plantedGroupsAreBalancedAndShuffled() throws {
        let data = try Self.dataset(features: 13, groups: 4)
        let sizes = (0..<4).map { group in data.plantedGroups.filter { $0 == group }.count }
        #expect(sizes.sorted() == [3, 3, 3, 4])
        #expect(data.plantedTowers.map(\.count) == sizes)
        #expect(Set(data.plantedTowers.joined()) == Set((0..<13).map { "f\($0)" }))
        // Not simply feature i → group i mod G.
        #expect(data.plantedGroups != (0..<13).map { $0 % 4 })
        #expect(try Self.dataset(features: 13, groups: 4).plantedGroups == data.plantedGroups)
        let structure = try JSONDecoder().decode(PlantedStructure.self, from: JSONEncoder().encode(data.plantedStructure))
        #expect(structure == data.plantedStructure && structure.groups == data.plantedTowers)
    }

    /// A one-sample batch with one id per feature: `ids[f]` for feature f, zero dense values.
    static func single(_ ids: [Int32], dense: Int) -> SampleBatch {
        SampleBatch(
            count: 1, denseWidth: dense, dense: [Float](repeating: 0, count: dense),
            sparse: ids.map { SparseColumn(offsets: [0, 1], ids: [$0]) }, labels: [0])
    }

    /// The teacher couples two features only inside a planted group: the mixed difference
    /// z(a, b) − z(a′, b) − z(a, b′) + z(a′, b′) of changing two features' ids vanishes across groups.
    @Test func interactionsStayInsideGroups() throws {
        let data = try Self.dataset(features: 9, dense: 0, groups: 3)
        let base = [Int32](repeating: 1, count: 9)
        func logit(_ changes: [Int: Int32]) -> Double {
            var ids = base
            for (feature, id) in changes { ids[feature] = id }
            return data.teacher.logit(of: Self.single(ids, dense: 0), sample: 0)
        }
        for f in 0..<9 {
            for g in (f + 1)..<9 {
                let mixed = logit([f: 7, g: 9]) - logit([f: 2, g: 9]) - logit([f: 7, g: 3]) + logit([f: 2, g: 3])
                if data.plantedGroups[f] == data.plantedGroups[g] {
                    #expect(abs(mixed) > 1e-3, "features \(f) and \(g) share a group")
                } else {
                    #expect(abs(mixed) < 1e-9, "features \(f) and \(g) are in different groups")
                }
            }
        }
    }

    @Test func labelsCarryTheSignal() throws {
        let data = try Self.dataset(features: 24, groups: 4)
        let bayes = try #require(data.bayesAUC(heldOutSamples: 5000))
        #expect(bayes > 0.75 && bayes < 0.87, "Bayes AUC \(bayes)")
        var heldOut = data.heldOut(samples: 5000)
        let batch = try #require(try heldOut.next(size: 5000))
        let positives = batch.labels.reduce(0, +) / Float(batch.count)
        #expect(positives > 0.4 && positives < 0.6)
        // Noise the size of the signal costs ranking quality.
        let noisy = try #require(try Self.dataset(features: 24, groups: 4, noise: 1.5).bayesAUC(heldOutSamples: 5000))
        #expect(noisy < bayes - 0.03)
    }

    @Test func uniformIdsAndSingletonGroupsStillWork() throws {
        // Every group of one feature: no pairs, only first-order and dense terms carry signal.
        let data = try Self.dataset(features: 4, zipf: 0, groups: 4)
        #expect(data.teacher.signalScale == (0.4 * 0.4 + 0.4 * 0.4).squareRoot())
        #expect(try #require(data.bayesAUC(heldOutSamples: 2000)) > 0.55)
    }

    @Test func badParametersNameTheirPlace() throws {
        let location = SchemaXML.SourceLocation(file: "w.xml", line: 9)
        #expect(throws: SyntheticDataError.groupCount(groups: 5, features: 4, location: "w.xml:9")) {
            try SyntheticDataset(features: Self.features(4), denseFeatures: 0, data: SyntheticData(seed: 1, groups: 5, location: location))
        }
        #expect(throws: SyntheticDataError.invalidParameter(name: "zipf", value: "-1.0", problem: "must be a finite number ≥ 0", location: "w.xml:9")) {
            try SyntheticDataset(features: Self.features(4), denseFeatures: 0, data: SyntheticData(seed: 1, zipfExponent: -1, location: location))
        }
        let huge = [SparseFeature(name: "big", rows: 1 << 40, dimension: 8, location: SchemaXML.SourceLocation(file: "w.xml", line: 4))]
        let error = #expect(throws: SyntheticDataError.self) {
            try SyntheticDataset(features: huge, denseFeatures: 0, data: SyntheticData(seed: 1))
        }
        #expect(error?.description.hasPrefix("w.xml:4: feature big has 1099511627776 table rows") == true)
    }

    static func shipped(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("workloads/\(name).xml").path
    }

    @Test func shippedPlantedWorkloadPlantsFiveGroupsOfEight() throws {
        let workload = try WorkloadLoader.load(path: Self.shipped("synthetic-planted"))
        let data = try SyntheticDataset(workload: workload)
        #expect(data.samples == 2_000_000 && data.featureNames == workload.features.map(\.name))
        #expect(data.plantedTowers.map(\.count) == [8, 8, 8, 8, 8])
        // The planted groups mix the file's declared groups.
        #expect(data.plantedTowers.allSatisfy { Set($0.map { $0.split(separator: "_")[0] }).count > 1 })
        let bayes = try #require(data.bayesAUC(heldOutSamples: 4000))
        #expect(bayes > 0.75 && bayes < 0.87, "Bayes AUC \(bayes)")
    }

    @Test func workloadWithoutSyntheticDataIsRefused() throws {
        let path = Self.shipped("dlrm-criteo-kaggle")
        let workload = try WorkloadLoader.load(path: path)
        #expect(throws: SyntheticDataError.noSyntheticData(file: path)) { try SyntheticDataset(workload: workload) }
    }

    @Test func heavilyPooledBatchesThatOverflowAreRefused() throws {
        // Bags of up to 2p − 1 = 59,999 ids: 35,791 samples fill 32-bit offsets.
        let features = [SparseFeature(name: "history", rows: 1000, dimension: 8, pooling: 30_000)]
        let data = try SyntheticDataset(features: features, denseFeatures: 0, data: SyntheticData(seed: 1, samples: 10))
        #expect(data.maximumBatch == 35_791)
        var source = data.training()
        #expect(throws: SyntheticDataError.batchTooLarge(size: 40_000, maximum: 35_791)) { try source.next(size: 40_000) }
    }
}
