import Training

/// The gradients of a set of parameters summed over a group in one all-reduce — PyTorch DDP's
/// bucket, here a single one: the dense parts of these models are small, so one call's latency
/// matters more than overlapping several. Cost per step: the gradients copied in and out once,
/// plus the all-reduce of Σ parameter sizes (+ the extra values) Floats.
final class GradientBucket {
    private let parameters: [Parameter]
    private var buffer: [Float]
    private let gradientCount: Int

    init(_ parameters: [Parameter]) {
        self.parameters = parameters
        gradientCount = parameters.reduce(0) { $0 + $1.gradient.count }
        buffer = []
    }

    /// Replaces every gradient by its sum over `group`; `extra` values ride in the same call and
    /// come back summed (a step's loss, so reporting it costs no collective of its own).
    func allReduce(over group: Communicator, extra: [Float] = []) throws(MPIError) -> [Float] {
        buffer.removeAll(keepingCapacity: true)
        for parameter in parameters {
            buffer.append(contentsOf: UnsafeBufferPointer(start: parameter.gradient.pointer, count: parameter.gradient.count))
        }
        buffer.append(contentsOf: extra)
        try group.allReduce(&buffer, .sum)
        var offset = 0
        for parameter in parameters {
            buffer.withUnsafeBufferPointer { parameter.gradient.pointer.update(from: $0.baseAddress! + offset, count: parameter.gradient.count) }
            offset += parameter.gradient.count
        }
        return Array(buffer[gradientCount...])
    }
}
