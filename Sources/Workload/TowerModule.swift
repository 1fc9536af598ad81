/// The DMT tower module (TM, DESIGN §1.2): a dense module each tower runs on its F_t pooled
/// embeddings of width D before the tower output crosses domains, compressing F_t·D values per
/// sample to d_t (compression ratio c_t = F_t·D / d_t).
///
/// The same module shape is used by every tower; a tower's F_t decides its actual size, so the
/// cost functions take the tower's feature count. FLOP rule: see `MLP`.
public struct TowerModule: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// No module: the tower sends its F_t·D pooled embeddings unchanged (SPTT alone; the
        /// flat model's semantics are preserved exactly).
        case identity
        /// Wukong's linear compression (LCB-style) applied to the flattened tower: one matrix
        /// [B, F_t·D] → [B, d_t] with bias. It projects the flattened vector rather than mixing
        /// whole embeddings (n_out × n_in), so d_t need not be a multiple of D and c_t = F_t·D/d_t
        /// holds exactly.
        case linear
        /// An MLP F_t·D → hidden… → d_t.
        case mlp(hidden: [Int])
        /// One Wukong layer on the F_t embeddings, then a linear projection (n_F+n_L)·D → d_t.
        case wukong(WukongLayer)
        /// DLRM's dot interaction inside the tower (F_t vectors, F_t(F_t−1)/2 products, computed as
        /// a full Gram matrix), then a linear projection of the flattened embeddings concatenated
        /// with the products, F_t·D + F_t(F_t−1)/2 → d_t. The embeddings are kept, as DLRM keeps
        /// its dense vector, so first-order information survives the compression.
        case dot
    }

    /// How d_t is chosen.
    public enum OutputWidth: Sendable, Hashable {
        /// d_t given directly, the same for every tower.
        case absolute(Int)
        /// d_t = ⌈F_t·D / ratio⌉, so every tower compresses by the same factor.
        case compression(Double)
    }

    public var kind: Kind
    public var output: OutputWidth

    public init(kind: Kind, output: OutputWidth) {
        self.kind = kind
        self.output = output
    }

    /// The identity module (no compression).
    public static let identity = TowerModule(kind: .identity, output: .compression(1))

    /// The kind's name as written in workload files.
    public var kindName: String {
        switch kind {
        case .identity: "identity"
        case .linear: "linear"
        case .mlp: "mlp"
        case .wukong: "wukong"
        case .dot: "dot"
        }
    }

    /// d_t for a tower of `features` embeddings of width `dimension`: F_t·D for identity, else
    /// the absolute width or ⌈F_t·D / c⌉ (at least 1).
    public func outputWidth(features: Int, dimension: Int) -> Int {
        let input = features * dimension
        if case .identity = kind { return input }
        switch output {
        case .absolute(let width):
            return width
        case .compression(let ratio):
            return max(1, Int((Double(input) / ratio).rounded(.up)))
        }
    }

    /// Compression ratio c_t = F_t·D / d_t actually achieved by a tower of `features` embeddings.
    public func compressionRatio(features: Int, dimension: Int) -> Double {
        Double(features * dimension) / Double(outputWidth(features: features, dimension: dimension))
    }

    /// The interaction the module runs before its projection, seen as a global interaction on
    /// the tower's F_t embeddings (no dense vector), or nil when there is none.
    private func innerInteraction(features: Int, dimension: Int) -> (Interaction, InteractionInput)? {
        let input = InteractionInput(embeddings: features, dimension: dimension, denseWidth: 0)
        switch kind {
        case .identity, .linear, .mlp: return nil
        case .wukong(let layer): return (.wukong(layers: 1, layer: layer), input)
        case .dot: return (.dot, input)
        }
    }

    /// The dense layers that end at d_t, or nil for identity.
    private func projection(features: Int, dimension: Int) -> MLP? {
        let width = outputWidth(features: features, dimension: dimension)
        let flattened = features * dimension
        switch kind {
        case .identity:
            return nil
        case .linear:
            return MLP(inputWidth: flattened, layerWidths: [width])
        case .mlp(let hidden):
            return MLP(inputWidth: flattened, layerWidths: hidden + [width])
        case .wukong(let layer):
            return MLP(inputWidth: layer.outputEmbeddings * dimension, layerWidths: [width])
        case .dot:
            return MLP(inputWidth: flattened + features * (features - 1) / 2, layerWidths: [width])
        }
    }

    /// Parameters of one tower's module (replicated only inside its domain, so its gradients are
    /// all-reduced over the L GPUs of the domain): inner interaction + projection.
    public func parameterCount(features: Int, dimension: Int) -> Double {
        let inner = innerInteraction(features: features, dimension: dimension).map { $0.0.parameterCount($0.1) } ?? 0
        return inner + (projection(features: features, dimension: dimension)?.parameterCount ?? 0)
    }

    /// Forward FLOPs for `batch` samples (a tower GPU serves B·H under SPTT): the inner
    /// interaction's FLOPs (`Interaction.forwardFLOPs`) plus the projection's (`MLP.forwardFLOPs`).
    /// Identity: 0.
    public func forwardFLOPs(features: Int, dimension: Int, batch: Int) -> Double {
        let inner = innerInteraction(features: features, dimension: dimension).map { $0.0.forwardFLOPs($0.1, batch: batch) } ?? 0
        return inner + (projection(features: features, dimension: dimension)?.forwardFLOPs(batch: batch) ?? 0)
    }

    /// Backward FLOPs: each part by its own rule, 2 × forward for the projection and the Wukong
    /// layer, 1 × forward for the dot products (`Interaction.backwardFLOPs`).
    public func backwardFLOPs(features: Int, dimension: Int, batch: Int) -> Double {
        let inner = innerInteraction(features: features, dimension: dimension).map { $0.0.backwardFLOPs($0.1, batch: batch) } ?? 0
        return inner + (projection(features: features, dimension: dimension)?.backwardFLOPs(batch: batch) ?? 0)
    }
}
