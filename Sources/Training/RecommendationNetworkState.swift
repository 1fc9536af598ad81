extension RecommendationNetwork {
    /// Every tensor of the training state, with its checkpoint name: dense parameters
    /// (`bottom.…`, `tower.<t>.…`, `interaction.…`, `top.…`), tables and their optimizer state
    /// (`embedding.<feature>.weight`, `.accumulator`, `.momentum`, `.velocity`) and the dense
    /// optimizer's state (`optimizer.<parameter>.accumulator`, `.momentum`, `.velocity`).
    private var stateTensors: [(name: String, matrix: Matrix)] {
        optimizer.parameters.map { (name: $0.name, matrix: $0.value) }
            + bags.flatMap { $0.tensors.map { (name: "embedding.\($0.name)", matrix: $0.matrix) } }
            + optimizer.tensors.map { (name: "optimizer.\($0.name)", matrix: $0.matrix) }
    }

    /// Key of the step counter in the state.
    static let stepKey = "step"

    /// The whole training state as named Float arrays (row-major tensors), copied: what a
    /// checkpoint stores. `step` is stored as [⌊step / 2²⁴⌋, step mod 2²⁴], both exact in Float.
    /// Restoring it with `importState` into a model built from the same workload and layout
    /// continues training bit-identically. Cost: a copy of every parameter, table and state.
    public func exportState() -> [String: [Float]] {
        var state = [String: [Float]](uniqueKeysWithValues: stateTensors.map { ($0.name, $0.matrix.values) })
        state[Self.stepKey] = [Float(step >> 24), Float(step & 0xFF_FFFF)]
        return state
    }

    /// Restores a state written by `exportState`. Every tensor must be present with its exact
    /// size and no unknown name may appear; nothing is changed unless the whole state fits.
    public func importState(_ state: [String: [Float]]) throws(RecommendationNetworkError) {
        let tensors = stateTensors
        let expected = Set(tensors.map(\.name)).union([Self.stepKey])
        if let unknown = state.keys.filter({ !expected.contains($0) }).sorted().first {
            throw .state("unknown tensor \(unknown): the state belongs to another model, layout or optimizer")
        }
        for (name, matrix) in tensors {
            guard let values = state[name] else { throw .state("tensor \(name) is missing") }
            guard values.count == matrix.count else { throw .state("tensor \(name) has \(values.count) values, the model needs \(matrix.count)") }
        }
        guard let counter = state[Self.stepKey], counter.count == 2, counter.allSatisfy({ $0 >= 0 && $0 < 0x1p24 && $0.rounded() == $0 }) else {
            throw .state("step must be two whole numbers below 2²⁴")
        }
        for (name, matrix) in tensors { matrix.load(state[name]!) }
        step = Int(counter[0]) << 24 | Int(counter[1])
    }
}
