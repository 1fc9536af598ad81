/// A plan the simulator cannot cost: tables that do not fit, a level the cluster lacks, a device
/// without the peak a workload computes in. The message says what, by how much, and what to change.
public struct SimulationError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
