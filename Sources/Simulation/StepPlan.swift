import Workload

/// One node of a training step's task graph.
public struct StepTask: Sendable {
    public enum Work: Sendable {
        /// Work per rank (indexed by rank), on each GPU's compute stream.
        case compute([ComputeWork])
        /// A collective on the communication stream of its participants.
        case communication(Collective)
    }

    public var name: String
    public var work: Work
    /// Tasks (indices into `StepPlan.tasks`, all earlier) that must finish first, on the same rank
    /// for compute, on every participant for a collective.
    public var dependencies: [Int]
    /// Moves this batch's ids to the embedding owners. Under TorchRec's sparse-dist pipeline it
    /// carries the *next* batch's ids instead, so nothing in the step waits for it.
    public var isInputDistribution: Bool

    public var isCommunication: Bool {
        if case .communication = work { return true }
        return false
    }
}

/// A rank worth a track of its own in timelines, with why.
public struct LabelledRank: Sendable, Hashable {
    public var rank: Int32
    public var label: String

    public init(rank: Int32, label: String) {
        self.rank = rank
        self.label = label
    }
}

/// One training step of one layout as a DAG of compute and communication tasks, in issue order:
/// each GPU runs its compute tasks in this order on one stream and its collectives in this
/// order on another, as PyTorch does with its default and NCCL streams.
public struct StepPlan: Sendable {
    /// One line naming the layout, e.g. "flat, table-wise sharding".
    public var summary: String
    public var rankCount: Int
    public var globalBatch: Int
    /// Format dense tasks compute in (picks the device peak).
    public var computePrecision: NumericFormat
    public private(set) var tasks: [StepTask] = []
    public var sharding: ShardingPlan
    /// GPUs whose timelines explain the layout (besides rank 0 and the slowest, which the step model adds).
    public var ranksOfInterest: [LabelledRank] = []
    /// Facts about the plan a reader should know (defaults taken, approximations chosen).
    public var notes: [String] = []
    /// Whether `communicate` adds the passes that lay out a collective's send buffer and its
    /// received data (`BufferCopies`) as compute tasks. Off by default: on GPUs TorchRec's permute
    /// kernels are small beside the step and DESIGN §1.2's costs leave them out. towerplan's CPU
    /// ranks copy on the thread that computes, between phases the trainer times: 5–8 % of a step
    /// (`train --predict` turns it on).
    public var chargesBufferCopies = false

    public init(summary: String, rankCount: Int, globalBatch: Int, computePrecision: NumericFormat, sharding: ShardingPlan) {
        self.summary = summary
        self.rankCount = rankCount
        self.globalBatch = globalBatch
        self.computePrecision = computePrecision
        self.sharding = sharding
    }

    /// Completion of a stage: the tasks a successor must wait for. A stage that does no work is
    /// left out of the graph and hands on its own dependencies, so skipping it loses no ordering.
    public typealias Done = [Int]

    /// Adds a compute task unless every rank's work is zero.
    @discardableResult
    public mutating func compute(_ name: String, _ work: [ComputeWork], after: Done...) -> Done {
        let dependencies = Array(Set(after.joined())).sorted()
        guard work.contains(where: { !$0.isZero }) else { return dependencies }
        tasks.append(StepTask(name: name, work: .compute(work), dependencies: dependencies, isInputDistribution: false))
        return [tasks.count - 1]
    }

    /// Which side of a collective a rank copies through a buffer of its own: the data it sends
    /// packed into a contiguous send buffer (ids grouped by destination, gradients gathered into a
    /// bucket), and what it receives moved into place (pooled embeddings into the sample-major
    /// matrix, a bucket back into the gradients).
    public struct BufferCopies: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let send = BufferCopies(rawValue: 1)
        public static let receive = BufferCopies(rawValue: 2)
    }

    /// Adds a collective unless it moves no bytes; with `chargesBufferCopies`, a compute task
    /// "<name>: packing" before it and "<name>: unpacking" after it for the sides `copies` names,
    /// each a streaming pass that reads and writes the bytes each rank sends or receives (its own
    /// share included: the trainer copies that too).
    @discardableResult
    public mutating func communicate(
        _ name: String, _ collective: Collective, inputDistribution: Bool = false, copies: BufferCopies = [], after: Done...
    ) -> Done {
        var dependencies = Array(Set(after.joined())).sorted()
        guard collective.movesData else { return dependencies }
        let charged = chargesBufferCopies ? copies : []
        // One streaming pass per rank: read and write the side's bytes.
        let ranks = rankCount
        let pass = { (side: BufferCopies) in collective.bytesPerRank(ranks, side).map { ComputeWork(streamedBytes: 2 * $0) } }
        if charged.contains(.send) {
            dependencies = compute("\(name): packing", pass(.send), after: dependencies)
        }
        tasks.append(StepTask(name: name, work: .communication(collective), dependencies: dependencies, isInputDistribution: inputDistribution))
        let done = [tasks.count - 1]
        guard charged.contains(.receive) else { return done }
        return compute("\(name): unpacking", pass(.receive), after: done)
    }
}

extension Collective {
    /// Bytes each of `rankCount` ranks sends (`.send`) or receives (`.receive`) in this collective,
    /// its own share included (an all-to-all's block to itself, an all-reduce's whole buffer); 0
    /// for ranks in no group.
    func bytesPerRank(_ rankCount: Int, _ side: StepPlan.BufferCopies) -> [Double] {
        var bytes = [Double](repeating: 0, count: rankCount)
        for (index, group) in groups.enumerated() {
            for rank in group {
                switch kind {
                case .allToAll:
                    bytes[Int(rank)] = group.reduce(0) { sum, other in
                        sum + (side == .send ? traffic.bytes(from: rank, to: other) : traffic.bytes(from: other, to: rank))
                    }
                case .allReduce, .reduceScatter, .allGather, .pointToPoint:
                    bytes[Int(rank)] = bufferBytes.indices.contains(index) ? bufferBytes[index] : 0
                }
            }
        }
        return bytes
    }

    /// Whether any rank sends a byte: a group of two or more ranks with a non-zero buffer or traffic.
    var movesData: Bool {
        switch kind {
        case .allToAll:
            guard traffic.perPair > 0 else { return false }
            return groups.contains { group in
                let senders = group.filter { (traffic.sourceScale[$0] ?? 1) > 0 }
                let receivers = group.filter { (traffic.destinationScale[$0] ?? 1) > 0 }
                // Some sender must have a receiver other than itself.
                return !senders.isEmpty && !receivers.isEmpty && !(senders.count == 1 && receivers == senders)
            }
        case .allReduce, .reduceScatter, .allGather, .pointToPoint:
            return zip(groups, bufferBytes).contains { $0.count > 1 && $1 > 0 }
        }
    }
}

extension StepPlan {
    /// Lays one training step out around a layout's sparse part, in issue order: bottom MLP forward
    /// (it needs only dense features, so it overlaps the embedding fetch), the layout's sparse
    /// forward, interaction + top MLP forward and backward, bottom MLP backward (issued before
    /// the sparse backward, whose first task waits on the network), the sparse backward, and one
    /// all-reduce of the data-parallel gradients. DDP's bucketed all-reduce, which starts on the
    /// top layers' gradients while lower layers still compute, is modelled as that single
    /// all-reduce after the dense backward: pessimistic when the dense gradients are large. The
    /// dense optimizer then updates every replica (`denseOptimizerWork`).
    mutating func addTrainingStep(
        dense: DenseArchitecture, batch: Int, training: TrainingSetup, allReduce: AllReduceAlgorithm,
        sparseForward: (inout StepPlan) -> Done,
        sparseBackward: (inout StepPlan, _ embeddingGradientsReady: Done) -> Void
    ) {
        let gradientFormat = training.precisions.gradientAllReduce
        let count = rankCount
        let everyRank = { (work: ComputeWork) in [ComputeWork](repeating: work, count: count) }
        let bottom = compute("bottom MLP forward", everyRank(dense.bottomWork(batch: batch, .forward)))
        let embeddings = sparseForward(&self)
        let over = compute("interaction + top MLP forward", everyRank(dense.overArchWork(batch: batch, .forward)), after: embeddings, bottom)
        let overBackward = compute("interaction + top MLP backward", everyRank(dense.overArchWork(batch: batch, .backward)), after: over)
        let bottomBackward = compute("bottom MLP backward", everyRank(dense.bottomWork(batch: batch, .backward)), after: overBackward)
        sparseBackward(&self, overBackward)
        let reduced = communicate(
            "dense gradient all-reduce",
            Collective(kind: .allReduce(allReduce), groups: [Array(0..<Int32(count))], bufferBytes: [dense.parameterCount * gradientFormat.bytes]),
            copies: [.send, .receive], after: bottomBackward, overBackward)
        compute("dense optimizer", everyRank(Self.denseOptimizerWork(parameters: dense.parameterCount, optimizer: training.denseOptimizer)), after: reduced)
    }

    /// One dense optimizer step over `parameters` fp32 master weights, a streaming pass: read the
    /// weight, its gradient and the optimizer's state, write the weight and the state — 4 · (3 + 2s)
    /// bytes per parameter with s state values (SGD 12, Adagrad 20, Adam 28). Microseconds on a
    /// GPU for DLRM's few million dense parameters; a visible share of a CPU step. Tower-module
    /// parameters (SPTT) are left out.
    public static func denseOptimizerWork(parameters: Double, optimizer: DenseOptimizer) -> ComputeWork {
        ComputeWork(streamedBytes: parameters * 4 * (3 + 2 * optimizer.stateValuesPerParameter))
    }

    /// A named collective of a layout's sparse part, built before it is placed in the graph.
    typealias Stage = (name: String, collective: Collective)

    /// Scales by rank as the sparse dictionaries of `AllToAllTraffic` want them (every rank listed,
    /// zeros included, since a missing rank scales by 1).
    static func scales(_ values: [Double]) -> [Int32: Double] {
        Dictionary(uniqueKeysWithValues: values.enumerated().map { (Int32($0.offset), $0.element) })
    }
}
