import Workload

extension Interaction {
    /// The trainable layer of this global interaction for `input`, whose rows are
    /// [dense vector, embeddings…] (`InteractionInput.flattenedWidth` wide).
    ///
    /// - dot: `DotInteraction` over `input.vectors`, passing the dense vector through.
    /// - dcn: `CrossNetworkLayer` on the whole row.
    /// - wukong: `layers` `WukongInteractionLayer`s, the first on `input.vectors` embeddings, the
    ///   others on n_F + n_L (layer i seeded with `mix(seed, i)`).
    /// Output width is `outputWidth(input)`. Throws when the shape cannot be built.
    public func makeLayer(_ input: InteractionInput, seed: UInt64, threads: ComputeThreads) throws(RecommendationNetworkError) -> any Layer {
        let d = input.dimension
        switch self {
        case .dot:
            try Self.requireVectors(input, kind: kind)
            return DotInteraction(vectors: input.vectors, dimension: d, passthroughWidth: input.denseWidth, threads: threads)
        case .dcn(let cross):
            guard cross.layers >= 1, (cross.rank ?? 1) >= 1 else {
                throw .invalidShape("a DCN interaction needs at least one layer and a positive rank (layers \(cross.layers), rank \(cross.rank.map(String.init) ?? "full"))")
            }
            return CrossNetworkLayer(width: input.flattenedWidth, network: cross, seed: seed)
        case .wukong(let layers, let layer):
            try Self.requireVectors(input, kind: kind)
            guard layers >= 1 else { throw .invalidShape("a Wukong interaction needs at least one layer, got \(layers)") }
            try layer.validate()
            let stack = (0 ..< layers).map { index in
                WukongInteractionLayer(
                    inputs: index == 0 ? input.vectors : layer.outputEmbeddings, dimension: d, shape: layer,
                    seed: SeededGenerator.mix(seed, UInt64(index)), threads: threads)
            }
            return LayerChain(stack)
        }
    }

    /// Dot and Wukong cut the dense vector into D-wide vectors, so its width must be a multiple of D.
    private static func requireVectors(_ input: InteractionInput, kind: String) throws(RecommendationNetworkError) {
        guard input.denseWidth % input.dimension == 0 else {
            throw .denseWidthNotVectors(denseWidth: input.denseWidth, dimension: input.dimension, interaction: kind)
        }
    }
}

extension WukongLayer {
    /// Throws unless n_F, n_L, k and every hidden width are positive.
    func validate() throws(RecommendationNetworkError) {
        guard fmEmbeddings >= 1, lcbEmbeddings >= 1, fmRank >= 1, mlpHidden.allSatisfy({ $0 >= 1 }) else {
            throw .invalidShape("a Wukong layer needs positive n_F, n_L, k and hidden widths (n_F \(fmEmbeddings), n_L \(lcbEmbeddings), k \(fmRank), hidden \(mlpHidden))")
        }
    }
}

extension TowerModule {
    /// The dense layers of one tower's module on its `features` pooled embeddings of width
    /// `dimension` (B × F_t·D in, B × d_t out, d_t = `outputWidth(features:dimension:)`), as the
    /// `TowerModule.Kind` documentation describes; projections are linear with a bias and no
    /// activation, MLP hidden layers use ReLU. Parameter count equals `parameterCount(features:dimension:)`.
    public func makeLayer(features: Int, dimension: Int, seed: UInt64, threads: ComputeThreads) throws(RecommendationNetworkError) -> any Layer {
        let flattened = features * dimension
        let width = outputWidth(features: features, dimension: dimension)
        guard width >= 1 else { throw .invalidShape("a \(kindName) tower module needs a positive output width, got \(width)") }
        func projection(from inputWidth: Int) -> Linear {
            Linear(inputWidth: inputWidth, outputWidth: width, relu: false, seed: SeededGenerator.mix(seed, 1), threads: threads)
        }
        switch kind {
        case .identity:
            return IdentityLayer(width: flattened)
        case .linear:
            return projection(from: flattened)
        case .mlp(let hidden):
            guard hidden.allSatisfy({ $0 >= 1 }) else { throw .invalidShape("tower MLP hidden widths must be positive, got \(hidden)") }
            return MLPNetwork(MLP(inputWidth: flattened, layerWidths: hidden + [width]), finalReLU: false, seed: seed, threads: threads)
        case .wukong(let layer):
            try layer.validate()
            let wukong = WukongInteractionLayer(
                inputs: features, dimension: dimension, shape: layer, seed: SeededGenerator.mix(seed, 0), threads: threads)
            return LayerChain([wukong, projection(from: wukong.outputWidth)])
        case .dot:
            let dot = DotInteraction(vectors: features, dimension: dimension, passthroughWidth: flattened, threads: threads)
            return LayerChain([dot, projection(from: dot.outputWidth)])
        }
    }
}
