import Topology

/// What a topology diagram draws, decided in plain Swift before any Graphviz call: which domains
/// become boxes, which devices become nodes, which merged edges join them, and every label.
///
/// Collapsing maps each device of the cluster onto the node that stands for it, so every link of
/// the cluster lands on exactly one drawn edge (or is dropped when its device has no counterpart
/// in a heterogeneous cluster). Cost: linear in domains, devices and links; the 24,576-GPU
/// Llama 3 cluster (~75k devices, ~140k links) plans in tens of milliseconds.
struct DiagramPlan: Sendable {
    /// A domain drawn as a Graphviz cluster subgraph.
    struct Box: Sendable {
        let domain: Int32
        /// Index of the enclosing box, or nil when it sits directly in the root graph.
        let parent: Int?
        var label: String
        var tooltip: String
        var annotation: DiagramAnnotation? = nil
        /// Nesting depth (1 for children of the root), for alternating background shades.
        let depth: Int
    }

    /// A device (or a collapsed run of identical devices) drawn as one node.
    struct Node: Sendable {
        let device: Int32
        let kind: DeviceKind
        /// Index of the declaration it comes from (`Cluster.groups`): alike edges share their ends' groups.
        let group: Int32
        /// Index of the enclosing box, or nil for devices of the root domain.
        let box: Int?
        /// Readable path of the device (unescaped), e.g. `rack[0]/host[0]/gpu[3]`.
        let path: String
        var label: String
        var tooltip: String
        var annotation: DiagramAnnotation? = nil
        /// Height above the accelerators (spines highest), used to orient edges downwards.
        var layer: Int = 0
    }

    /// Links of one bandwidth and medium folded into a drawn edge.
    struct Bundle: Sendable, Hashable {
        let bandwidth: Double
        let medium: String?
    }

    /// All links that land between two drawn nodes.
    struct Edge: Sendable {
        /// Node indices; `upper` is drawn above `lower` (it is nearer the top of the network).
        let upper: Int
        let lower: Int
        /// Links per bundle, per drawn instance of the links' enclosing domain. Whole numbers for
        /// symmetric clusters; a fraction means instances hidden by collapsing differ from the drawn one.
        let bundles: [(bundle: Bundle, count: Double)]
        /// Both ends on the same layer: the edge must not push one end a rank below the other.
        let level: Bool
    }

    /// One collapsed group, for the legend: "rack ×32 per cluster".
    struct Collapse: Sendable {
        let name: String
        let count: Int
        let parentName: String
        let isDevice: Bool
    }

    let title: String
    let collapsed: Bool
    /// The root domain is the picture itself: its annotation colours the background and extends the title.
    private(set) var rootAnnotation: DiagramAnnotation?
    private(set) var boxes: [Box] = []
    private(set) var nodes: [Node] = []
    private(set) var edges: [Edge] = []
    private(set) var collapses: [Collapse] = []

    init(cluster: Cluster, options: DiagramOptions) {
        switch options.collapse {
        case .expanded: collapsed = false
        case .collapsed: collapsed = true
        case .automatic: collapsed = cluster.accelerators.count > DiagramOptions.automaticExpansionLimit
        }
        let hosts = cluster.level(named: "host").map { cluster.domains(at: $0).count } ?? 0
        title = "\(cluster.name): \(cluster.accelerators.count) accelerators"
            + (hosts > 0 ? " in \(hosts) hosts" : "") + (collapsed ? " (repeated parts drawn once)" : "")
        let representatives = planDomains(cluster: cluster)
        let nodeOfDevice = planDevices(cluster: cluster, representatives: representatives)
        planEdges(cluster: cluster, representatives: representatives, nodeOfDevice: nodeOfDevice)
        annotate(domains: options.domainAnnotations, representatives: representatives,
                 devices: options.deviceAnnotations, nodeOfDevice: nodeOfDevice)
    }

    // MARK: Domains

    /// For every domain, the drawn domain that stands for it and how many real instances each drawn
    /// domain stands for (product of the collapse factors from the root down to it).
    struct Representatives {
        /// Domain id → drawn domain id, or -1 when a hidden domain has no counterpart.
        var domain: [Int32]
        /// Domain id → box index (drawn domains other than the root).
        var box: [Int32: Int]
        /// Drawn domain id → real instances it stands for.
        var multiplicity: [Int32: Double]
    }

    /// Chooses the drawn domains: all of them when expanded; otherwise only the first of every
    /// group of same-named siblings with more than one member.
    private mutating func planDomains(cluster: Cluster) -> Representatives {
        var result = Representatives(
            domain: [Int32](repeating: -1, count: cluster.domains.count), box: [:], multiplicity: [0: 1])
        guard !cluster.domains.isEmpty else { return result }
        result.domain[0] = 0
        /// Children of a drawn domain by group name, in order; built on first use.
        var siblingsByParent: [Int32: [String: [Int32]]] = [:]
        for index in cluster.domains.indices.dropFirst() {
            let id = Int32(index)
            let domain = cluster.domains[index]
            let parent = result.domain[Int(domain.parent)]
            guard parent >= 0 else { continue }
            if siblingsByParent[parent] == nil {
                var groups: [String: [Int32]] = [:]
                for child in cluster.children(of: parent) { groups[cluster.domains[Int(child)].groupName, default: []].append(child) }
                siblingsByParent[parent] = groups
            }
            let siblings = siblingsByParent[parent]?[domain.groupName] ?? []
            let folded = collapsed && siblings.count > 1
            let position = folded ? 0 : Int(domain.ordinal)
            guard position < siblings.count else { continue }
            let representative = siblings[position]
            result.domain[index] = representative
            guard representative == id else { continue }
            let factor = folded ? siblings.count : 1
            result.multiplicity[id] = (result.multiplicity[parent] ?? 1) * Double(factor)
            let level = cluster.levels[domain.level].name
            if folded {
                let parentName = parent == 0 ? "cluster" : cluster.levels[cluster.domains[Int(parent)].level].name
                collapses.append(Collapse(name: domain.groupName, count: factor, parentName: parentName, isDevice: false))
            }
            var lines = [folded ? "\(domain.groupName) ×\(factor) (1 shown)" : "\(domain.groupName)[\(domain.ordinal)]"]
            if domain.groupName != level { lines[0] += " · \(level)" }
            let accelerators = domain.accelerators.count
            if accelerators > 0 { lines.append("\(accelerators) accelerator\(accelerators == 1 ? "" : "s")\(folded ? " each" : "")") }
            let parentBox = result.box[parent]
            result.box[id] = boxes.count
            boxes.append(Box(
                domain: id, parent: parentBox, label: Self.escape(lines), tooltip: Self.escape([cluster.path(ofDomain: id)]),
                depth: parentBox.map { boxes[$0].depth + 1 } ?? 1))
        }
        return result
    }

    // MARK: Devices

    /// Creates the nodes of every drawn domain and returns, for every device of the cluster, the
    /// node that stands for it (-1 when none does).
    private mutating func planDevices(cluster: Cluster, representatives: Representatives) -> [Int32] {
        var nodeOfDevice = [Int32](repeating: -1, count: cluster.devices.count)
        // Nodes of drawn domains first, so that hidden devices can be mapped onto them below.
        for (domainIndex, domain) in cluster.domains.enumerated() where representatives.domain[domainIndex] == Int32(domainIndex) {
            let box = representatives.box[Int32(domainIndex)]
            var device = domain.devices.lowerBound
            while device < domain.devices.upperBound && cluster.devices[Int(device)].domain == Int32(domainIndex) {
                let item = cluster.devices[Int(device)]
                let group = cluster.groups[Int(item.group)]
                let run = collapsed && group.count > DiagramOptions.deviceCollapseThreshold ? group.count : 1
                let name = run > 1 ? "\(group.id) ×\(run)" : (group.count > 1 ? "\(group.id)[\(item.member)]" : group.id)
                if run > 1 {
                    let parentName = domainIndex == 0 ? "cluster" : cluster.levels[domain.level].name
                    collapses.append(Collapse(name: group.id, count: run, parentName: parentName, isDevice: true))
                }
                var lines = [name]
                if let detail = Self.detail(of: group), detail != group.id { lines.append(detail) }
                let path = cluster.path(of: device)
                let tooltip = run > 1 ? "\(path) and \(run - 1) alike" : path
                for member in device..<device + Int32(run) { nodeOfDevice[Int(member)] = Int32(nodes.count) }
                nodes.append(Node(
                    device: device, kind: item.kind, group: item.group, box: box, path: path, label: Self.escape(lines),
                    tooltip: Self.escape([tooltip])))
                device += Int32(run)
            }
        }
        // A hidden device takes the node of the device at the same offset in its drawn counterpart;
        // both domains come from one declaration, so their own devices are laid out alike.
        for (domainIndex, domain) in cluster.domains.enumerated() {
            let representative = representatives.domain[domainIndex]
            guard representative >= 0, representative != Int32(domainIndex) else { continue }
            let target = cluster.domains[Int(representative)].devices
            var device = domain.devices.lowerBound
            while device < domain.devices.upperBound && cluster.devices[Int(device)].domain == Int32(domainIndex) {
                let counterpart = target.lowerBound + (device - domain.devices.lowerBound)
                if counterpart < target.upperBound, cluster.devices[Int(counterpart)].domain == representative,
                    cluster.devices[Int(counterpart)].kind == cluster.devices[Int(device)].kind
                {
                    nodeOfDevice[Int(device)] = nodeOfDevice[Int(counterpart)]
                }
                device += 1
            }
        }
        return nodeOfDevice
    }

    /// Second label line of a device: the accelerator model, the NIC transport and speed, the
    /// switch role, or nothing for a CPU.
    private static func detail(of group: DeviceGroupSpec) -> String? {
        switch group.kind {
        case .accelerator: return group.model ?? "accelerator"
        case .nic: return ([group.role ?? "nic"] + (group.speed.map { [Units.formatBits(perSecond: $0)] } ?? [])).joined(separator: " ")
        case .switch: return group.role.map { $0 == group.id ? "switch" : "\($0) switch" } ?? "switch"
        case .cpu: return group.role
        }
    }

    // MARK: Links

    /// Folds every link onto the edge between the nodes standing for its ends. A link counts
    /// 1 / (instances its enclosing domain's drawn counterpart stands for): the 64 NIC–ToR links
    /// of 32 racks × 2 hosts count 2 on the one drawn rack, the 32 ToR–spine links count 32.
    private mutating func planEdges(cluster: Cluster, representatives: Representatives, nodeOfDevice: [Int32]) {
        var bundles: [Int64: [Bundle: Double]] = [:]
        var adjacency = [[Int]](repeating: [], count: nodes.count)
        for link in cluster.links {
            let a = nodeOfDevice[Int(link.a)]
            let b = nodeOfDevice[Int(link.b)]
            guard a >= 0, b >= 0 else { continue }
            let common = representatives.domain[Int(cluster.lowestCommonDomain(link.a, link.b))]
            let weight = 1 / (representatives.multiplicity[common] ?? 1)
            let key = Int64(min(a, b)) << 32 | Int64(max(a, b))
            if bundles[key] == nil {
                adjacency[Int(a)].append(Int(b))
                adjacency[Int(b)].append(Int(a))
            }
            bundles[key, default: [:]][Bundle(bandwidth: link.bandwidth, medium: link.medium), default: 0] += weight
        }
        assignLayers(adjacency: adjacency)
        edges = bundles.keys.sorted().map { key in
            let first = Int(key >> 32)
            let second = Int(key & 0xFFFF_FFFF)
            let (upper, lower) = nodes[second].layer > nodes[first].layer ? (second, first) : (first, second)
            let folded = bundles[key, default: [:]].map { (bundle: $0.key, count: $0.value) }
                .sorted { ($0.bundle.bandwidth, $0.bundle.medium ?? "") > ($1.bundle.bandwidth, $1.bundle.medium ?? "") }
            return Edge(upper: upper, lower: lower, bundles: folded, level: nodes[upper].layer == nodes[lower].layer)
        }
    }

    /// Layers by breadth-first distance from the accelerators, so that dot draws spines above ToRs
    /// above NICs above PCIe switches above GPUs, whatever domain each sits in (a leaf and a spine
    /// may both belong to the root). Devices whose neighbours are all accelerators (NVSwitches)
    /// go one layer below them.
    private mutating func assignLayers(adjacency: [[Int]]) {
        var layer = [Int](repeating: -1, count: nodes.count)
        var queue = nodes.indices.filter { nodes[$0].kind == .accelerator }
        for index in queue { layer[index] = 0 }
        var head = 0
        while head < queue.count {
            let current = queue[head]
            head += 1
            for next in adjacency[current] where layer[next] < 0 {
                layer[next] = layer[current] + 1
                queue.append(next)
            }
        }
        for index in nodes.indices {
            let hangsBelow = nodes[index].kind != .accelerator && !adjacency[index].isEmpty
                && adjacency[index].allSatisfy { nodes[$0].kind == .accelerator }
            nodes[index].layer = hangsBelow ? -1 : max(layer[index], 0)
        }
    }

    // MARK: Annotations

    /// Puts each annotation on the box or node drawn for its domain or device. When several
    /// annotated instances share one drawn counterpart, the lowest id wins (the drawn instance's
    /// own, when it has one: it is the first of its group) and the label says how many more there are.
    private mutating func annotate(
        domains: [Int32: DiagramAnnotation], representatives: Representatives,
        devices: [Int32: DiagramAnnotation], nodeOfDevice: [Int32]
    ) {
        rootAnnotation = domains[0]
        var boxSources: [Int: [Int32]] = [:]
        for id in domains.keys.sorted() where id > 0 && Int(id) < representatives.domain.count {
            let drawn = representatives.domain[Int(id)]
            if drawn >= 0, let box = representatives.box[drawn] { boxSources[box, default: []].append(id) }
        }
        for (box, sources) in boxSources {
            guard let annotation = domains[sources[0]] else { continue }
            boxes[box].annotation = annotation
            (boxes[box].label, boxes[box].tooltip) = Self.extend(
                boxes[box].label, boxes[box].tooltip, with: annotation, others: sources.count - 1)
        }
        var nodeSources: [Int: [Int32]] = [:]
        for id in devices.keys.sorted() where id >= 0 && Int(id) < nodeOfDevice.count && nodeOfDevice[Int(id)] >= 0 {
            nodeSources[Int(nodeOfDevice[Int(id)]), default: []].append(id)
        }
        for (node, sources) in nodeSources {
            guard let annotation = devices[sources[0]] else { continue }
            nodes[node].annotation = annotation
            (nodes[node].label, nodes[node].tooltip) = Self.extend(
                nodes[node].label, nodes[node].tooltip, with: annotation, others: sources.count - 1)
        }
    }

    /// A label and tooltip with the annotation's lines added.
    private static func extend(_ label: String, _ tooltip: String, with annotation: DiagramAnnotation, others: Int)
        -> (String, String)
    {
        var lines = annotation.label.map { [$0] } ?? []
        if others > 0 { lines.append("+\(others) more annotated, not shown") }
        return (lines.isEmpty ? label : label + "\\n" + escape(lines),
                annotation.tooltip.map { tooltip + "\\n" + escape([$0]) } ?? tooltip)
    }

    // MARK: Text

    /// Joins lines into a Graphviz escString: backslashes doubled so user text cannot trigger
    /// `\N`-style substitutions, lines joined by the `\n` escape.
    static func escape(_ lines: [String]) -> String {
        lines.map { $0.replacingOccurrences(of: "\\", with: "\\\\") }.joined(separator: "\\n")
    }
}
