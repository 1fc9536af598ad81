import Topology

/// Costs collectives on large clusters by symmetry instead of enumerating rank pairs.
///
/// All-to-alls are where pairs explode (24,576² ≈ 6·10⁸ on the Llama 3 cluster). Their per-arc load
/// is computed exactly from domain sums instead:
/// - Inside a host, each accelerator position `r` has an egress profile per LCA level k — the arcs,
///   with ECMP shares, that traffic to a destination whose lowest common domain is at level k uses
///   until it leaves the host — and an ingress profile. They are routed once, in the first host,
///   and translated to every other host (hosts of one template are identical, device for device).
/// - Above the host, every domain spreads the traffic leaving it evenly over its uplinks (and the
///   traffic entering it over its downlinks): what per-hop ECMP does in trees and Clos fabrics.
/// - Traffic from i to j is `perPair · s(i) · t(j)`, so the traffic leaving a domain is a product of
///   sums (Σ s inside) · (Σ t outside), computed per domain in O(ranks · levels).
///
/// Time: the most loaded arc's load over its bandwidth, plus the longest path latency. This is the
/// completion time of size-weighted max-min sharing (`FlowModel.Fairness.sizeWeighted`), which the
/// exact model uses for all-to-alls, for uniform and uneven (source- or destination-scaled) traffic
/// alike (tests compare against `ExactCommunicationModel`, within 1% up to 512 GPUs).
/// Rings, trees and point-to-point transfers (O(ranks) flows per step) are costed the same way per
/// flow: host profiles at the ends, even shares of the fabric between; a flow drains when the most
/// loaded arc on its way does.
///
/// Requires a homogeneous hierarchy (every domain of a level built from the same template);
/// `init` throws otherwise, and the caller can use the exact model.
public struct AggregatedCommunicationModel: CommunicationModel {
    public let cluster: Cluster
    private let router: Router
    /// Level index of the innermost domain of the accelerators (usually "host"), and its depth chain.
    private let hostLevel: Int
    /// Ancestors of each level along the chain root → host (levels[depth]).
    private let chain: [Int]
    /// Links between two devices (both orders), to move links created above the hosts.
    private let linksBetween: [Int64: [Int32]]
    /// Lowest domain containing each link's two ends: the domain whose expansion created it.
    private let linkDomain: [Int32]
    /// First link created inside each domain's subtree. Identical domains create their links in the
    /// same order, so a link moves between them by the difference of their first links.
    private let linkStart: [Int32]

    /// Arcs leaving (and entering) each domain's subtree, except those starting (ending) inside a host.
    private let uplinks: [Int32: [Int32]]
    private let downlinks: [Int32: [Int32]]
    /// Egress and ingress profiles of each accelerator position in the first host, per depth of the LCA.
    private let egress: [[[ArcShare]]]
    private let ingress: [[[ArcShare]]]
    /// Longest one-way latency among the representative routes, per depth of the LCA.
    private let latencyByDepth: [Double]
    private let firstHost: Int32

    /// Thrown when the cluster is not a homogeneous hierarchy.
    public struct NotSymmetricError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "the aggregated model needs a homogeneous cluster: \(reason)" }
    }

    public init(cluster: Cluster) throws {
        self.cluster = cluster
        let router = Router(cluster: cluster)
        self.router = router
        let firstHost = cluster.devices[Int(cluster.accelerators[0])].domain
        self.firstHost = firstHost
        hostLevel = cluster.domains[Int(firstHost)].level
        var chain: [Int] = []
        var domain = firstHost
        while domain >= 0 {
            chain.append(cluster.domains[Int(domain)].level)
            domain = cluster.domains[Int(domain)].parent
        }
        self.chain = chain.reversed()
        // Homogeneity: every domain of a level on the chain looks alike.
        for level in self.chain {
            let instances = cluster.domains.filter { $0.level == level }
            guard let first = instances.first else { continue }
            for other in instances where other.template != first.template || other.devices.count != first.devices.count
                || other.accelerators.count != first.accelerators.count
            {
                throw NotSymmetricError(reason: "domains of level '\(cluster.levels[level].name)' differ")
            }
        }
        for rank in cluster.accelerators where cluster.domains[Int(cluster.devices[Int(rank)].domain)].level != hostLevel {
            throw NotSymmetricError(reason: "accelerators sit at different levels")
        }
        // Switch tiers inside one level above the host (a leaf–spine drawn inside "cluster" with no
        // level for the leaves) carry traffic this model cannot attribute to a domain.
        for link in cluster.links {
            let home = cluster.devices[Int(link.a)].domain
            if home == cluster.devices[Int(link.b)].domain && cluster.domains[Int(home)].level != hostLevel {
                throw NotSymmetricError(
                    reason: "'\(cluster.path(of: link.a))' and '\(cluster.path(of: link.b))' are linked inside one "
                        + "\(cluster.levels[cluster.domains[Int(home)].level].name); give each switch tier its own level")
            }
        }
        var pairs: [Int64: [Int32]] = [:]
        var up: [Int32: [Int32]] = [:]
        var down: [Int32: [Int32]] = [:]
        for (index, link) in cluster.links.enumerated() {
            pairs[Self.key(link.a, link.b), default: []].append(Int32(index))
            // Domains containing exactly one end: the link leaves them.
            for (inside, outside, arc) in [(link.a, link.b, Int32(2 * index)), (link.b, link.a, Int32(2 * index + 1))] {
                var domain = cluster.devices[Int(inside)].domain
                while domain > 0 && !cluster.domains[Int(domain)].devices.contains(outside) {
                    up[domain, default: []].append(arc)
                    down[domain, default: []].append(arc ^ 1)
                    domain = cluster.domains[Int(domain)].parent
                }
            }
        }
        linksBetween = pairs
        let linkDomain = cluster.links.map { cluster.lowestCommonDomain($0.a, $0.b) }
        var linkStart = [Int32](repeating: .max, count: cluster.domains.count)
        for (index, domain) in linkDomain.enumerated() { linkStart[Int(domain)] = min(linkStart[Int(domain)], Int32(index)) }
        // Children come after their parent in preorder: fold subtree minima upwards.
        for index in cluster.domains.indices.dropFirst().reversed() {
            let parent = Int(cluster.domains[index].parent)
            linkStart[parent] = min(linkStart[parent], linkStart[index])
        }
        self.linkDomain = linkDomain
        self.linkStart = linkStart
        // Arcs starting inside a host are counted by the host profiles; the rest are the fabric's.
        let hostLevelIndex = cluster.domains[Int(firstHost)].level
        func startsInHost(_ arc: Int32) -> Bool {
            var domain = cluster.devices[Int(cluster.tail(of: arc))].domain
            while domain >= 0 {
                if cluster.domains[Int(domain)].level == hostLevelIndex { return true }
                domain = cluster.domains[Int(domain)].parent
            }
            return false
        }
        uplinks = up.mapValues { $0.filter { !startsInHost($0) } }
        downlinks = down.mapValues { $0.filter { !startsInHost($0 ^ 1) } }

        // Representative routes: from position r of the first host to a rank whose lowest common
        // domain with it is at each depth, and back.
        let hostRanks = cluster.domains[Int(firstHost)].accelerators
        let hostDevices = cluster.domains[Int(firstHost)].devices
        var egress = [[[ArcShare]]](repeating: [[ArcShare]](repeating: [], count: self.chain.count), count: hostRanks.count)
        var ingress = egress
        var latency = [Double](repeating: 0, count: self.chain.count)
        let ancestors = Array(cluster.enclosingDomains(of: cluster.accelerators[Int(hostRanks.lowerBound)]).reversed())
        let positions = (0..<hostRanks.count).map { cluster.accelerators[Int(hostRanks.lowerBound) + $0] }
        // A far end per depth: a rank in another child of that ancestor than the one holding the
        // first host. Egress inside the host depends only on the source's position and ingress
        // only on the destination's, so one far end per depth serves every position.
        var farEnds: [Int: Int32] = [:]
        for depth in 0..<(self.chain.count - 1) {
            let ownChild = ancestors[depth + 1]
            if let sibling = cluster.children(of: ancestors[depth]).first(where: {
                $0 != ownChild && !cluster.domains[Int($0)].accelerators.isEmpty
            }) {
                farEnds[depth] = cluster.accelerators[Int(cluster.domains[Int(sibling)].accelerators.lowerBound)]
            }
        }
        let depths = farEnds.keys.sorted()
        // One Dijkstra per position (out) and one per far end (back).
        for (position, source) in positions.enumerated() {
            let routes = try router.routes(from: source, to: depths.map { farEnds[$0]! })
            for (depth, route) in zip(depths, routes) {
                egress[position][depth] = route.arcs.filter { hostDevices.contains(cluster.tail(of: $0.arc)) }
                latency[depth] = max(latency[depth], route.latency)
            }
        }
        for depth in depths {
            let routes = try router.routes(from: farEnds[depth]!, to: positions)
            for (position, route) in routes.enumerated() {
                ingress[position][depth] = route.arcs.filter { hostDevices.contains(cluster.head(of: $0.arc)) }
                latency[depth] = max(latency[depth], route.latency)
            }
        }
        self.egress = egress
        self.ingress = ingress
        latencyByDepth = latency
        // Every host must reach the rest of the cluster the way the first one does (no block or
        // round-robin wiring that sends different hosts to different switches of one group).
        for host in cluster.domains.indices where cluster.domains[host].level == hostLevel && host != Int(firstHost) {
            for profile in egress + ingress {
                for arcs in profile {
                    for item in arcs where !translates(item.arc, to: Int32(host)) {
                        throw NotSymmetricError(
                            reason: "\(cluster.path(ofDomain: Int32(host))) is wired differently from the first host")
                    }
                }
            }
        }
    }

    /// The aggregated model where the cluster allows it, otherwise the exact one.
    public static func best(for cluster: Cluster) -> any CommunicationModel {
        (try? AggregatedCommunicationModel(cluster: cluster)) ?? ExactCommunicationModel(cluster: cluster)
    }

    public func simulate(_ collective: Collective) throws -> CollectiveResult {
        guard case .allToAll = collective.kind else {
            var tally = TrafficTally(cluster: cluster, participants: Set(collective.groups.joined()).count)
            var hostRoutes: [Int64: Route] = [:]
            for phase in try FlowPhase.phases(of: collective, on: cluster) { try cost(phase, into: &tally, hostRoutes: &hostRoutes) }
            return tally.result
        }
        var load = ArcLoads(arcCount: 2 * cluster.links.count)
        var levelBytes: [String: Double] = [:]
        var participants = 0
        var slowestLatency = 0.0
        let depthCount = chain.count
        let hostDepth = depthCount - 1
        var sourceSum = [Double](repeating: 0, count: cluster.domains.count)
        var destinationSum = [Double](repeating: 0, count: cluster.domains.count)
        var hostRoutes: [Int64: Route] = [:]
        for group in collective.groups where group.count > 1 {
            participants += group.count
            let traffic = collective.traffic
            // Σ s and Σ t per domain on every rank's ancestor chain.
            var chains: [[Int32]] = []
            chains.reserveCapacity(group.count)
            var touched: [Int32] = []
            for rank in group {
                let ancestors = Array(cluster.enclosingDomains(of: cluster.accelerators[Int(rank)]).reversed())
                chains.append(ancestors)
                for domain in ancestors {
                    if sourceSum[Int(domain)] == 0 && destinationSum[Int(domain)] == 0 { touched.append(domain) }
                    sourceSum[Int(domain)] += traffic.sourceScale[rank] ?? 1
                    destinationSum[Int(domain)] += traffic.destinationScale[rank] ?? 1
                }
            }
            // Pairs inside one host: routed once in the first host, by position, and translated.
            var byHost: [Int32: [Int32]] = [:]
            for (index, rank) in group.enumerated() { byHost[chains[index][hostDepth], default: []].append(rank) }
            for (host, members) in byHost where members.count > 1 {
                for source in members {
                    for destination in members where destination != source {
                        let route = try hostRoute(from: source, to: destination, in: host, cache: &hostRoutes)
                        let bytes = traffic.bytes(from: source, to: destination)
                        for item in route.arcs { load.add(bytes * item.share, to: translate(item.arc, to: host)) }
                        slowestLatency = max(slowestLatency, route.latency)
                    }
                }
            }
            // Pairs whose lowest common domain is above the host: host profiles, translated.
            for (index, rank) in group.enumerated() {
                let ancestors = chains[index]
                let host = ancestors[hostDepth]
                let position = Int(rank - cluster.domains[Int(host)].accelerators.lowerBound)
                let s = traffic.sourceScale[rank] ?? 1
                let t = traffic.destinationScale[rank] ?? 1
                for depth in 0..<hostDepth {
                    // Partners with the lowest common domain at this depth: inside ancestor[depth], outside ancestor[depth+1].
                    let outgoing = traffic.perPair * s
                        * (destinationSum[Int(ancestors[depth])] - destinationSum[Int(ancestors[depth + 1])])
                    let incoming = traffic.perPair * t * (sourceSum[Int(ancestors[depth])] - sourceSum[Int(ancestors[depth + 1])])
                    if outgoing > 0 {
                        for item in egress[position][depth] { load.add(outgoing * item.share, to: translate(item.arc, to: host)) }
                        // Levels crossed: every level below this depth.
                        for crossed in (depth + 1)..<depthCount {
                            levelBytes[cluster.levels[chain[crossed]].name, default: 0] += outgoing
                        }
                        slowestLatency = max(slowestLatency, latencyByDepth[depth])
                    }
                    if incoming > 0 {
                        for item in ingress[position][depth] { load.add(incoming * item.share, to: translate(item.arc, to: host)) }
                    }
                }
            }
            // Intra-host pairs cross no level: nothing to add to levelBytes.
            // Above the host: what leaves a domain spreads evenly over its uplinks, what enters over its downlinks.
            let totalSent = sourceSum[0]
            let totalReceived = destinationSum[0]
            for domain in touched where domain > 0 && cluster.domains[Int(domain)].level != hostLevel {
                let sent = sourceSum[Int(domain)]
                let received = destinationSum[Int(domain)]
                let leaving = traffic.perPair * sent * (totalReceived - received)
                let arriving = traffic.perPair * received * (totalSent - sent)
                if leaving > 0, let arcs = uplinks[domain], !arcs.isEmpty {
                    for arc in arcs { load.add(leaving / Double(arcs.count), to: arc) }
                }
                if arriving > 0, let arcs = downlinks[domain], !arcs.isEmpty {
                    for arc in arcs { load.add(arriving / Double(arcs.count), to: arc) }
                }
            }
            for domain in touched {
                sourceSum[Int(domain)] = 0
                destinationSum[Int(domain)] = 0
            }
        }
        var seconds = 0.0
        for arc in load.touched {
            seconds = max(seconds, load[arc] / cluster.links[Int(arc >> 1)].bandwidth)
        }
        if seconds > 0 { seconds += slowestLatency }
        let perRank = participants > 0 ? levelBytes.mapValues { $0 / Double(participants) } : [:]
        return CollectiveResult(seconds: seconds, bytesPerRankByLevel: perRank, arcBytes: load.sparse)
    }

    /// The route between two ranks of `host`, routed between the same positions of the first host
    /// (untranslated: its arcs are in the first host's frame).
    private func hostRoute(from source: Int32, to destination: Int32, in host: Int32, cache: inout [Int64: Route]) throws -> Route {
        let base = cluster.domains[Int(host)].accelerators.lowerBound
        let key = Int64(source - base) << 32 | Int64(destination - base)
        if let cached = cache[key] { return cached }
        let firstBase = cluster.domains[Int(firstHost)].accelerators.lowerBound
        let route = try router.route(fromRank: firstBase + (source - base), toRank: firstBase + (destination - base))
        cache[key] = route
        return route
    }

    /// The arcs, with shares, that traffic from rank `source` to rank `destination` loads, and its
    /// latency: host profiles for the ends, even shares of every domain's uplinks and downlinks between.
    private func virtualRoute(from source: Int32, to destination: Int32, cache: inout [Int64: Route]) throws -> (arcs: [ArcShare], latency: Double) {
        let from = Array(cluster.enclosingDomains(of: cluster.accelerators[Int(source)]).reversed())
        let to = Array(cluster.enclosingDomains(of: cluster.accelerators[Int(destination)]).reversed())
        let hostDepth = chain.count - 1
        let sourceHost = from[hostDepth]
        let destinationHost = to[hostDepth]
        if sourceHost == destinationHost {
            let route = try hostRoute(from: source, to: destination, in: sourceHost, cache: &cache)
            return (route.arcs.map { ArcShare(arc: translate($0.arc, to: sourceHost), share: $0.share) }, route.latency)
        }
        var depth = 0
        while depth + 1 < hostDepth && from[depth + 1] == to[depth + 1] { depth += 1 }
        let sourcePosition = Int(source - cluster.domains[Int(sourceHost)].accelerators.lowerBound)
        let destinationPosition = Int(destination - cluster.domains[Int(destinationHost)].accelerators.lowerBound)
        var arcs = egress[sourcePosition][depth].map { ArcShare(arc: translate($0.arc, to: sourceHost), share: $0.share) }
        arcs += ingress[destinationPosition][depth].map { ArcShare(arc: translate($0.arc, to: destinationHost), share: $0.share) }
        for level in (depth + 1)..<hostDepth {
            let up = uplinks[from[level]] ?? []
            arcs += up.map { ArcShare(arc: $0, share: 1 / Double(up.count)) }
            let down = downlinks[to[level]] ?? []
            arcs += down.map { ArcShare(arc: $0, share: 1 / Double(down.count)) }
        }
        return (arcs, latencyByDepth[depth])
    }

    /// Times one phase: each flow drains when the most loaded arc on its way does (all flows of the
    /// phase load the arcs together); its repetitions multiply that.
    private func cost(_ phase: FlowPhase, into tally: inout TrafficTally, hostRoutes: inout [Int64: Route]) throws {
        guard !phase.flows.isEmpty else { return }
        var load = ArcLoads(arcCount: 2 * cluster.links.count)
        var routes: [(arcs: [ArcShare], latency: Double)] = []
        routes.reserveCapacity(phase.flows.count)
        for (index, flow) in phase.flows.enumerated() {
            let route = try virtualRoute(from: phase.ranks[index].source, to: phase.ranks[index].destination, cache: &hostRoutes)
            for item in route.arcs { load.add(flow.bytes * item.share, to: item.arc) }
            tally.add(bytes: flow.bytes * phase.repetitions[index], from: flow.source, to: flow.destination, arcs: route.arcs)
            routes.append(route)
        }
        var slowest = 0.0
        var longestLatency = 0.0
        for (index, route) in routes.enumerated() where phase.flows[index].bytes > 0 {
            let drain = route.arcs.reduce(0.0) { max($0, load[$1.arc] / cluster.links[Int($1.arc >> 1)].bandwidth) }
            slowest = max(slowest, (drain + route.latency) * phase.repetitions[index])
            longestLatency = max(longestLatency, route.latency)
        }
        tally.seconds += slowest + 2 * Double(phase.treeDepth) * longestLatency
    }

    private static func key(_ a: Int32, _ b: Int32) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }

    /// The arc in `host`'s frame that corresponds to `arc` in the first host's frame.
    ///
    /// A link created inside the first host moves to the same place among `host`'s links (identical
    /// domains create their links in the same order): O(1). A link created above the hosts (a NIC's
    /// link to its ToR) depends on the host's position in its parent's wiring, so both ends move to
    /// `host`'s frame and the link between them is looked up, keeping the order of parallel links.
    private func translate(_ arc: Int32, to host: Int32) -> Int32 {
        if host == firstHost { return arc }
        let link = Int(arc >> 1)
        let creator = linkDomain[link]
        if cluster.domains[Int(firstHost)].subtree.contains(creator) {
            let target = creator - firstHost + host
            return 2 * (Int32(link) - linkStart[Int(creator)] + linkStart[Int(target)]) + (arc & 1)
        }
        let ends = cluster.links[link]
        let a = move(ends.a, to: host)
        let b = move(ends.b, to: host)
        let ordinal = linksBetween[Self.key(ends.a, ends.b)]?.firstIndex(of: Int32(link)) ?? 0
        guard let candidates = linksBetween[Self.key(a, b)], ordinal < candidates.count else { return -1 }
        let moved = candidates[ordinal]
        let forward = cluster.links[Int(moved)].a == (arc & 1 == 0 ? a : b)
        return 2 * moved + (forward ? 0 : 1)
    }

    /// Whether `translate` is right for this arc and host: the moved link joins the moved ends.
    /// Checked once per host at set-up; false for hosts wired differently from the first.
    private func translates(_ arc: Int32, to host: Int32) -> Bool {
        let moved = translate(arc, to: host)
        guard moved >= 0, Int(moved >> 1) < cluster.links.count else { return false }
        return cluster.tail(of: moved) == move(cluster.tail(of: arc), to: host)
            && cluster.head(of: moved) == move(cluster.head(of: arc), to: host)
    }

    /// `device`, seen from the first host, moved to the same place relative to `host`: found through
    /// the lowest ancestor of the first host that contains it and the matching ancestor of `host`
    /// (identical subtrees lay out their devices identically).
    private func move(_ device: Int32, to host: Int32) -> Int32 {
        var original = firstHost
        var target = host
        while original > 0 && !cluster.domains[Int(original)].devices.contains(device) {
            original = cluster.domains[Int(original)].parent
            target = cluster.domains[Int(target)].parent
        }
        if original == target { return device }
        return device - cluster.domains[Int(original)].devices.lowerBound + cluster.domains[Int(target)].devices.lowerBound
    }
}
