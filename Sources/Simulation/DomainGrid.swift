import Topology

/// The accelerators of a cluster seen as H domains of one level (hosts, racks, pods) × L local ranks:
/// the shape TWRW's host groups and SPTT's tower domains and peer groups are cut from.
///
/// Requires every domain of the level to hold the same number of accelerators, since peer groups
/// pair local rank l of every domain, and the domains to cover every accelerator.
public struct DomainGrid: Sendable {
    public let level: Level
    /// Domain ids of the level, in order (domain index h ↦ `domains[h]`).
    public let domains: [Int32]
    /// Accelerator ranks of each domain (contiguous: ranks follow the hierarchy).
    public let ranks: [Range<Int32>]
    /// L: accelerators per domain.
    public let width: Int

    public init(cluster: Cluster, level: Level) throws(SimulationError) {
        let all = cluster.domains(at: level)
        let ranges = all.map { cluster.acceleratorRanks(in: $0) }
        let counts = Set(ranges.map(\.count))
        guard let width = counts.first, counts.count == 1, width > 0 else {
            throw SimulationError(
                "the \(level.name) domains of \(cluster.name) hold \(counts.sorted().map(String.init).joined(separator: ", ")) accelerators; this layout needs the same non-zero number in each")
        }
        guard width * ranges.count == cluster.accelerators.count else {
            throw SimulationError(
                "\(cluster.accelerators.count - width * ranges.count) of the \(cluster.accelerators.count) accelerators of \(cluster.name) sit outside every \(level.name) domain; pick a level that encloses them all")
        }
        self.level = level
        domains = all
        ranks = ranges
        self.width = width
    }

    /// The level directly enclosing the accelerators (the host, on every shipped cluster).
    public static func innermostLevel(of cluster: Cluster) -> Level {
        guard let first = cluster.accelerators.first else { return cluster.levels[0] }
        return cluster.levels[cluster.domains[Int(cluster.devices[Int(first)].domain)].level]
    }

    /// H: number of domains.
    public var count: Int { domains.count }

    /// Every domain's ranks as one group each.
    public var domainGroups: [[Int32]] { ranks.map(Array.init) }

    /// Peer groups: for each local rank l, rank l of every domain, in domain order.
    public var peerGroups: [[Int32]] {
        (0..<Int32(width)).map { local in ranks.map { $0.lowerBound + local } }
    }

    /// Domain index of `rank` (the domains cover ranks 0..<H·L in order).
    public func domainIndex(of rank: Int32) -> Int { Int(rank) / width }
}
