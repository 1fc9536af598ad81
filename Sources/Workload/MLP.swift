/// A stack of fully connected layers (weights and bias; the activation costs nothing here).
///
/// FLOP rule for every layer-based block in this module: a multiply-add is 2 FLOPs, and
/// element-wise work (bias add, activation, layer norm, residual add) is not counted: it is
/// O(width) against the O(width²) of the matrix product, and memory-bound rather than
/// FLOP-bound on the accelerators we model.
public struct MLP: Sendable, Hashable {
    /// Width of the input vector.
    public var inputWidth: Int
    /// Output width of each layer, first to last.
    public var layerWidths: [Int]

    public init(inputWidth: Int, layerWidths: [Int]) {
        self.inputWidth = inputWidth
        self.layerWidths = layerWidths
    }

    /// Width of the last layer's output (the input width when there are no layers).
    public var outputWidth: Int { layerWidths.last ?? inputWidth }

    /// (in, out) of each layer.
    private var shapes: some Sequence<(Int, Int)> { zip([inputWidth] + layerWidths, layerWidths) }

    /// The same layers fed by an input of another width, e.g. the top MLP of a DMT layout whose
    /// interaction sees compressed tower outputs.
    public func withInputWidth(_ width: Int) -> MLP { MLP(inputWidth: width, layerWidths: layerWidths) }

    /// Weights and biases: Σ (in · out + out).
    public var parameterCount: Double {
        shapes.reduce(0) { $0 + Double($1.0) * Double($1.1) + Double($1.1) }
    }

    /// Forward FLOPs for `batch` samples: 2 · batch · Σ in · out.
    public func forwardFLOPs(batch: Int) -> Double {
        2 * Double(batch) * shapes.reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Backward FLOPs: 2 × forward, one matrix product for the input gradient and one for the
    /// weight gradient per layer. (The first layer's input gradient is not needed when the input
    /// is data; we keep the uniform rule, as the usual 6·params·tokens estimates do.)
    public func backwardFLOPs(batch: Int) -> Double { 2 * forwardFLOPs(batch: batch) }
}
