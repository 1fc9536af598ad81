import SchemaXML

/// Numeric precisions a device can compute in; peak FLOP/s is given per precision.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp64, fp32, tf32, bf16, fp16, fp8, int8
}

/// What a node of the cluster graph is.
public enum DeviceKind: String, Sendable, CaseIterable {
    case accelerator, cpu, nic, `switch`
}

/// A reusable hardware description of an accelerator (a GPU model).
public struct AcceleratorModel: Sendable, Hashable {
    public var id: String
    public var vendor: String?
    /// Dense peak per precision, FLOP/s.
    public var peakFLOPS: [Precision: Double]
    public var memoryBytes: Double
    public var memoryBandwidth: Double
    /// Measured bandwidth of embedding-row gathers and scatters (bytes of rows per second), where
    /// a calibration measured it (`towerplan calibrate`); nil: the simulator derives it from
    /// `memoryBandwidth` and its gather efficiency.
    public var gatherBandwidth: Double?
    /// Measured bandwidth of the sparse backward (gradient rows read, touched rows updated with
    /// their optimizer state, bytes per second), where a calibration measured it; nil: the
    /// simulator charges it at the gather bandwidth.
    public var scatterBandwidth: Double?
    /// Measured FLOP/s of the feature-interaction layers (the over-arch's interaction and the
    /// tower modules: small batched products and thin projections, well below a large GEMM's
    /// rate), where a calibration measured it; nil: the simulator charges them like MLP FLOPs.
    public var interactionFLOPS: Double?
    public var location: SourceLocation

    /// Peak for `precision`, falling back to the nearest wider format the device lists
    /// (an fp8 query on a device without fp8 gets its bf16/fp16 figure).
    public func peak(_ precision: Precision) -> Double? {
        if let value = peakFLOPS[precision] { return value }
        let widening: [Precision: [Precision]] = [
            .fp8: [.fp16, .bf16], .int8: [.fp16, .bf16], .bf16: [.fp16], .fp16: [.bf16], .tf32: [.fp32], .fp32: [.tf32],
        ]
        return widening[precision]?.lazy.compactMap { peakFLOPS[$0] }.first
    }
}

/// `count` devices of one kind declared together in one domain, e.g. the 8 GPUs of a host.
public struct DeviceGroupSpec: Sendable {
    public var id: String
    public var kind: DeviceKind
    public var count: Int
    /// Accelerator model id (accelerators only).
    public var model: String?
    /// Free-form role: for switches `nvswitch`, `pcie`, `tor`, `spine`, `aggregation`, …;
    /// for NICs the transport (`roce`, `infiniband`, `ethernet`).
    public var role: String?
    /// NIC line rate, bytes/s (informative: links carry the bandwidth used for routing).
    public var speed: Double?
    /// Whether traffic between other devices may pass through this device. Switches, NICs and
    /// CPUs forward; accelerators do not unless told (NVLink peers are not routers).
    public var forwards: Bool
    public var location: SourceLocation
}

/// A named list of device groups of one domain that a parent can address as one, e.g. the
/// individually named NICs of an imported NCCL host gathered as `nic`.
public struct GroupAliasSpec: Sendable {
    public var id: String
    public var members: [String]
    public var location: SourceLocation
}

/// How two endpoint lists A and B are wired.
public enum LinkPattern: String, Sendable {
    /// Every member of A to every member of B (a star when one side has one member; a Clos stage otherwise).
    case all
    /// A[i] ↔ B[i]; both sides the same size.
    case oneToOne = "one-to-one"
    /// Consecutive blocks of the larger side share one member of the smaller side (GPUs 0–1 → PCIe switch 0).
    case block
    /// Member i of the larger side ↔ member i mod n of the smaller side (rail-optimised wiring).
    case roundRobin = "round-robin"
}

/// One step of an endpoint path: a group or child name, optionally one member of it.
public struct EndpointStep: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var index: Int?
    public var description: String { index.map { "\(name)[\($0)]" } ?? name }
}

/// An endpoint reference such as `gpu`, `gpu[3]`, `host/nic` or `pod/rack[0]/tor`: every step but the last
/// names a child domain group, the last a device group (or alias) of those children.
public struct EndpointReference: Sendable, Hashable, CustomStringConvertible {
    public var steps: [EndpointStep]
    public var description: String { steps.map(\.description).joined(separator: "/") }
}

/// Bandwidth of each link of a link spec: given, or derived from an oversubscription ratio.
public enum LinkCapacity: Sendable {
    case bandwidth(Double)
    /// Ratio down:up ≥ 1 of the child domain whose ports one end of the link names; each link gets
    /// (capacity feeding those ports inside one child) / ratio / (links leaving one child).
    case oversubscription(Double)
}

/// A set of full-duplex links between two endpoint lists.
public struct LinkSpec: Sendable {
    public var a: EndpointReference
    public var b: EndpointReference
    public var pattern: LinkPattern?
    public var capacity: LinkCapacity
    public var latency: Double
    /// Parallel links per connected pair (ECMP spreads traffic across them).
    public var parallel: Int
    /// Technology label: `nvlink`, `pcie`, `ethernet`, `infiniband`, `qpi`, … (drawing and reports).
    public var medium: String?
    public var location: SourceLocation
}

/// A domain of the hierarchy (cluster, pod, rack, host, or a user-named level) and what it contains.
public struct DomainSpec: Sendable {
    /// Level name, e.g. "rack". The root is "cluster".
    public var level: String
    /// Name by which a parent's links address this group of child domains (defaults to `level`).
    public var groupName: String
    public var count: Int
    public var devices: [DeviceGroupSpec]
    public var aliases: [GroupAliasSpec]
    public var children: [DomainSpec]
    public var links: [LinkSpec]
    public var location: SourceLocation
    /// Template this domain was instantiated from, if any (reports group identical hosts by it).
    public var template: String?

    /// Members per device group or alias id, for size checks before expansion (O(1) lookups keep
    /// files with thousands of device groups linear to check).
    public var groupSizes: [String: Int] {
        var sizes: [String: Int] = [:]
        for group in devices { sizes[group.id] = group.count }
        for alias in aliases {
            sizes[alias.id] = alias.members.reduce(0) { $0 + (sizes[$1] ?? 0) }
        }
        return sizes
    }
}

/// A cluster file after parsing and reference resolution, before expansion into a graph.
public struct ClusterSpec: Sendable {
    public var name: String
    public var description: String?
    /// `Cluster.sharedCores`.
    public var sharedCores: Int?
    public var models: [String: AcceleratorModel]
    public var root: DomainSpec
    public var file: String
}
