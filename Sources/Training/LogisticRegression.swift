import Workload

/// What the training loop needs of a model: a step, predictions, and its state for checkpoints.
public protocol TrainableModel: AnyObject {
    /// Forward, loss, backward and update on `batch`; the batch's mean loss before the update.
    @discardableResult func trainStep(_ batch: SampleBatch) -> Float
    /// Click probabilities of `batch`.
    func predict(_ batch: SampleBatch) -> [Float]
    /// Every tensor of the training state, by name.
    func exportState() -> [String: [Float]]
    /// Restores `exportState()`'s output exactly, or throws without changing anything.
    func importState(_ state: [String: [Float]]) throws
}

extension RecommendationNetwork: TrainableModel {}

/// The baseline a recommendation model has to beat: logistic regression on the same inputs —
/// one weight per table row (summed over a sample's ids, so multi-hot features pool like bags),
/// one per dense feature, and a bias — with no feature interactions at all.
///
/// Trained with Adagrad (per-weight accumulators, ε = 1e-8) at the workload's sparse learning rate,
/// on the same batches and loss as the network. Cost per sample: one read and one update per id.
public final class LogisticRegression: TrainableModel {
    private var tables: [[Float]]
    private var tableAccumulators: [[Float]]
    private var dense: [Float]
    private var denseAccumulators: [Float]
    private var bias: Float = 0
    private var biasAccumulator: Float = 0
    private let learningRate: Float
    private static let epsilon: Float = 1e-8

    /// All weights start at zero: the loss is convex, so no random start is needed.
    public init(workload: Workload) throws {
        guard let model = workload.recommendation else { throw TrainingError.invalid("\(workload.name) is not a recommendation workload") }
        if let huge = model.features.first(where: { $0.tableRows > 50_000_000 }) {
            throw TrainingError.invalid("feature \(huge.name) has \(huge.tableRows) rows; the baseline keeps one weight per row in memory and refuses more than 50M")
        }
        tables = model.features.map { [Float](repeating: 0, count: $0.tableRows) }
        tableAccumulators = tables
        dense = [Float](repeating: 0, count: model.denseFeatures)
        denseAccumulators = dense
        learningRate = Float(workload.training.sparseOptimizer.learningRate)
    }

    private func logit(_ batch: SampleBatch, sample: Int) -> Float {
        var value = bias
        for (feature, column) in batch.sparse.enumerated() {
            for id in column.ids(ofSample: sample) { value += tables[feature][Int(id)] }
        }
        for j in 0 ..< batch.denseWidth { value += dense[j] * batch.dense[sample * batch.denseWidth + j] }
        return value
    }

    public func predict(_ batch: SampleBatch) -> [Float] {
        (0 ..< batch.count).map { BinaryCrossEntropy.sigmoid(logit(batch, sample: $0)) }
    }

    @discardableResult
    public func trainStep(_ batch: SampleBatch) -> Float {
        let logits = (0 ..< batch.count).map { logit(batch, sample: $0) }
        var gradient = [Float](repeating: 0, count: batch.count)
        let loss = logits.withUnsafeBufferPointer { z in
            batch.labels.withUnsafeBufferPointer { y in
                gradient.withUnsafeMutableBufferPointer { g in
                    BinaryCrossEntropy.meanLoss(logits: z.baseAddress!, labels: y.baseAddress!, count: batch.count, gradient: g.baseAddress!)
                }
            }
        }
        func update(_ weight: inout Float, _ accumulator: inout Float, _ g: Float) {
            accumulator += g * g
            weight -= learningRate * g / (accumulator.squareRoot() + Self.epsilon)
        }
        // Gradients summed per weight over the batch, then one Adagrad update per touched weight.
        for (feature, column) in batch.sparse.enumerated() {
            var sums: [Int32: Float] = [:]
            for sample in 0 ..< batch.count {
                for id in column.ids(ofSample: sample) { sums[id, default: 0] += gradient[sample] }
            }
            for id in sums.keys.sorted() { update(&tables[feature][Int(id)], &tableAccumulators[feature][Int(id)], sums[id]!) }
        }
        for j in 0 ..< batch.denseWidth {
            let g = (0 ..< batch.count).reduce(Float(0)) { $0 + gradient[$1] * batch.dense[$1 * batch.denseWidth + j] }
            update(&dense[j], &denseAccumulators[j], g)
        }
        update(&bias, &biasAccumulator, gradient.reduce(0, +))
        return loss
    }

    public func exportState() -> [String: [Float]] {
        var state: [String: [Float]] = ["dense": dense, "dense.accumulator": denseAccumulators, "bias": [bias, biasAccumulator]]
        for (feature, table) in tables.enumerated() {
            state["table.\(feature)"] = table
            state["table.\(feature).accumulator"] = tableAccumulators[feature]
        }
        return state
    }

    public func importState(_ state: [String: [Float]]) throws {
        var expected = ["dense": dense.count, "dense.accumulator": dense.count, "bias": 2]
        for (feature, table) in tables.enumerated() {
            expected["table.\(feature)"] = table.count
            expected["table.\(feature).accumulator"] = table.count
        }
        guard Set(state.keys) == Set(expected.keys), expected.allSatisfy({ state[$0.key]!.count == $0.value }) else {
            throw TrainingError.invalid("the state does not belong to this logistic regression (tensor names or sizes differ)")
        }
        dense = state["dense"]!
        denseAccumulators = state["dense.accumulator"]!
        bias = state["bias"]![0]
        biasAccumulator = state["bias"]![1]
        for feature in tables.indices {
            tables[feature] = state["table.\(feature)"]!
            tableAccumulators[feature] = state["table.\(feature).accumulator"]!
        }
    }
}
