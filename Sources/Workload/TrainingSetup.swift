/// A numeric format values are stored, sent or computed in.
///
/// Raw values match Topology's `Precision`, so the Simulation can look up a device's peak for
/// the compute format with `Precision(rawValue: format.rawValue)` without Workload depending on Topology.
public enum NumericFormat: String, Sendable, Hashable, CaseIterable {
    case fp32, tf32, bf16, fp16, fp8, int8

    /// Bytes one value occupies in memory or on the wire. TF32 is an fp32 storage format that
    /// tensor cores read with a shorter mantissa, so it stores 4 bytes.
    public var bytes: Double {
        switch self {
        case .fp32, .tf32: 4
        case .bf16, .fp16: 2
        case .fp8, .int8: 1
        }
    }

    /// Bytes of one embedding row of `dimension` values stored in this format.
    ///
    /// int8 rows also carry an fp32 scale and bias (8 bytes), as FBGEMM's row-wise quantisation
    /// stores them; for a dimension-16 table that is a third of the row, so it is not negligible.
    /// - Formula: D · bytes + (8 if int8 else 0).
    public func embeddingRowBytes(dimension: Int) -> Double {
        Double(dimension) * bytes + (self == .int8 ? 8 : 0)
    }
}

/// Which half of a training step a transfer belongs to.
public enum PassDirection: String, Sendable, Hashable, CaseIterable {
    case forward, backward
}

/// The numeric formats of a training run.
public struct Precisions: Sendable, Hashable {
    /// How embedding tables are stored (fp32, fp16, bf16 or int8).
    public var embedding: NumericFormat
    /// Format of ids' pooled embeddings sent forward (fp32, fp16, bf16 or fp8).
    public var forwardCommunication: NumericFormat
    /// Format of embedding gradients sent backward (fp32, fp16, bf16 or fp8).
    public var backwardCommunication: NumericFormat
    /// Format dense layers compute in (fp32, tf32, bf16 or fp16): picks the device peak.
    public var compute: NumericFormat
    /// Format dense gradients are all-reduced in (fp32, fp16 or bf16).
    public var gradientAllReduce: NumericFormat

    public init(
        embedding: NumericFormat = .fp32, forwardCommunication: NumericFormat = .fp32,
        backwardCommunication: NumericFormat = .fp32, compute: NumericFormat = .fp32,
        gradientAllReduce: NumericFormat = .fp32
    ) {
        self.embedding = embedding
        self.forwardCommunication = forwardCommunication
        self.backwardCommunication = backwardCommunication
        self.compute = compute
        self.gradientAllReduce = gradientAllReduce
    }

    /// The format embeddings (forward) or their gradients (backward) travel in.
    public func communication(_ direction: PassDirection) -> NumericFormat {
        switch direction {
        case .forward: forwardCommunication
        case .backward: backwardCommunication
        }
    }
}

/// Optimizer for embedding tables. Its state lives next to the table on the table's owner, so
/// it costs memory per row and memory traffic per touched row.
public struct SparseOptimizer: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case sgd, adagrad
        /// One accumulator per row instead of per element (FBGEMM / TorchRec default for large tables).
        case rowwiseAdagrad = "rowwise-adagrad"
        case adam
    }

    /// Optimizer state is kept in fp32 whatever the table format, as FBGEMM does by default.
    public static let stateBytesPerValue = 4.0

    public var kind: Kind
    public var learningRate: Double

    public init(kind: Kind, learningRate: Double) {
        self.kind = kind
        self.learningRate = learningRate
    }

    /// Optimizer state values kept for one row of `dimension` elements.
    /// sgd: 0; adagrad: D (one accumulator per element); rowwise-adagrad: 1; adam: 2·D (two moments).
    public func stateValuesPerRow(dimension: Int) -> Double {
        switch kind {
        case .sgd: 0
        case .adagrad: Double(dimension)
        case .rowwiseAdagrad: 1
        case .adam: 2 * Double(dimension)
        }
    }

    /// Optimizer state bytes for one row: stateValuesPerRow × 4 (fp32 state).
    public func stateBytesPerRow(dimension: Int) -> Double {
        stateValuesPerRow(dimension: dimension) * Self.stateBytesPerValue
    }

    /// Memory traffic of updating one touched row: the row and its state are each read once
    /// and written once.
    /// - Formula: 2 · (rowBytes(D, storage) + stateBytesPerRow(D)). With fp32 rows of D values:
    ///   sgd 8D, rowwise-adagrad 8D + 8, adagrad 16D, adam 24D.
    /// - Note: the gradient row itself is produced by the backward lookup and counted there.
    public func updateBytesPerRow(dimension: Int, storage: NumericFormat) -> Double {
        2 * (storage.embeddingRowBytes(dimension: dimension) + stateBytesPerRow(dimension: dimension))
    }
}

/// Optimizer for the dense (data-parallel) parameters.
public struct DenseOptimizer: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case sgd, adagrad, adam
    }

    public var kind: Kind
    public var learningRate: Double

    public init(kind: Kind, learningRate: Double) {
        self.kind = kind
        self.learningRate = learningRate
    }

    /// fp32 state values kept per dense parameter: sgd 0, adagrad 1, adam 2.
    public var stateValuesPerParameter: Double {
        switch kind {
        case .sgd: 0
        case .adagrad: 1
        case .adam: 2
        }
    }
}

/// How the model is trained: per-GPU batch, numeric formats, optimizers.
public struct TrainingSetup: Sendable, Hashable {
    /// Samples each GPU contributes per step (B in DESIGN §1.2); the global batch is B·N.
    /// For a transformer, whose global batch is set in tokens, it is the micro-batch: sequences
    /// one model replica runs through the pipeline at a time (Megatron-LM's `micro-batch-size`).
    public var batchPerGPU: Int
    public var precisions: Precisions
    /// For a transformer, the dense optimizer's kind and rate: its token embedding is an ordinary
    /// weight matrix, trained with everything else (the file has no `<sparse-optimizer>`).
    public var sparseOptimizer: SparseOptimizer
    public var denseOptimizer: DenseOptimizer

    public init(batchPerGPU: Int, precisions: Precisions = Precisions(), sparseOptimizer: SparseOptimizer, denseOptimizer: DenseOptimizer) {
        self.batchPerGPU = batchPerGPU
        self.precisions = precisions
        self.sparseOptimizer = sparseOptimizer
        self.denseOptimizer = denseOptimizer
    }
}
