import Foundation
import Testing
import Workload
@testable import Training

@Suite struct OptimizerRuleTests {
    /// Three steps of each dense rule on w = (1, −2, 0.5) with gradients g_t = (0.3, −0.1, 2)·t,
    /// against the rules written out in Double.
    @Test(arguments: [DenseOptimizer.Kind.sgd, .adagrad, .adam])
    func denseRulesMatchHandComputedUpdates(kind: DenseOptimizer.Kind) {
        let parameter = Parameter(name: "w", rows: 1, columns: 3)
        parameter.value.load([1, -2, 0.5])
        let optimizer = DenseParameterOptimizer(DenseOptimizer(kind: kind, learningRate: 0.1), parameters: [parameter])
        var w: [Double] = [1, -2, 0.5]
        var first: [Double] = [0, 0, 0], second: [Double] = [0, 0, 0]
        for step in 1 ... 3 {
            let g = [0.3, -0.1, 2].map { $0 * Double(step) }
            parameter.gradient.load(g.map(Float.init))
            optimizer.apply(step: step)
            for i in 0 ..< 3 {
                switch kind {
                case .sgd:
                    w[i] -= 0.1 * g[i]
                case .adagrad:
                    first[i] += g[i] * g[i]
                    w[i] -= 0.1 * g[i] / (first[i].squareRoot() + 1e-10)
                case .adam:
                    first[i] = 0.9 * first[i] + 0.1 * g[i]
                    second[i] = 0.999 * second[i] + 0.001 * g[i] * g[i]
                    w[i] -= 0.1 * (first[i] / (1 - pow(0.9, Double(step)))) / ((second[i] / (1 - pow(0.999, Double(step)))).squareRoot() + 1e-8)
                }
            }
        }
        expectClose(parameter.value.values, w, "\(kind)")
        #expect(optimizer.tensors.count == Int(DenseOptimizer(kind: kind, learningRate: 0.1).stateValuesPerParameter))
    }
}
