import SchemaXML

/// A level of the hierarchy by name ("cluster", "pod", "rack", "host", or user-named).
public struct Level: Sendable, Hashable {
    public let name: String
    public let index: Int
}

/// One instance of a level: a particular rack, host, pod.
///
/// Domains are numbered in depth-first preorder, and their devices likewise, so every domain's
/// subtree is a contiguous range of domain ids, device ids and accelerator ranks.
public struct Domain: Sendable {
    public let level: Int
    /// Parent domain id, or -1 for the root.
    public let parent: Int32
    /// Position among the parent's children of the same group (rack 17 of its pod).
    public let ordinal: Int32
    /// Name by which the parent addresses this group of children (usually the level name).
    public let groupName: String
    public let template: String?
    /// Devices of this domain and all domains below it.
    public internal(set) var devices: Range<Int32>
    /// Accelerator ranks of this domain and all domains below it.
    public internal(set) var accelerators: Range<Int32>
    /// Domain ids of this domain's subtree, itself included.
    public internal(set) var subtree: Range<Int32>
}

/// One device: an accelerator, CPU, NIC or switch.
public struct Device: Sendable {
    public let kind: DeviceKind
    /// Innermost enclosing domain.
    public let domain: Int32
    /// Index into `Cluster.groups`: the declaration this device comes from.
    public let group: Int32
    /// Member index within its group in this domain instance (gpu 5 of the host).
    public let member: Int32
}

/// A full-duplex link. Bandwidth is per direction: a 400Gb/s link carries 50 GB/s each way at once.
public struct Link: Sendable {
    public let a: Int32
    public let b: Int32
    /// Bytes per second in each direction.
    public let bandwidth: Double
    /// Seconds, one way, including the switch traversal at its far end.
    public let latency: Double
    /// Technology label from the file (`nvlink`, `pcie`, `ethernet`, …), if any.
    public let medium: String?
}

/// The expanded cluster graph: every device and link of the compact description, plus the
/// hierarchy of domains that encloses them.
///
/// Memory is linear in devices and links (the 24,576-GPU Llama 3 cluster is ~75k devices and
/// ~140k links, a few MB). No structure is quadratic in the number of accelerators: routes are
/// computed per pair on demand (see `Router`).
public struct Cluster: Sendable {
    public let name: String
    public let description: String?
    /// Set when the accelerators are CPU ranks of one machine that time-share this many cores, as
    /// `towerplan calibrate` finds its emulated hosts: with more ranks than cores, a rank computes
    /// only while the scheduler gives it a core, and `StepModel`'s serialized mode shares the
    /// cores among the ranks that are computing. Nil for a cluster whose accelerators run apart.
    public let sharedCores: Int?
    public let file: String
    public let models: [String: AcceleratorModel]
    public let levels: [Level]
    public let domains: [Domain]
    public let devices: [Device]
    public let links: [Link]
    /// Device declarations (shared by all instances of a template).
    public let groups: [DeviceGroupSpec]
    /// Accelerator rank → device id. Ranks follow the hierarchy: host-major, as launchers number them.
    public let accelerators: [Int32]
    /// Device id → accelerator rank, or -1.
    let rankOfDevice: [Int32]
    /// Child domain ids of each domain, flattened; `childOffsets[d]..<childOffsets[d+1]`.
    let childList: [Int32]
    let childOffsets: [Int32]
    /// Outgoing arcs of each device (arc = 2·link + direction, direction 0 is a→b); CSR layout.
    let arcOffsets: [Int32]
    let arcList: [Int32]

    /// Expands a checked specification into the graph and runs the connectivity checks.
    public init(spec: ClusterSpec) throws(XMLDiagnostics) {
        var builder = ClusterBuilder(spec: spec)
        try builder.build()
        name = spec.name
        description = spec.description
        sharedCores = spec.sharedCores
        file = spec.file
        models = spec.models
        levels = builder.levels
        domains = builder.domains
        devices = builder.devices
        links = builder.links
        groups = builder.groups
        accelerators = builder.accelerators
        var ranks = [Int32](repeating: -1, count: builder.devices.count)
        for (rank, device) in builder.accelerators.enumerated() { ranks[Int(device)] = Int32(rank) }
        rankOfDevice = ranks
        (childOffsets, childList) = Cluster.compress(
            count: builder.domains.count, pairs: builder.domains.indices.dropFirst().map { (Int(builder.domains[$0].parent), Int32($0)) })
        (arcOffsets, arcList) = Cluster.compress(
            count: builder.devices.count,
            pairs: builder.links.indices.flatMap { index in
                [(Int(builder.links[index].a), Int32(2 * index)), (Int(builder.links[index].b), Int32(2 * index + 1))]
            })
        try checkConnected()
    }

    /// Builds a CSR adjacency from (owner, item) pairs, keeping the pairs' order per owner.
    private static func compress(count: Int, pairs: [(Int, Int32)]) -> ([Int32], [Int32]) {
        var offsets = [Int32](repeating: 0, count: count + 1)
        for (owner, _) in pairs { offsets[owner + 1] += 1 }
        for index in 0..<count { offsets[index + 1] += offsets[index] }
        var cursor = offsets
        var items = [Int32](repeating: 0, count: pairs.count)
        for (owner, item) in pairs {
            items[Int(cursor[owner])] = item
            cursor[owner] += 1
        }
        return (offsets, items)
    }

    private func checkConnected() throws(XMLDiagnostics) {
        guard !devices.isEmpty else { return }
        var seen = [Bool](repeating: false, count: devices.count)
        var stack: [Int32] = [0]
        seen[0] = true
        while let device = stack.popLast() {
            for arc in outgoingArcs(of: device) {
                let next = head(of: arc)
                if !seen[Int(next)] {
                    seen[Int(next)] = true
                    stack.append(next)
                }
            }
        }
        var unreachableByGroup: [Int32: [Int32]] = [:]
        for (index, reached) in seen.enumerated() where !reached {
            unreachableByGroup[devices[index].group, default: []].append(Int32(index))
        }
        guard !unreachableByGroup.isEmpty else { return }
        let problems = unreachableByGroup.keys.sorted().map { group in
            let members = unreachableByGroup[group]!
            let shown = members.prefix(3).map { path(of: $0) }.joined(separator: ", ")
            let more = members.count > 3 ? " and \(members.count - 3) more" : ""
            return XMLDiagnostic(
                location: groups[Int(group)].location,
                message: "\(groups[Int(group)].kind.rawValue) '\(groups[Int(group)].id)' is not connected to the rest of the cluster (\(shown)\(more)); add a <link> to it")
        }
        throw XMLDiagnostics(problems)
    }

    // MARK: Graph access

    /// Outgoing arcs (each a direction of a link) of `device`.
    public func outgoingArcs(of device: Int32) -> ArraySlice<Int32> {
        arcList[Int(arcOffsets[Int(device)])..<Int(arcOffsets[Int(device) + 1])]
    }

    /// The device an arc leads to.
    @inline(__always) public func head(of arc: Int32) -> Int32 {
        let link = links[Int(arc >> 1)]
        return arc & 1 == 0 ? link.b : link.a
    }

    /// The device an arc leaves from.
    @inline(__always) public func tail(of arc: Int32) -> Int32 {
        let link = links[Int(arc >> 1)]
        return arc & 1 == 0 ? link.a : link.b
    }

    // MARK: Hierarchy queries

    /// The level with this name, if the cluster has it.
    public func level(named name: String) -> Level? { levels.first { $0.name == name } }

    /// All domains of a level, in order.
    public func domains(at level: Level) -> [Int32] {
        domains.indices.filter { domains[$0].level == level.index }.map(Int32.init)
    }

    /// Child domains of `domain`.
    public func children(of domain: Int32) -> ArraySlice<Int32> {
        childList[Int(childOffsets[Int(domain)])..<Int(childOffsets[Int(domain) + 1])]
    }

    /// The domain at `level` that encloses `device`, or nil when the device sits above that level
    /// (a spine switch has no host).
    public func enclosingDomain(of device: Int32, at level: Level) -> Int32? {
        var domain = devices[Int(device)].domain
        while domain >= 0 {
            if domains[Int(domain)].level == level.index { return domain }
            domain = domains[Int(domain)].parent
        }
        return nil
    }

    /// The chain of domains enclosing `device`, innermost first (host, rack, pod, cluster).
    public func enclosingDomains(of device: Int32) -> [Int32] {
        var chain: [Int32] = []
        var domain = devices[Int(device)].domain
        while domain >= 0 {
            chain.append(domain)
            domain = domains[Int(domain)].parent
        }
        return chain
    }

    /// The innermost domain that contains both devices.
    public func lowestCommonDomain(_ a: Int32, _ b: Int32) -> Int32 {
        var domain = devices[Int(a)].domain
        while domain > 0 && !domains[Int(domain)].devices.contains(b) {
            domain = domains[Int(domain)].parent
        }
        return max(domain, 0)
    }

    /// Levels whose boundaries a path between `a` and `b` crosses, innermost first: every level at
    /// which the two devices sit in different domains. Two GPUs in different racks of one pod
    /// cross "host" and "rack".
    public func levelsCrossed(between a: Int32, and b: Int32) -> [Level] {
        let common = lowestCommonDomain(a, b)
        var crossed: [Level] = []
        for endpoint in [a, b] {
            var domain = devices[Int(endpoint)].domain
            while domain != common && domain >= 0 {
                let level = levels[domains[Int(domain)].level]
                if !crossed.contains(level) { crossed.append(level) }
                domain = domains[Int(domain)].parent
            }
        }
        return crossed
    }

    /// Accelerator ranks inside `domain`.
    public func acceleratorRanks(in domain: Int32) -> Range<Int32> { domains[Int(domain)].accelerators }

    /// Accelerator rank of a device, or nil when it is not an accelerator.
    public func rank(of device: Int32) -> Int32? {
        let rank = rankOfDevice[Int(device)]
        return rank >= 0 ? rank : nil
    }

    /// Position of accelerator `rank` inside its domain at `level` (its local rank).
    public func localRank(of rank: Int32, at level: Level) -> Int32? {
        guard let domain = enclosingDomain(of: accelerators[Int(rank)], at: level) else { return nil }
        return rank - domains[Int(domain)].accelerators.lowerBound
    }

    /// Peers of accelerator `rank` at `level`: the accelerators with the same local rank in every other
    /// domain of that level (SPTT's peer all-to-all group), in domain order. Domains with fewer
    /// accelerators than the local rank contribute none.
    public func peers(of rank: Int32, at level: Level) -> [Int32] {
        guard let local = localRank(of: rank, at: level),
            let own = enclosingDomain(of: accelerators[Int(rank)], at: level)
        else { return [] }
        var result: [Int32] = []
        for (index, domain) in domains.enumerated() where domain.level == level.index && Int32(index) != own {
            let candidate = domain.accelerators.lowerBound + local
            if candidate < domain.accelerators.upperBound { result.append(candidate) }
        }
        return result
    }

    /// Readable path of a device, e.g. `pod[3]/rack[17]/host[1]/gpu[5]`.
    public func path(of device: Int32) -> String {
        let item = devices[Int(device)]
        let group = groups[Int(item.group)]
        let leaf = group.count > 1 ? "\(group.id)[\(item.member)]" : group.id
        let prefix = path(ofDomain: item.domain)
        return prefix.isEmpty ? leaf : prefix + "/" + leaf
    }

    /// Readable path of a domain, e.g. `pod[3]/rack[17]`; empty for the root.
    public func path(ofDomain domain: Int32) -> String {
        var parts: [String] = []
        var current = domain
        while current > 0 {
            let item = domains[Int(current)]
            parts.append("\(item.groupName)[\(item.ordinal)]")
            current = item.parent
        }
        return parts.reversed().joined(separator: "/")
    }

    /// The accelerator model of a device, if it is an accelerator.
    public func model(of device: Int32) -> AcceleratorModel? {
        groups[Int(devices[Int(device)].group)].model.flatMap { models[$0] }
    }
}
