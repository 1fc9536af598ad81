import Workload

/// A DLRM-style model built from a `Workload` and trained on CPU: embedding bags, a bottom MLP,
/// a global interaction and a top MLP ending in one logit — flat, or split into DMT towers
/// (DESIGN §1.2) that each run their features' pooled embeddings through the tower module.
///
/// Data flow for a batch of B samples (every arrow is a `Layer` or the embedding collection):
///
///     dense B×13 ──► bottom MLP ──► dense vector (denseWidth) ──────────────────────┐
///     tower t: ids ──► bags of its features (B × F_t·D) ──► tower module (B × d_t) ──┤ concatenated,
///                                                                                  ▼ zero-padded to D
///     [dense vector | tower outputs | pad] ──► interaction ──► top MLP ──► logit ──► BCE
///
/// The flat layout is the one-tower special case with an identity module, so flat and DMT share
/// every line of the step; identity towers of contiguous features in order therefore compute
/// exactly what flat computes (SPTT's semantic preservation). With compressing modules the
/// interaction sees ⌈Σ d_t / D⌉ vectors, the last one zero-padded, as `SPTTLayout` sizes it.
///
/// Cost: one step allocates nothing once the workspaces have seen the largest batch. BLAS does
/// every matrix product; embedding lookups split over samples and updates over tables.
/// Reference semantics, not thread-safe: one step at a time.
public final class RecommendationNetwork {
    /// How features are grouped before the global interaction.
    public enum Layout: Sendable, Hashable {
        /// Every feature's pooled embedding goes straight to the interaction, in feature order.
        case flat
        /// DMT towers: the global feature indices of each tower. Tower order is the order in which
        /// tower outputs are concatenated; inside a tower, the order of its embeddings. Every
        /// feature must appear in exactly one tower.
        case towers([[Int]])
    }

    public let layout: Layout
    public let dimension: Int
    /// Sparse features in workload order (the order of `SampleBatch.sparse`).
    public let features: [SparseFeature]
    public let denseFeatures: Int
    public let bottom: MLPNetwork?
    /// Global feature indices per tower (one tower of all features for the flat layout).
    public let towerFeatures: [[Int]]
    public let bags: [EmbeddingBagCollection]
    /// One module per tower (`IdentityLayer` for flat or identity towers).
    public let towerModules: [any Layer]
    /// What the global interaction sees: ⌈Σ d_t / D⌉ embeddings after the dense vector.
    public let interactionInput: InteractionInput
    /// The global interaction; a `DotInteraction` for `.dot` (see `DotInteraction.column(ofPair:_:)`).
    public let interaction: any Layer
    /// The top MLP; `top.layers[0].weight` is the first layer's out × in weight matrix.
    public let top: MLPNetwork
    public let optimizer: DenseParameterOptimizer
    public let threads: ComputeThreads
    /// Training steps taken (restored by `importState`).
    public internal(set) var step = 0

    private let denseInput: Matrix
    private let assembled: Matrix
    private let logitGradient: Matrix
    private let denseGradient: Matrix
    private let towerGradients: [Matrix]
    /// Column where each tower's output starts in `assembled`.
    private let towerOffsets: [Int]

    /// Builds the model of `workload` with parameters drawn from `seed` and `threads` CPU threads
    /// (which also sets OpenBLAS's thread count). Streams: bottom MLP `mix(seed, 1)`, embeddings
    /// `mix(seed, 2)` (then per feature index), interaction `mix(seed, 3)`, top MLP `mix(seed, 4)`,
    /// tower t's module `mix(mix(seed, 5), t)` — so a parameter's initial value does not depend
    /// on the layout. Throws `RecommendationNetworkError` for shapes the engine cannot build.
    public init(workload: Workload, layout: Layout = .flat, seed: UInt64, threads: Int = 1) throws(RecommendationNetworkError) {
        guard let model = workload.recommendation else { throw .notRecommendation(workload.name) }
        guard threads >= 1 else { throw .invalidShape("threads must be at least 1, got \(threads)") }
        let d = model.embeddingDimension
        guard d >= 1, !model.features.isEmpty else { throw .invalidShape("the model needs sparse features and a positive embedding dimension") }
        for feature in model.features {
            guard feature.dimension == d else { throw .mixedDimensions(feature: feature.name, dimension: feature.dimension, expected: d) }
            guard feature.tableRows >= 1, feature.tableRows <= Int(Int32.max) else { throw .tableRows(feature: feature.name, rows: feature.tableRows) }
        }
        guard model.topMLP.layerWidths.last == 1 else { throw .topMLPOutput(model.topMLP.layerWidths.last ?? 0) }
        for mlp in [model.bottomMLP, model.topMLP].compactMap({ $0 }) where !mlp.layerWidths.allSatisfy({ $0 >= 1 }) {
            throw .invalidShape("MLP widths must be positive, got \(mlp.layerWidths)")
        }
        if let bottomMLP = model.bottomMLP, bottomMLP.inputWidth != model.denseFeatures {
            throw .invalidShape("the bottom MLP takes \(bottomMLP.inputWidth) inputs but the model has \(model.denseFeatures) dense features")
        }

        let compute = ComputeThreads(threads)
        self.threads = compute
        self.layout = layout
        dimension = d
        features = model.features
        denseFeatures = model.denseFeatures
        switch layout {
        case .flat: towerFeatures = [Array(model.features.indices)]
        case .towers(let towers): towerFeatures = try Self.validated(towers: towers, featureCount: model.features.count)
        }
        let module = if case .flat = layout { TowerModule.identity } else { model.towerModule }

        bottom = model.bottomMLP.map { MLPNetwork($0, finalReLU: true, seed: SeededGenerator.mix(seed, 1), propagatesGradient: false, threads: compute) }
        let embeddingSeed = Self.embeddingSeed(seed)
        bags = towerFeatures.map { members in
            EmbeddingBagCollection(
                features: members.map { (index: $0, rows: model.features[$0].tableRows) }, dimension: d,
                optimizer: workload.training.sparseOptimizer, seed: embeddingSeed, threads: compute)
        }
        let towerSeed = SeededGenerator.mix(seed, 5)
        towerModules = try towerFeatures.enumerated().map { (tower, members) throws(RecommendationNetworkError) in
            try module.makeLayer(features: members.count, dimension: d, seed: SeededGenerator.mix(towerSeed, UInt64(tower)), threads: compute)
        }
        let towerWidths = towerModules.map(\.outputWidth)
        let summed = towerWidths.reduce(0, +)
        interactionInput = InteractionInput(embeddings: (summed + d - 1) / d, dimension: d, denseWidth: model.denseWidth)
        interaction = try model.interaction.makeLayer(interactionInput, seed: SeededGenerator.mix(seed, 3), threads: compute)
        top = MLPNetwork(model.topMLP.withInputWidth(interaction.outputWidth), finalReLU: false, seed: SeededGenerator.mix(seed, 4), threads: compute)

        towerOffsets = towerWidths.indices.map { model.denseWidth + towerWidths[..<$0].reduce(0, +) }
        denseInput = Matrix(rows: 0, columns: model.denseFeatures)
        assembled = Matrix(rows: 0, columns: interactionInput.flattenedWidth)
        logitGradient = Matrix(rows: 0, columns: 1)
        denseGradient = Matrix(rows: 0, columns: model.denseWidth)
        towerGradients = towerWidths.map { Matrix(rows: 0, columns: $0) }
        let towerParameters = towerModules.enumerated().flatMap { Parameter.prefixed("tower.\($0.offset)", $0.element.parameters) }
        optimizer = DenseParameterOptimizer(
            workload.training.denseOptimizer,
            parameters: Parameter.prefixed("bottom", bottom?.parameters ?? []) + towerParameters
                + Parameter.prefixed("interaction", interaction.parameters) + Parameter.prefixed("top", top.parameters))
    }

    /// Checks that `towers` is a partition of the features into non-empty towers.
    private static func validated(towers: [[Int]], featureCount: Int) throws(RecommendationNetworkError) -> [[Int]] {
        var tower = [Int?](repeating: nil, count: featureCount)
        for (index, members) in towers.enumerated() {
            guard !members.isEmpty else { throw .towers("tower \(index) has no features") }
            for feature in members {
                guard feature >= 0, feature < featureCount else { throw .towers("tower \(index) names feature \(feature); features are 0 ..< \(featureCount)") }
                if let other = tower[feature] { throw .towers("feature \(feature) is in towers \(other) and \(index)") }
                tower[feature] = index
            }
        }
        if let missing = tower.firstIndex(where: { $0 == nil }) { throw .towers("feature \(missing) is in no tower") }
        return towers
    }

    /// Forward, loss, backward and optimizer step on `batch` (the sparse update happens during
    /// the backward pass). Returns the batch's mean loss before the update.
    @discardableResult
    public func trainStep(_ batch: SampleBatch) -> Float {
        precondition(batch.count > 0, "a training step needs at least one sample")
        let logits = forward(batch)
        logitGradient.resize(rows: batch.count)
        let loss = batch.labels.withUnsafeBufferPointer { labels in
            BinaryCrossEntropy.meanLoss(logits: logits.pointer, labels: labels.baseAddress!, count: batch.count, gradient: logitGradient.pointer)
        }
        step += 1
        backward()
        optimizer.apply(step: step)
        return loss
    }

    /// Logits (one per sample) of `batch` with the current parameters; nothing is updated.
    public func logits(_ batch: SampleBatch) -> [Float] {
        forward(batch).values
    }

    /// Click probabilities σ(logit) of `batch`.
    public func predict(_ batch: SampleBatch) -> [Float] {
        logits(batch).map(BinaryCrossEntropy.sigmoid)
    }

    /// Each feature's pooled embeddings for `batch`, in feature order: F arrays of B × D values
    /// (sample-major). For the feature–feature affinity of the tower partitioner.
    public func pooledEmbeddings(_ batch: SampleBatch) -> [[Float]] {
        checkShape(batch)
        var result = [[Float]](repeating: [], count: features.count)
        for (members, bag) in zip(towerFeatures, bags) {
            let pooled = bag.forward(batch)
            for (slot, feature) in members.enumerated() {
                result[feature] = (0 ..< batch.count).flatMap { sample in
                    UnsafeBufferPointer(start: pooled.row(sample) + slot * dimension, count: dimension)
                }
            }
        }
        return result
    }

    /// The interaction vector (0-based, the dense vector's vectors first) holding `feature`'s pooled
    /// embedding, or nil when tower modules transform embeddings or the dense vector is not cut
    /// into whole vectors. With a dot interaction, pair (i, j) of vectors is top-MLP input column
    /// `DotInteraction.column(ofPair: i, j)`.
    public func interactionVector(ofFeature feature: Int) -> Int? {
        guard towerModules.allSatisfy({ $0 is IdentityLayer }), interactionInput.denseWidth % dimension == 0 else { return nil }
        guard let position = towerFeatures.flatMap({ $0 }).firstIndex(of: feature) else { return nil }
        return interactionInput.denseWidth / dimension + position
    }

    private func checkShape(_ batch: SampleBatch) {
        precondition(batch.denseWidth == denseFeatures, "the batch has \(batch.denseWidth) dense features, the model \(denseFeatures)")
        precondition(batch.sparse.count == features.count, "the batch has \(batch.sparse.count) sparse features, the model \(features.count)")
    }

    /// Runs the model forward; returns the top MLP's B × 1 output (its workspace).
    private func forward(_ batch: SampleBatch) -> Matrix {
        checkShape(batch)
        return dataParallelForward(count: batch.count, dense: batch.dense) { tower in
            towerModules[tower].forward(bags[tower].forward(batch))
        }
    }

    /// Backpropagates `logitGradient` and applies the sparse updates.
    private func backward() {
        let gradients = dataParallelBackward(logitGradient)
        for (tower, (bag, module)) in zip(bags, towerModules).enumerated() {
            bag.backward(module.backward(gradients[tower]), step: step)
        }
    }

    /// The part of the forward pass every rank of a distributed run replicates: the bottom MLP on
    /// `dense` (count × denseFeatures values), the concatenation [dense vector | tower outputs | zero
    /// pad], the global interaction and the top MLP. Returns the count × 1 logits (the top MLP's
    /// workspace).
    ///
    /// Why a hook: `trainStep` computes the tower outputs here from its own tables; an MPI rank
    /// (module Distributed) gets them from the ranks that own the towers, so it runs only this
    /// part and `dataParallelBackward`. `towerOutput(t)` is called once per tower, in tower order,
    /// and must return a count × d_t matrix that stays unchanged until `dataParallelBackward`.
    /// Cost: the dense layers' FLOPs plus one copy of count × (denseWidth + Σ d_t) values.
    public func dataParallelForward(count: Int, dense: [Float], towerOutput: (Int) -> Matrix) -> Matrix {
        precondition(dense.count == count * denseFeatures, "dense needs \(count) × \(denseFeatures) values, got \(dense.count)")
        denseInput.resize(rows: count)
        dense.withUnsafeBufferPointer { dense in
            if let base = dense.baseAddress { denseInput.pointer.update(from: base, count: dense.count) }
        }
        let denseVector = bottom?.forward(denseInput) ?? denseInput
        assembled.resize(rows: count)
        let width = assembled.columns, padding = width - (towerOffsets.last ?? 0) - (towerModules.last?.outputWidth ?? 0)
        for row in 0 ..< count where padding > 0 { (assembled.row(row) + width - padding).update(repeating: 0, count: padding) }
        Kernels.copyColumns(rows: count, width: denseVector.columns, from: denseVector.pointer, stride: denseVector.columns,
                            to: assembled.pointer, stride: width)
        for tower in towerModules.indices {
            let output = towerOutput(tower)
            precondition(output.rows == count && output.columns == towerModules[tower].outputWidth,
                         "tower \(tower) output is \(output.rows) × \(output.columns), expected \(count) × \(towerModules[tower].outputWidth)")
            Kernels.copyColumns(rows: count, width: output.columns, from: output.pointer, stride: output.columns,
                                to: assembled.pointer + towerOffsets[tower], stride: width)
        }
        return top.forward(interaction.forward(assembled))
    }

    /// Backward of `dataParallelForward` from ∂loss/∂logit (count × 1): overwrites the gradients of
    /// the bottom MLP, interaction and top MLP parameters and returns ∂loss/∂(tower t's output),
    /// count × d_t per tower (this model's workspaces, valid until the next call). Updates nothing:
    /// the caller applies the optimizer, after an all-reduce when it is one replica of many (the
    /// scale of `logitGradient` decides which mean the gradients are of). Cost: the dense layers'
    /// backward FLOPs plus one copy of count × Σ d_t values.
    public func dataParallelBackward(_ logitGradient: Matrix) -> [Matrix] {
        let count = logitGradient.rows
        let inputGradient = interaction.backward(top.backward(logitGradient))
        let width = inputGradient.columns
        if let bottom {
            denseGradient.resize(rows: count)
            Kernels.copyColumns(rows: count, width: denseGradient.columns, from: inputGradient.pointer, stride: width,
                                to: denseGradient.pointer, stride: denseGradient.columns)
            _ = bottom.backward(denseGradient)
        }
        for (tower, gradient) in towerGradients.enumerated() {
            gradient.resize(rows: count)
            Kernels.copyColumns(rows: count, width: gradient.columns, from: inputGradient.pointer + towerOffsets[tower], stride: width,
                                to: gradient.pointer, stride: gradient.columns)
        }
        return towerGradients
    }

    /// The seed `EmbeddingBagCollection` gets for the tables of a model built from `seed`, so a
    /// table built elsewhere from it (on the MPI rank that owns it) starts equal to this model's.
    public static func embeddingSeed(_ seed: UInt64) -> UInt64 {
        SeededGenerator.mix(seed, 2)
    }
}

/// Why a `RecommendationNetwork` could not be built or restored.
public enum RecommendationNetworkError: Error, Sendable, Hashable, CustomStringConvertible {
    case notRecommendation(String)
    case mixedDimensions(feature: String, dimension: Int, expected: Int)
    case tableRows(feature: String, rows: Int)
    case topMLPOutput(Int)
    case denseWidthNotVectors(denseWidth: Int, dimension: Int, interaction: String)
    case towers(String)
    case invalidShape(String)
    case state(String)

    public var description: String {
        switch self {
        case .notRecommendation(let name):
            "workload \(name) is not a recommendation model; only those can be trained"
        case .mixedDimensions(let feature, let dimension, let expected):
            "feature \(feature) has dimension \(dimension) but the model's embedding dimension is \(expected); every table must share it"
        case .tableRows(let feature, let rows):
            "feature \(feature) has \(rows) table rows; CPU training needs 1 … 2³¹−1 (set a hash size)"
        case .topMLPOutput(let width):
            "the top MLP must end in one output (the logit), it ends in \(width)"
        case .denseWidthNotVectors(let denseWidth, let dimension, let interaction):
            "the \(interaction) interaction cuts the dense vector into \(dimension)-wide vectors, but it is \(denseWidth) wide; make the bottom MLP end at a multiple of \(dimension)"
        case .towers(let problem):
            "invalid towers: \(problem)"
        case .invalidShape(let problem):
            "unsupported model shape: \(problem)"
        case .state(let problem):
            "cannot restore the model state: \(problem)"
        }
    }
}
