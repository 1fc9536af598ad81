/// What an interaction sees for one sample: sparse embeddings of width D and one dense vector.
///
/// For the flat model this is `RecommendationModel.interactionInput` (F embeddings). Under DMT
/// the global interaction sees the tower outputs instead; the caller describes them here (e.g.
/// Σ d_t / D embeddings when tower outputs are reshaped into D-wide vectors).
public struct InteractionInput: Sendable, Hashable {
    /// Sparse embedding vectors, each `dimension` wide.
    public var embeddings: Int
    /// Embedding width D.
    public var dimension: Int
    /// Width of the dense vector: the bottom-MLP output, the raw dense features when there is no
    /// bottom MLP, or 0 when the model has no dense features.
    public var denseWidth: Int

    public init(embeddings: Int, dimension: Int, denseWidth: Int) {
        self.embeddings = embeddings
        self.dimension = dimension
        self.denseWidth = denseWidth
    }

    /// Width of everything concatenated: denseWidth + embeddings · D (DCN's x₀).
    public var flattenedWidth: Int { denseWidth + embeddings * dimension }

    /// D-wide vectors the interaction works on: the embeddings plus the dense vector cut into
    /// denseWidth / D vectors (one for DLRM, where the bottom MLP ends at D). The loader makes sure
    /// denseWidth is a multiple of D for the kinds that need vectors (dot, wukong).
    public var vectors: Int { embeddings + denseWidth / max(dimension, 1) }
}

/// DCN-v2 cross network (Wang et al., "DCN V2", WWW 2021), stacked before the deep part (the top MLP).
///
/// Layer l on x₀ ∈ ℝ^m: x_{l+1} = x₀ ⊙ (W x_l + b) + x_l with W ∈ ℝ^{m×m}, or W = U Vᵀ with
/// U, V ∈ ℝ^{m×r} when `rank` is set (the paper's low-rank variant). The width m never changes.
public struct CrossNetwork: Sendable, Hashable {
    public var layers: Int
    /// Low rank r, or nil for full-rank layers.
    public var rank: Int?

    public init(layers: Int, rank: Int? = nil) {
        self.layers = layers
        self.rank = rank
    }

    /// Parameters of one layer on width m: m² + m (full) or 2·m·r + m (low rank).
    func layerParameters(width m: Double) -> Double {
        if let rank { return 2 * m * Double(rank) + m }
        return m * m + m
    }

    /// Forward FLOPs of one layer for one sample: 2·m² (full) or 4·m·r (two thin products).
    func layerFLOPs(width m: Double) -> Double {
        if let rank { return 4 * m * Double(rank) }
        return 2 * m * m
    }
}

/// One Wukong layer (Zhang et al., ICML 2024; DESIGN §1.3) on n input embeddings of width d:
/// X' = LN(concat(FMB(X), LCB(X)) + residual(X)), giving n_F + n_L embeddings.
///
/// - FM: X·(Xᵀ·Y), Y ∈ ℝ^{n×k}: n×k values, O(n·k·d) instead of O(n²·d).
/// - FMB: LN(flatten(FM)) through an MLP with the hidden widths `mlpHidden`, then to n_F·d.
/// - LCB: W_L·X, W_L ∈ ℝ^{n_L×n}, no bias.
/// - residual: X itself when n = n_F + n_L, else a linear projection ℝ^{(n_F+n_L)×n}.
/// - LN: one layer norm over each output embedding (2·d parameters).
public struct WukongLayer: Sendable, Hashable {
    /// n_F: embeddings the factorization-machine block produces.
    public var fmEmbeddings: Int
    /// n_L: embeddings the linear compression block produces.
    public var lcbEmbeddings: Int
    /// k: rank of the optimized FM's projection Y.
    public var fmRank: Int
    /// Hidden widths of the FMB's MLP, before its final layer to n_F·d (may be empty).
    public var mlpHidden: [Int]

    public init(fmEmbeddings: Int, lcbEmbeddings: Int, fmRank: Int, mlpHidden: [Int]) {
        self.fmEmbeddings = fmEmbeddings
        self.lcbEmbeddings = lcbEmbeddings
        self.fmRank = fmRank
        self.mlpHidden = mlpHidden
    }

    /// Embeddings out: n_F + n_L.
    public var outputEmbeddings: Int { fmEmbeddings + lcbEmbeddings }

    /// The FMB's MLP for `inputs` embeddings of width `dimension`: n·k → hidden… → n_F·d.
    public func fmbMLP(inputs: Int, dimension: Int) -> MLP {
        MLP(inputWidth: inputs * fmRank, layerWidths: mlpHidden + [fmEmbeddings * dimension])
    }

    /// Parameters: Y (n·k) + FM layer norm (2·n·k) + FMB MLP + W_L (n_L·n)
    /// + residual projection ((n_F+n_L)·n, only when n ≠ n_F+n_L) + output layer norm (2·d).
    public func parameterCount(inputs: Int, dimension: Int) -> Double {
        let n = Double(inputs), k = Double(fmRank), d = Double(dimension)
        let residual = inputs == outputEmbeddings ? 0 : Double(outputEmbeddings) * n
        return n * k + 2 * n * k + fmbMLP(inputs: inputs, dimension: dimension).parameterCount
            + Double(lcbEmbeddings) * n + residual + 2 * d
    }

    /// Forward FLOPs for `batch` samples: per sample, FM 4·n·d·k (Xᵀ·Y, then X·(XᵀY)), FMB MLP
    /// (2·Σ in·out), LCB 2·n_L·n·d, residual projection 2·(n_F+n_L)·n·d when n ≠ n_F+n_L.
    public func forwardFLOPs(inputs: Int, dimension: Int, batch: Int) -> Double {
        let n = Double(inputs), k = Double(fmRank), d = Double(dimension)
        let residual = inputs == outputEmbeddings ? 0 : 2 * Double(outputEmbeddings) * n * d
        let perSample = 4 * n * d * k + 2 * Double(lcbEmbeddings) * n * d + residual
        return Double(batch) * perSample + fmbMLP(inputs: inputs, dimension: dimension).forwardFLOPs(batch: batch)
    }
}

/// The global feature interaction between the embeddings (and the dense vector) and the top MLP.
public enum Interaction: Sendable, Hashable {
    /// DLRM: pairwise dot products of the n = F + 1 vectors (lower triangle, no diagonal),
    /// concatenated with the dense vector: output width denseWidth + n(n−1)/2.
    case dot
    /// DCN-v2 cross layers on the concatenated input; output width = input width.
    case dcn(CrossNetwork)
    /// `layers` (≥ 1) stacked Wukong layers of one shape; output width (n_F + n_L)·D.
    case wukong(layers: Int, layer: WukongLayer)

    /// The kind's name as written in workload files.
    public var kind: String {
        switch self {
        case .dot: "dot"
        case .dcn: "dcn"
        case .wukong: "wukong"
        }
    }

    /// Width of the vector handed to the top MLP.
    public func outputWidth(_ input: InteractionInput) -> Int {
        switch self {
        case .dot:
            let n = input.vectors
            return input.denseWidth + n * (n - 1) / 2
        case .dcn:
            return input.flattenedWidth
        case .wukong(_, let layer):
            return layer.outputEmbeddings * input.dimension
        }
    }

    /// Trainable parameters (data-parallel, all-reduced with the MLPs).
    /// dot: 0; dcn: layers × layer parameters on m = flattened width; wukong: first layer on the
    /// input vectors, the others on n_F + n_L.
    public func parameterCount(_ input: InteractionInput) -> Double {
        switch self {
        case .dot:
            return 0
        case .dcn(let cross):
            return Double(cross.layers) * cross.layerParameters(width: Double(input.flattenedWidth))
        case .wukong(let layers, let layer):
            let first = layer.parameterCount(inputs: input.vectors, dimension: input.dimension)
            let rest = layer.parameterCount(inputs: layer.outputEmbeddings, dimension: input.dimension)
            return first + Double(layers - 1) * rest
        }
    }

    /// Forward FLOPs for `batch` samples.
    /// - dot: 2·n²·D per sample. DLRM and TorchRec compute the full Gram matrix with one batched
    ///   matmul and then gather the lower triangle, so the whole n×n product is paid for.
    /// - dcn: layers × (2·m² or 4·m·r) per sample.
    /// - wukong: the sum of the layers' FLOPs (`WukongLayer.forwardFLOPs`).
    public func forwardFLOPs(_ input: InteractionInput, batch: Int) -> Double {
        switch self {
        case .dot:
            let n = Double(input.vectors)
            return Double(batch) * 2 * n * n * Double(input.dimension)
        case .dcn(let cross):
            return Double(batch) * Double(cross.layers) * cross.layerFLOPs(width: Double(input.flattenedWidth))
        case .wukong(let layers, let layer):
            let first = layer.forwardFLOPs(inputs: input.vectors, dimension: input.dimension, batch: batch)
            let rest = layer.forwardFLOPs(inputs: layer.outputEmbeddings, dimension: input.dimension, batch: batch)
            return first + Double(layers - 1) * rest
        }
    }

    /// Backward FLOPs for `batch` samples.
    /// - dot: 1 × forward: no weights, and the input gradient (dZ + dZᵀ)·X is one batched matmul.
    /// - dcn, wukong: 2 × forward (input and weight gradients of every product; the FM's Y is learned).
    public func backwardFLOPs(_ input: InteractionInput, batch: Int) -> Double {
        switch self {
        case .dot: forwardFLOPs(input, batch: batch)
        case .dcn, .wukong: 2 * forwardFLOPs(input, batch: batch)
        }
    }
}
