import Workload

/// The data-parallel part of a recommendation model as one layout sees it: the bottom MLP, the
/// global interaction on whatever arrives from the embeddings (all F pooled embeddings in the flat
/// model, the concatenated tower outputs under DMT), and the top MLP re-sized to that interaction.
///
/// Memory traffic per layer, for the roofline: weights read once plus every activation read or
/// written once (batch × (input + output widths)), in the compute format; backward moves twice
/// that (weight gradients written, activation gradients read and written). Element-wise work and
/// cache reuse are not modelled, as in `MLP`'s FLOP rule.
public struct DenseArchitecture: Sendable {
    public let bottomMLP: MLP?
    public let interaction: Interaction
    public let interactionInput: InteractionInput
    public let topMLP: MLP
    /// Bytes per value in the compute format.
    public let valueBytes: Double

    public init(model: RecommendationModel, interactionInput: InteractionInput, computeFormat: NumericFormat) {
        bottomMLP = model.bottomMLP
        interaction = model.interaction
        self.interactionInput = interactionInput
        topMLP = model.topMLP.withInputWidth(model.interaction.outputWidth(interactionInput))
        valueBytes = computeFormat.bytes
    }

    /// Parameters all-reduced over every GPU: bottom MLP + interaction + top MLP.
    public var parameterCount: Double {
        (bottomMLP?.parameterCount ?? 0) + interaction.parameterCount(interactionInput) + topMLP.parameterCount
    }

    /// The bottom MLP on `batch` samples: it needs only the dense features, so it can run while
    /// the embeddings are being fetched.
    public func bottomWork(batch: Int, _ direction: PassDirection) -> ComputeWork {
        guard let bottomMLP else { return .zero }
        return Self.work(bottomMLP, batch: batch, valueBytes: valueBytes, direction)
    }

    /// Interaction + top MLP on `batch` samples.
    public func overArchWork(batch: Int, _ direction: PassDirection) -> ComputeWork {
        Self.interactionWork(interaction, interactionInput, batch: batch, valueBytes: valueBytes, direction)
            + Self.work(topMLP, batch: batch, valueBytes: valueBytes, direction)
    }

    /// Work of a feature interaction in one direction: its FLOPs as interaction FLOPs; its
    /// parameters and its input and output activations once forward, twice backward.
    public static func interactionWork(
        _ interaction: Interaction, _ input: InteractionInput, batch: Int, valueBytes: Double, _ direction: PassDirection
    ) -> ComputeWork {
        let activations = Double(batch) * Double(input.flattenedWidth + interaction.outputWidth(input))
        let bytes = (interaction.parameterCount(input) + activations) * valueBytes
        switch direction {
        case .forward: return ComputeWork(interactionFlops: interaction.forwardFLOPs(input, batch: batch), streamedBytes: bytes)
        case .backward: return ComputeWork(interactionFlops: interaction.backwardFLOPs(input, batch: batch), streamedBytes: 2 * bytes)
        }
    }

    /// Work of an MLP in one direction (see the type's comment for the byte rule).
    public static func work(_ mlp: MLP, batch: Int, valueBytes: Double, _ direction: PassDirection) -> ComputeWork {
        let activations = Double(batch) * Double(mlp.inputWidth + mlp.layerWidths.reduce(0, +))
        let forward = ComputeWork(flops: mlp.forwardFLOPs(batch: batch), streamedBytes: (mlp.parameterCount + activations) * valueBytes)
        switch direction {
        case .forward: return forward
        case .backward: return ComputeWork(flops: mlp.backwardFLOPs(batch: batch), streamedBytes: 2 * forward.streamedBytes)
        }
    }
}
