import Topology

/// How an all-reduce is carried out (NCCL's algorithms, plus the two-level scheme TorchRec and
/// DMT use for tower-module gradients).
public enum AllReduceAlgorithm: Sendable, Hashable {
    /// 2(n−1) steps; each rank sends S/n to its ring successor per step (reduce-scatter then all-gather).
    case ring
    /// Double binary tree: two trees, each carrying half the buffer up (reduce) and down (broadcast), pipelined.
    case tree
    /// Reduce-scatter inside each domain of `level`, ring all-reduce of the shards across domains
    /// (one ring per local rank, concurrently), all-gather inside each domain.
    case hierarchical(level: String)
}

/// A collective operation: one or more disjoint groups of accelerator ranks, running at the same time.
public struct Collective: Sendable {
    public enum Kind: Sendable, Hashable {
        /// Every rank of a group sends to every other rank of its group (all-to-allv with `traffic`).
        case allToAll
        case allReduce(AllReduceAlgorithm)
        /// Ring reduce-scatter: n−1 steps of S/n.
        case reduceScatter
        /// Ring all-gather: n−1 steps of S/n.
        case allGather
        /// group[0] sends `bufferBytes` to group[1].
        case pointToPoint
    }

    public var kind: Kind
    /// Ranks of each group, in ring order. Groups must be disjoint.
    public var groups: [[Int32]]
    /// All-reduce, reduce-scatter, all-gather and point-to-point: the full buffer per rank, bytes
    /// (one value per group, so concurrent groups may differ, e.g. towers of different sizes).
    public var bufferBytes: [Double]
    /// All-to-all: bytes one rank sends to another.
    public var traffic: AllToAllTraffic

    public init(kind: Kind, groups: [[Int32]], bufferBytes: [Double] = [], traffic: AllToAllTraffic = .uniform(0)) {
        self.kind = kind
        self.groups = groups
        self.bufferBytes = bufferBytes
        self.traffic = traffic
    }
}

/// Bytes rank i sends to rank j in an all-to-all, as a product `perPair · source(i) · destination(j)`.
///
/// The product form covers every all-to-all of a DLRM step: uniform (row-wise sharding), scaled by
/// the destination (table-wise input distribution: owners of heavy tables receive more ids; SPTT
/// peer exchange: heavy towers receive more), scaled by the source (table-wise output distribution).
/// It also lets an aggregated model sum traffic per domain without enumerating pairs.
public struct AllToAllTraffic: Sendable {
    public var perPair: Double
    /// Scale by sending rank; missing ranks scale by 1.
    public var sourceScale: [Int32: Double]
    /// Scale by receiving rank; missing ranks scale by 1.
    public var destinationScale: [Int32: Double]

    public init(perPair: Double, sourceScale: [Int32: Double] = [:], destinationScale: [Int32: Double] = [:]) {
        self.perPair = perPair
        self.sourceScale = sourceScale
        self.destinationScale = destinationScale
    }

    public static func uniform(_ bytes: Double) -> AllToAllTraffic { AllToAllTraffic(perPair: bytes) }

    /// Bytes from rank `source` to rank `destination`.
    @inline(__always) public func bytes(from source: Int32, to destination: Int32) -> Double {
        perPair * (sourceScale[source] ?? 1) * (destinationScale[destination] ?? 1)
    }
}

/// What a collective cost.
public struct CollectiveResult: Sendable {
    /// Time until the last rank is done, seconds.
    public var seconds: Double
    /// Bytes one accelerator sends across each level's boundary, averaged over the participating ranks
    /// (level name → bytes): what DESIGN.md §1.2's volume table predicts.
    public var bytesPerRankByLevel: [String: Double]
    /// Bytes carried by each arc (2·link + direction) over the whole collective.
    public var arcBytes: [Int32: Double]

    public init(seconds: Double, bytesPerRankByLevel: [String: Double], arcBytes: [Int32: Double]) {
        self.seconds = seconds
        self.bytesPerRankByLevel = bytesPerRankByLevel
        self.arcBytes = arcBytes
    }
}

/// Costs collectives on a cluster. The exact model enumerates rank pairs; an aggregated model may
/// sum by symmetry. The step model depends only on this protocol.
public protocol CommunicationModel: Sendable {
    var cluster: Cluster { get }
    func simulate(_ collective: Collective) throws -> CollectiveResult
}
