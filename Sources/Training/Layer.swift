import Workload

/// A differentiable block of the dense network: batch in, batch out, rows are samples.
///
/// Contract (the whole engine relies on it):
/// - `forward` keeps a reference to `input` (no copy) and returns the layer's own output
///   workspace, valid until its next `forward`. The input must stay unchanged until `backward`.
/// - `backward` takes ∂loss/∂output for the last forward's batch, overwrites every parameter's
///   `gradient` (gradients are not accumulated across calls) and returns ∂loss/∂input in the
///   layer's own workspace, valid until its next `backward`. It never modifies `outputGradient`.
/// - Workspaces are resized with the batch and reallocated only when a batch is larger than any
///   before it, so steady-state training allocates nothing.
public protocol Layer: AnyObject {
    var inputWidth: Int { get }
    var outputWidth: Int { get }
    /// Trainable tensors with their gradients, in a fixed order with unique names inside the layer.
    var parameters: [Parameter] { get }
    func forward(_ input: Matrix) -> Matrix
    func backward(_ outputGradient: Matrix) -> Matrix
}

/// A named trainable tensor and its gradient buffer (same shape), as a dense optimizer sees it.
public final class Parameter {
    /// Unique inside its model, e.g. `top.0.weight`; checkpoints key on it.
    public let name: String
    public let value: Matrix
    public let gradient: Matrix

    init(name: String, rows: Int, columns: Int) {
        self.name = name
        value = Matrix(rows: rows, columns: columns)
        gradient = Matrix(rows: rows, columns: columns)
    }

    /// The same tensor under `prefix.name`, for a layer nested in a bigger one. Shares storage.
    private init(prefixing prefix: String, _ parameter: Parameter) {
        name = "\(prefix).\(parameter.name)"
        value = parameter.value
        gradient = parameter.gradient
    }

    /// `parameters` renamed under `prefix` (storage shared), so nested layers get unique names.
    static func prefixed(_ prefix: String, _ parameters: [Parameter]) -> [Parameter] {
        parameters.map { Parameter(prefixing: prefix, $0) }
    }
}

extension Matrix {
    /// Fills with independent uniform draws in [−bound, bound).
    func fillUniform(bound: Float, _ generator: inout SeededGenerator) {
        for index in 0 ..< count { pointer[index] = (2 * generator.nextFloat() - 1) * bound }
    }

    /// Glorot/Xavier uniform for a weight mapping `fanIn` values to `fanOut`: U(±√(6/(in+out))),
    /// variance 2/(in+out) — the variance DLRM's normal initialisation uses, without needing a
    /// Gaussian sampler.
    func fillGlorot(fanIn: Int, fanOut: Int, _ generator: inout SeededGenerator) {
        fillUniform(bound: (6 / Float(max(fanIn + fanOut, 1))).squareRoot(), &generator)
    }
}

/// Passes its input through: the identity tower module. Costs nothing (no copy either way).
public final class IdentityLayer: Layer {
    public let inputWidth: Int
    public var outputWidth: Int { inputWidth }
    public var parameters: [Parameter] { [] }

    public init(width: Int) { inputWidth = width }

    public func forward(_ input: Matrix) -> Matrix { input }
    public func backward(_ outputGradient: Matrix) -> Matrix { outputGradient }
}

/// Layers applied one after the other; parameters are named `<index>.<name>`.
public final class LayerChain: Layer {
    public let layers: [any Layer]
    public let parameters: [Parameter]

    /// `layers` must chain: each output width equals the next input width.
    public init(_ layers: [any Layer]) {
        precondition(!layers.isEmpty, "a layer chain needs at least one layer")
        for (first, second) in zip(layers, layers.dropFirst()) {
            precondition(first.outputWidth == second.inputWidth, "layer widths do not chain: \(first.outputWidth) → \(second.inputWidth)")
        }
        self.layers = layers
        parameters = layers.enumerated().flatMap { Parameter.prefixed(String($0.offset), $0.element.parameters) }
    }

    public var inputWidth: Int { layers[0].inputWidth }
    public var outputWidth: Int { layers[layers.count - 1].outputWidth }

    public func forward(_ input: Matrix) -> Matrix {
        layers.reduce(input) { $1.forward($0) }
    }

    public func backward(_ outputGradient: Matrix) -> Matrix {
        layers.reversed().reduce(outputGradient) { $1.backward($0) }
    }
}
