import Workload

/// Applies a `DenseOptimizer` rule to a model's dense parameters after each backward pass and
/// keeps the rule's state (one or two fp32 tensors per parameter, `DenseOptimizer.stateValuesPerParameter`).
///
/// Rules, PyTorch's defaults:
/// - sgd: w −= lr·g
/// - adagrad: G += g², w −= lr·g/(√G + 1e-10)
/// - adam: m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², w −= lr·(m/(1−β₁ᵗ))/(√(v/(1−β₂ᵗ)) + 1e-8), β = (0.9, 0.999)
///
/// One fused pass per parameter (read w, g and the state once, write w and the state once).
/// The update is element-wise and serial: dense parameters of these models are small next to
/// the batch's activations, so threads would not pay for their wake-up.
public final class DenseParameterOptimizer {
    public let rule: DenseOptimizer
    public let parameters: [Parameter]
    /// State per parameter: [] (sgd), [G] (adagrad), [m, v] (adam).
    private let state: [[Matrix]]

    static let adagradEpsilon: Float = 1e-10
    static let adamEpsilon: Float = 1e-8

    public init(_ rule: DenseOptimizer, parameters: [Parameter]) {
        self.rule = rule
        self.parameters = parameters
        let tensors = Int(rule.stateValuesPerParameter)
        state = parameters.map { parameter in
            (0 ..< tensors).map { _ in Matrix(rows: parameter.value.rows, columns: parameter.value.columns) }
        }
    }

    /// State tensors named `<parameter>.accumulator` (adagrad) or `<parameter>.momentum` / `.velocity` (adam).
    public var tensors: [(name: String, matrix: Matrix)] {
        let names = rule.kind == .adam ? ["momentum", "velocity"] : ["accumulator"]
        return zip(parameters, state).flatMap { parameter, tensors in
            zip(names, tensors).map { (name: "\(parameter.name).\($0)", matrix: $1) }
        }
    }

    /// Updates every parameter from its gradient; `step` is the 1-based step count (Adam's t).
    public func apply(step: Int) {
        let lr = Float(rule.learningRate)
        let corrections = UpdateRules.adamCorrections(step: step)
        for (parameter, tensors) in zip(parameters, state) {
            let w = parameter.value.pointer, g = parameter.gradient.pointer, count = parameter.value.count
            switch rule.kind {
            case .sgd:
                Kernels.axpy(-lr, g, w, count: count)
            case .adagrad:
                UpdateRules.adagrad(w, g, accumulator: tensors[0].pointer, count: count, learningRate: lr, epsilon: Self.adagradEpsilon)
            case .adam:
                UpdateRules.adam(w, g, momentum: tensors[0].pointer, velocity: tensors[1].pointer, count: count,
                                 learningRate: lr, corrections: corrections, epsilon: Self.adamEpsilon)
            }
        }
    }
}
