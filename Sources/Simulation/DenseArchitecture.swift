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
        let samples = Double(batch)
        let activations = samples * Double(interactionInput.flattenedWidth + interaction.outputWidth(interactionInput))
        let forward = ComputeWork(
            flops: interaction.forwardFLOPs(interactionInput, batch: batch),
            streamedBytes: (interaction.parameterCount(interactionInput) + activations) * valueBytes)
        let interactionWork = direction == .forward
            ? forward
            : ComputeWork(flops: interaction.backwardFLOPs(interactionInput, batch: batch), streamedBytes: 2 * forward.streamedBytes)
        return interactionWork + Self.work(topMLP, batch: batch, valueBytes: valueBytes, direction)
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
