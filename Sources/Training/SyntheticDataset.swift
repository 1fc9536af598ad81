import Foundation
import Workload

/// Generated training data with planted feature interactions (`SyntheticTeacher`), shaped by a
/// workload: one sparse column per feature with the feature's table size and pooling factor, the
/// workload's dense feature count, and the `<data><synthetic …/>` parameters.
///
/// A sample is a pure function of (seed, stream, index): sample i of a stream draws everything —
/// bag sizes, ids, dense values, noise, label — from `SeededGenerator(seed: mix(streamSeed, i))`,
/// so the data needs no storage, any size streams in constant memory, `skip(samples:)` is O(1),
/// and any split of a stream into batches gives the same samples. Three separate streams:
/// training (`mix(seed, 0)`), held-out (`mix(seed, 1)`) and the teacher's calibration
/// (`mix(seed, 5)`); no sample is in two of them, and each is an independent draw from the same
/// distribution, as a random split of a real log would be.
///
/// Per sample and feature f with pooling p_f: the bag holds n_f ids, with n_f = 1 when p_f = 1
/// and otherwise x = 1 + 2(p_f − 1)·U rounded down, plus one with probability frac(x) — so
/// 1 ≤ n_f ≤ ⌈2p_f − 1⌉ and E[n_f] = p_f exactly. Each id is an independent Zipf draw over the
/// table (`ZipfSampler`, id 0 the most popular). Dense features are independent standard normals
/// (Box–Muller). Generating a sample costs O(Σ_f n_f · k) for the ids and the teacher's score.
public struct SyntheticDataset: Sendable {
    /// Training samples when the workload does not say.
    public static let defaultSamples = 1_000_000
    /// Zipf exponent when the workload does not say: a mildly heavy head, as categorical
    /// features in click logs have.
    public static let defaultZipfExponent = 1.05
    /// Planted groups when the workload does not say (fewer when there are fewer features).
    public static let defaultGroups = 4
    /// Relative logit noise when the workload does not say.
    public static let defaultNoise = 0.1

    public let seed: UInt64
    /// Samples in the training stream.
    public let samples: Int
    public let zipfExponent: Double
    public let featureNames: [String]
    /// Rows of each feature's table: every id is below it.
    public let tableRows: [Int]
    /// Mean ids per sample of each feature.
    public let pooling: [Double]
    public let denseWidth: Int
    /// The hidden labelling model; its documentation is the exact definition of the data.
    public private(set) var teacher: SyntheticTeacher
    private let samplers: [ZipfSampler]
    /// Largest batch whose every column fits 32-bit offsets: Int32.max / the largest bag ⌈2p − 1⌉.
    public let maximumBatch: Int

    /// The streams of one data set; their seeds are `mix(seed, rawValue)`.
    enum Stream: UInt64 {
        case training = 0
        case heldOut = 1
        case calibration = 5
    }

    /// The data set the workload's `<data><synthetic …/>` describes.
    /// - Throws: when the workload has no recommendation model or no synthetic data section, or
    ///   for the reasons of `init(features:denseFeatures:data:scales:)`.
    public init(workload: Workload, scales: SyntheticTeacher.Scales = .init()) throws(SyntheticDataError) {
        guard let model = workload.recommendation else { throw .noRecommendationModel(file: workload.file) }
        guard case .synthetic(let data) = workload.data else { throw .noSyntheticData(file: workload.file) }
        try self.init(features: model.features, denseFeatures: model.denseFeatures, data: data, scales: scales)
    }

    /// A data set for these features (their `tableRows` and `pooling`), dense feature count and
    /// generator parameters; parameters left nil take the defaults above. Draws the
    /// teacher's calibration samples: at most 2048 · Σ_f p_f or about 2²¹ ids, whichever is less,
    /// each costing O(k) — tens of milliseconds in a release build.
    /// - Throws: `SyntheticDataError` naming the file and line at fault when there are no
    ///   features, more groups than features, a table too large for 32-bit ids, or a parameter
    ///   out of range.
    public init(
        features: [SparseFeature], denseFeatures: Int, data: SyntheticData, scales: SyntheticTeacher.Scales = .init()
    ) throws(SyntheticDataError) {
        let location = "\(data.location)"
        guard !features.isEmpty else { throw .noFeatures(location: location) }
        if let tooLarge = DataLimits.firstOversizedTable(in: features) {
            throw .tableTooLarge(feature: tooLarge.name, rows: tooLarge.tableRows, location: "\(tooLarge.location)")
        }
        let samples = data.samples ?? Self.defaultSamples
        let zipf = data.zipfExponent ?? Self.defaultZipfExponent
        let groups = data.groups ?? min(Self.defaultGroups, features.count)
        let noise = data.noise ?? Self.defaultNoise
        try Self.check(samples >= 1, "samples", "\(samples)", "must be at least 1", location)
        try Self.check(zipf >= 0 && zipf.isFinite, "zipf", "\(zipf)", "must be a finite number ≥ 0", location)
        try Self.check(noise >= 0 && noise.isFinite, "noise", "\(noise)", "must be a finite number ≥ 0", location)
        if let feature = features.first(where: { !($0.pooling >= 1 && $0.pooling.isFinite) }) {
            throw .invalidParameter(name: "pooling of \(feature.name)", value: "\(feature.pooling)", problem: "must be a finite number ≥ 1", location: "\(feature.location)")
        }
        try Self.check(denseFeatures >= 0, "dense features", "\(denseFeatures)", "must be at least 0", location)
        try Self.check(scales.latentRank >= 1, "latent rank", "\(scales.latentRank)", "must be at least 1", location)
        let strengths = [scales.interaction, scales.firstOrder, scales.dense]
        try Self.check(strengths.allSatisfy { $0 >= 0 && $0.isFinite }, "teacher scales", "\(strengths)", "must be finite numbers ≥ 0", location)
        guard (1...features.count).contains(groups) else {
            throw .groupCount(groups: groups, features: features.count, location: location)
        }

        seed = data.seed
        self.samples = samples
        zipfExponent = zipf
        featureNames = features.map(\.name)
        tableRows = features.map(\.tableRows)
        pooling = features.map(\.pooling)
        denseWidth = denseFeatures
        samplers = tableRows.map { ZipfSampler(count: $0, exponent: zipf) }
        maximumBatch = Int(Int32.max) / Int((2 * (pooling.max() ?? 1) - 1).rounded(.up))
        teacher = SyntheticTeacher(
            seed: seed, groups: Self.plant(features: features, groups: groups, seed: seed), groupCount: groups,
            pooling: pooling, denseWidth: denseFeatures, scales: scales, noise: noise)
        // In chunks, so that heavily pooled features stay within 32-bit offsets.
        var rawScores: [SyntheticTeacher.RawScores] = []
        let chunk = min(256, maximumBatch)
        let calibrationSamples = SyntheticTeacher.calibrationSamples(totalPooling: pooling.reduce(0, +))
        for start in stride(from: 0, to: calibrationSamples, by: chunk) {
            let batch = generate(.calibration, range: start ..< min(start + chunk, calibrationSamples))
            rawScores += (0..<batch.count).map { teacher.rawScores(of: batch, sample: $0) }
        }
        teacher.calibrate(rawScores)
    }

    private static func check(_ condition: Bool, _ name: String, _ value: String, _ problem: String, _ location: String) throws(SyntheticDataError) {
        if !condition { throw .invalidParameter(name: name, value: value, problem: problem, location: location) }
    }

    /// Group of each feature, dealt by cost stratum: features are ranked by what they cost a tower
    /// (pooling factor, then table rows, larger first; ties in a random order), and each run of G
    /// consecutive features in that ranking goes to the G groups in a fresh random order (all draws
    /// from `SeededGenerator(mix(seed, 3))`). Every group thus gets one feature of each stratum, so
    /// the planted groups are nearly equal in lookup bytes and table memory — a tower partition
    /// that recovers them can also meet a tight balance bound — while membership stays unrelated to
    /// names and file order. Group sizes differ by at most one.
    private static func plant(features: [SparseFeature], groups: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: SeededGenerator.mix(seed, 3))
        /// Uniform in 0...bound; multiply-high maps 64 random bits with a bias below 2⁻³².
        func draw(_ bound: Int) -> Int { Int(UInt64(bound + 1).multipliedFullWidth(by: generator.next()).high) }
        let tieBreak = features.map { _ in generator.next() }
        let ranking = features.indices.sorted { a, b in
            let (x, y) = (features[a], features[b])
            if x.pooling != y.pooling { return x.pooling > y.pooling }
            if x.tableRows != y.tableRows { return x.tableRows > y.tableRows }
            return tieBreak[a] < tieBreak[b]
        }
        var assignment = [Int](repeating: 0, count: features.count)
        for start in stride(from: 0, to: ranking.count, by: groups) {
            var order = Array(0..<groups)
            for i in stride(from: groups - 1, to: 0, by: -1) { order.swapAt(i, draw(i)) }
            for (slot, feature) in ranking[start ..< min(start + groups, ranking.count)].enumerated() { assignment[feature] = order[slot] }
        }
        return assignment
    }

    // MARK: What is planted

    /// Planted group of each feature, in the workload's feature order: the towers a perfect
    /// partitioner would find.
    public var plantedGroups: [Int] { teacher.groups }

    /// Feature names of each planted group: the planted towers, ready to be written as a partition.
    public var plantedTowers: [[String]] { teacher.members.map { $0.map { featureNames[$0] } } }

    /// Everything that defines the labels, for writing next to a training run (`JSONEncoder`).
    public var plantedStructure: PlantedStructure {
        PlantedStructure(
            seed: seed, zipfExponent: zipfExponent, noise: teacher.noise, scales: teacher.scales, groups: plantedTowers)
    }

    // MARK: Streams

    /// The training stream: `samples` samples.
    public func training() -> SyntheticBatchSource {
        SyntheticBatchSource(dataset: self, stream: .training, sampleCount: samples)
    }

    /// A held-out stream of `samples` samples (≥ 1), disjoint from training: another stream of
    /// the same distribution. Its first n samples are the same whatever `samples` is.
    public func heldOut(samples: Int) -> SyntheticBatchSource {
        precondition(samples >= 1, "a held-out stream needs at least one sample")
        return SyntheticBatchSource(dataset: self, stream: .heldOut, sampleCount: samples)
    }

    /// The AUC of the teacher's own logit on the first `heldOutSamples` held-out samples: the
    /// best any model can reach on them (the Bayes-optimal predictor ranks by the logit), so a
    /// trained model's held-out AUC can be read against it. nil when the samples are all one class.
    public func bayesAUC(heldOutSamples: Int) -> Double? {
        let batch = generate(.heldOut, range: 0..<heldOutSamples)
        let logits = (0..<batch.count).map { Float(teacher.logit(of: batch, sample: $0)) }
        return BinaryClassificationMetrics.areaUnderROC(scores: logits, labels: batch.labels)
    }

    // MARK: Generation

    /// Samples `range` of `stream` as one batch.
    func generate(_ stream: Stream, range: Range<Int>) -> SampleBatch {
        let streamSeed = SeededGenerator.mix(seed, stream.rawValue)
        let expectedIds = pooling.map { Int($0.rounded(.up)) * range.count }
        var columns = expectedIds.map { expected in
            var column = SparseColumn(offsets: [0], ids: [])
            column.offsets.reserveCapacity(range.count + 1)
            column.ids.reserveCapacity(expected)
            return column
        }
        var dense = [Float]()
        dense.reserveCapacity(range.count * denseWidth)
        // The label's two draws are taken with the sample's other draws; the label itself needs
        // the teacher to read the finished batch.
        var noise = [Double](), thresholds = [Double]()
        noise.reserveCapacity(range.count)
        thresholds.reserveCapacity(range.count)
        for index in range {
            var generator = SeededGenerator(seed: SeededGenerator.mix(streamSeed, UInt64(index)))
            for feature in columns.indices {
                let bag = bagSize(pooling[feature], &generator)
                for _ in 0..<bag { columns[feature].ids.append(Int32(samplers[feature].draw(using: &generator))) }
                columns[feature].offsets.append(Int32(columns[feature].ids.count))
            }
            for _ in 0..<denseWidth { dense.append(Float(Self.standardNormal(&generator))) }
            noise.append(Self.standardNormal(&generator))
            thresholds.append(generator.nextUnitDouble())
        }
        var batch = SampleBatch(
            count: range.count, denseWidth: denseWidth, dense: dense, sparse: columns, labels: [Float](repeating: 0, count: range.count))
        // Calibration samples only feed the raw scores; the teacher is not calibrated yet.
        guard stream != .calibration else { return batch }
        let noiseScale = teacher.noise * teacher.signalScale
        for sample in 0..<range.count {
            let logit = teacher.logit(of: batch, sample: sample) + noiseScale * noise[sample]
            batch.labels[sample] = thresholds[sample] < 1 / (1 + exp(-logit)) ? 1 : 0
        }
        return batch
    }

    /// n_f: 1 for a one-hot feature (no draw), else a uniform x in [1, 2p − 1) rounded down, or
    /// up with probability frac(x), so its mean is p.
    private func bagSize(_ pooling: Double, _ generator: inout SeededGenerator) -> Int {
        guard pooling > 1 else { return 1 }
        let x = 1 + 2 * (pooling - 1) * generator.nextUnitDouble()
        let whole = x.rounded(.down)
        return Int(whole) + (generator.nextUnitDouble() < x - whole ? 1 : 0)
    }

    /// A standard normal by Box–Muller (the cosine half; two uniforms per value, so each value
    /// depends only on its own draws).
    private static func standardNormal(_ generator: inout SeededGenerator) -> Double {
        let radius = (-2 * log(1 - generator.nextUnitDouble())).squareRoot()
        return radius * cos(2 * Double.pi * generator.nextUnitDouble())
    }
}

/// A window of one stream of a `SyntheticDataset`: samples `position ..< sampleCount`.
public struct SyntheticBatchSource: BatchSource, Sendable {
    public let dataset: SyntheticDataset
    let stream: SyntheticDataset.Stream
    /// Samples in the stream.
    public let sampleCount: Int
    /// Index of the next sample.
    public private(set) var position = 0

    init(dataset: SyntheticDataset, stream: SyntheticDataset.Stream, sampleCount: Int) {
        self.dataset = dataset
        self.stream = stream
        self.sampleCount = sampleCount
    }

    public var featureCount: Int { dataset.featureNames.count }
    public var denseWidth: Int { dataset.denseWidth }

    /// The next `size` (≥ 1) samples, fewer at the end of the stream, nil after it.
    /// - Throws: `batchTooLarge` when a column of `size` samples could hold more ids than a
    ///   32-bit offset reaches (only with pooling factors in the hundreds of thousands).
    public mutating func next(size: Int) throws(SyntheticDataError) -> SampleBatch? {
        precondition(size >= 1, "a batch needs at least one sample")
        guard position < sampleCount else { return nil }
        if size > dataset.maximumBatch {
            throw .batchTooLarge(size: size, maximum: dataset.maximumBatch)
        }
        let end = position + min(size, sampleCount - position)
        defer { position = end }
        return dataset.generate(stream, range: position..<end)
    }

    /// O(1): samples are a function of their index. Stops at the end of the stream.
    public mutating func skip(samples: Int) {
        precondition(samples >= 0, "cannot skip a negative number of samples")
        position += min(samples, sampleCount - position)
    }
}

/// The planted structure of a synthetic data set, for writing out (`Codable`): which features
/// interact (each group's feature names) and the teacher parameters that, with the seed and the
/// workload, reproduce every label.
public struct PlantedStructure: Sendable, Hashable, Codable {
    public var seed: UInt64
    public var zipfExponent: Double
    public var noise: Double
    public var scales: SyntheticTeacher.Scales
    /// Feature names of each planted group; pairs inside a group interact, pairs across do not.
    public var groups: [[String]]
}

/// Why a synthetic data set cannot be built; each case names the file and line to fix.
public enum SyntheticDataError: Error, Sendable, Hashable, CustomStringConvertible {
    case noRecommendationModel(file: String)
    case noSyntheticData(file: String)
    case noFeatures(location: String)
    case groupCount(groups: Int, features: Int, location: String)
    case tableTooLarge(feature: String, rows: Int, location: String)
    case invalidParameter(name: String, value: String, problem: String, location: String)
    case batchTooLarge(size: Int, maximum: Int)

    public var description: String {
        switch self {
        case .noRecommendationModel(let file):
            "\(file): the workload has no recommendation model to generate samples for"
        case .noSyntheticData(let file):
            "\(file): the workload has no <data><synthetic …/></data> section; add one (seed is required) to generate samples"
        case .noFeatures(let location):
            "\(location): synthetic data needs at least one sparse feature in the workload"
        case .groupCount(let groups, let features, let location):
            "\(location): groups=\"\(groups)\" but the workload has \(features) sparse features; planted groups must number 1 to \(features)"
        case .tableTooLarge(let feature, let rows, let location):
            DataLimits.oversizedTableMessage(feature: feature, rows: rows, location: location)
        case .invalidParameter(let name, let value, let problem, let location):
            "\(location): synthetic \(name) \(value) \(problem)"
        case .batchTooLarge(let size, let maximum):
            "a batch of \(size) samples could hold more ids than 32-bit offsets reach; use batches of at most \(maximum) samples"
        }
    }
}
