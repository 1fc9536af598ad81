/// A model to train and how it is trained: what the planner partitions and the simulator costs.
public struct Workload: Sendable, Hashable {
    /// The kind of model, each with its own element in the file (`<recommendation>`, `<transformer>`).
    public enum Model: Sendable, Hashable {
        case recommendation(RecommendationModel)
        /// A dense decoder-only transformer trained with tensor, context, pipeline and data
        /// parallelism; it has no sparse features, so recommendation-only commands refuse it.
        case transformer(TransformerModel)
    }

    public var name: String
    public var description: String?
    public var model: Model
    public var training: TrainingSetup
    public var data: DataSource?
    /// The file it was loaded from (or the name given to `WorkloadLoader.load(data:name:)`).
    public var file: String

    public init(name: String, description: String? = nil, model: Model, training: TrainingSetup, data: DataSource? = nil, file: String = "") {
        self.name = name
        self.description = description
        self.model = model
        self.training = training
        self.data = data
        self.file = file
    }

    /// The recommendation model, when that is what the workload trains.
    public var recommendation: RecommendationModel? {
        switch model {
        case .recommendation(let model): model
        case .transformer: nil
        }
    }

    /// The transformer, when that is what the workload trains.
    public var transformer: TransformerModel? {
        switch model {
        case .recommendation: nil
        case .transformer(let model): model
        }
    }

    /// "recommendation" or "transformer", for messages that refuse the other kind.
    public var kindName: String {
        switch model {
        case .recommendation: "recommendation"
        case .transformer: "transformer"
        }
    }

    /// Every sparse feature, groups expanded (`grp_0`, `grp_1`, …), in file order.
    public var features: [SparseFeature] { recommendation?.features ?? [] }
}

/// A DLRM-style model (DESIGN §1.1): sparse features → embedding lookups; dense features →
/// bottom MLP; an interaction; a top MLP; and the tower module DMT inserts per tower.
public struct RecommendationModel: Sendable, Hashable {
    /// Embedding width D, shared by every table: the dot and Wukong interactions and the DMT
    /// tower modules all work on D-wide vectors.
    public var embeddingDimension: Int
    /// Sparse features with groups expanded.
    public var features: [SparseFeature]
    /// Number of dense (float) input features; 0 when there are none.
    public var denseFeatures: Int
    /// Dense features → dense vector. nil when the dense features feed the interaction directly
    /// (DCN-v2 concatenates them with the embeddings) or when there are none.
    public var bottomMLP: MLP?
    public var interaction: Interaction
    /// Over-arch of the flat model; its input width is the interaction's output width.
    public var topMLP: MLP
    /// Applied per tower under DMT; identity when the file names none.
    public var towerModule: TowerModule

    public init(
        embeddingDimension: Int, features: [SparseFeature], denseFeatures: Int, bottomMLP: MLP?, interaction: Interaction,
        topMLP: MLP, towerModule: TowerModule = .identity
    ) {
        self.embeddingDimension = embeddingDimension
        self.features = features
        self.denseFeatures = denseFeatures
        self.bottomMLP = bottomMLP
        self.interaction = interaction
        self.topMLP = topMLP
        self.towerModule = towerModule
    }

    /// Width of the dense vector entering the interaction: bottom-MLP output, else the raw dense features.
    public var denseWidth: Int { bottomMLP?.outputWidth ?? denseFeatures }

    /// What the flat model's interaction sees: every feature's pooled embedding and the dense vector.
    public var interactionInput: InteractionInput {
        InteractionInput(embeddings: features.count, dimension: embeddingDimension, denseWidth: denseWidth)
    }

    /// Rows over all tables.
    public var totalTableRows: Int { features.reduce(0) { $0 + $1.tableRows } }

    /// Embedding parameters over all tables: Σ tableRows · D.
    public var embeddingParameterCount: Double { features.reduce(0) { $0 + $1.parameterCount } }

    /// Data-parallel parameters all-reduced over every GPU: bottom MLP + interaction + top MLP
    /// (tower modules are all-reduced inside their domain and counted by `TowerModule.parameterCount`).
    public var denseParameterCount: Double {
        (bottomMLP?.parameterCount ?? 0) + interaction.parameterCount(interactionInput) + topMLP.parameterCount
    }

    /// Bytes of the dense gradients each GPU all-reduces per step: denseParameterCount · bytes(format).
    public func denseGradientBytes(format: NumericFormat) -> Double {
        denseParameterCount * format.bytes
    }

    /// Forward FLOPs of the flat model's dense part for `batch` samples: bottom MLP + interaction + top MLP.
    public func denseForwardFLOPs(batch: Int) -> Double {
        (bottomMLP?.forwardFLOPs(batch: batch) ?? 0) + interaction.forwardFLOPs(interactionInput, batch: batch)
            + topMLP.forwardFLOPs(batch: batch)
    }

    /// Backward FLOPs of the same, each part by its own rule (`MLP.backwardFLOPs`, `Interaction.backwardFLOPs`).
    public func denseBackwardFLOPs(batch: Int) -> Double {
        (bottomMLP?.backwardFLOPs(batch: batch) ?? 0) + interaction.backwardFLOPs(interactionInput, batch: batch)
            + topMLP.backwardFLOPs(batch: batch)
    }
}
