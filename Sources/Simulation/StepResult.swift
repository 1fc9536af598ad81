/// What one simulated training step cost, and why.
public struct StepResult: Sendable {
    /// Time of one task of the step as the step's timeline, the trace and the phase table see it.
    public struct Phase: Sendable, Hashable {
        public let name: String
        public let isCommunication: Bool
        /// Compute: the task's duration on the slowest GPU. Communication: the collective's duration
        /// (until its slowest participant is done).
        public let seconds: Double
        /// Time the slowest GPU spends on this task with nothing else to do: all of a compute task;
        /// the part of a collective not hidden behind that GPU's compute.
        public let exposedSeconds: Double
    }

    /// Where one task ran on every rank.
    public struct TaskTimeline: Sendable {
        public let name: String
        public let isCommunication: Bool
        /// Moves ids; under the sparse-dist pipeline it is the next batch's.
        public let isInputDistribution: Bool
        /// Per rank, seconds from the start of the step. A rank outside a collective has
        /// `active` false and start = finish (the moment its dependencies were met).
        public let start: [Double]
        public let finish: [Double]
        public let active: [Bool]
        /// Communication: bytes per GPU (over all N) crossing each level's boundary in this
        /// collective; empty for compute.
        public let bytesPerGPUByLevel: [String: Double]
    }

    /// One link of the critical path.
    public struct PathStep: Sendable, Hashable {
        public let task: String
        /// The GPU it ran on; for a collective, the participant that arrived last.
        public let rank: Int32
        public let isCommunication: Bool
        public let start: Double
        public let finish: Double
    }

    /// One direction of one link and how busy the step kept it.
    public struct LinkLoad: Sendable, Hashable {
        public let from: String
        public let to: String
        public let medium: String?
        /// Bytes per second in this direction.
        public let bandwidth: Double
        public let bytes: Double
        /// bytes / (bandwidth × step time).
        public let utilization: Double
    }

    public let summary: String
    public let notes: [String]
    public let rankCount: Int
    public let globalBatch: Int
    /// Whether the next batch's ids were distributed during this step (TorchRec's sparse-dist pipeline).
    public let overlapsInputDistribution: Bool
    public let stepSeconds: Double
    /// The GPU with the most compute: its timeline is the one phases are measured on.
    public let slowestRank: Int32
    /// Time the slowest GPU waits with neither its own compute nor an exposed collective to run
    /// (waiting for slower participants); step = Σ exposed + idle on that GPU.
    public let idleSeconds: Double
    public let phases: [Phase]
    public let criticalPath: [PathStep]
    /// Bytes per GPU crossing each level's boundary over the whole step (level name → bytes).
    public let bytesPerGPUByLevel: [String: Double]
    /// Link directions by utilisation, highest first (at most five).
    public let busiestLinks: [LinkLoad]
    public let tasks: [TaskTimeline]
    /// GPUs whose timelines explain the step: rank 0, the slowest GPU, and the layout's picks.
    public let tracks: [LabelledRank]

    /// Global batch / step time.
    public var samplesPerSecond: Double { stepSeconds > 0 ? Double(globalBatch) / stepSeconds : 0 }
}
