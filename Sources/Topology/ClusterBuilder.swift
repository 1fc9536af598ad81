import SchemaXML

/// Expands a `ClusterSpec` (compact: counts and templates) into the explicit graph of `Cluster`.
///
/// Cost: linear in the devices and links produced. Sizes are checked against
/// `ClusterLoader.maximumDevices` / `maximumLinks` from the specification alone, before anything
/// is allocated, so a `count="1000000000000"` fails at once.
struct ClusterBuilder {
    let spec: ClusterSpec
    var levels: [Level] = []
    var domains: [Domain] = []
    var devices: [Device] = []
    var links: [Link] = []
    var groups: [DeviceGroupSpec] = []
    var accelerators: [Int32] = []
    /// Sum of the bandwidth of the links attached to each device so far.
    private var attachedBandwidth: [Double] = []
    private var problems: [XMLDiagnostic] = []
    private var reported: Set<String> = []

    init(spec: ClusterSpec) { self.spec = spec }

    /// What a parent needs to know about one expanded child instance.
    private final class Instance {
        let domain: Int32
        /// Device ids of each group and alias, in member order.
        var groups: [String: [Int32]] = [:]
        /// Child instances by group name, in order.
        var children: [String: [Instance]] = [:]
        /// Bandwidth attached inside this instance to the devices of each group, fixed when the
        /// instance is complete: the "downlink" side of an oversubscription ratio.
        var groupCapacity: [String: Double] = [:]
        init(domain: Int32) { self.domain = domain }
    }

    private mutating func fail(_ location: SourceLocation, _ message: String) {
        let key = "\(location)|\(message)"
        if reported.insert(key).inserted {
            problems.append(XMLDiagnostic(location: location, message: message))
        }
    }

    mutating func build() throws(XMLDiagnostics) {
        try checkSizes()
        let root = expand(spec.root, parent: -1, ordinal: 0)
        _ = root
        if accelerators.isEmpty && problems.isEmpty {
            fail(spec.root.location, "the cluster has no accelerators; add <accelerator> elements to a host")
        }
        if !problems.isEmpty { throw XMLDiagnostics(problems) }
    }

    // MARK: Size limits

    private func checkSizes() throws(XMLDiagnostics) {
        var deviceCount = 0
        var linkCount = 0
        var overflow = false
        func add(_ total: inout Int, _ value: Int) {
            let (sum, over) = total.addingReportingOverflow(value)
            total = sum
            overflow = overflow || over
        }
        func multiply(_ a: Int, _ b: Int) -> Int {
            let (product, over) = a.multipliedReportingOverflow(by: b)
            overflow = overflow || over
            return over ? Int.max : product
        }
        /// Devices and links in one instance of `domain`.
        func measure(_ domain: DomainSpec) -> (devices: Int, links: Int) {
            var devices = 0
            var links = 0
            for group in domain.devices { add(&devices, group.count) }
            for child in domain.children {
                let inner = measure(child)
                add(&devices, multiply(child.count, inner.devices))
                add(&links, multiply(child.count, inner.links))
            }
            let sizes = domain.groupSizes
            for link in domain.links {
                let a = endpointSize(link.a, in: domain, sizes: sizes) ?? 1
                let b = endpointSize(link.b, in: domain, sizes: sizes) ?? 1
                let pairs = (link.pattern ?? .all) == .all ? multiply(a, b) : max(a, b)
                add(&links, multiply(pairs, link.parallel))
            }
            return (devices, links)
        }
        let total = measure(spec.root)
        deviceCount = total.devices
        linkCount = total.links
        if overflow || deviceCount > ClusterLoader.maximumDevices {
            throw XMLDiagnostics([XMLDiagnostic(
                location: spec.root.location,
                message: "the cluster would have \(overflow ? "more than \(Int.max)" : String(deviceCount)) devices, more than the \(ClusterLoader.maximumDevices) supported; check the count attributes")])
        }
        if linkCount > ClusterLoader.maximumLinks {
            throw XMLDiagnostics([XMLDiagnostic(
                location: spec.root.location,
                message: "the cluster would have \(linkCount) links, more than the \(ClusterLoader.maximumLinks) supported; check pattern=\"all\" links between large groups")])
        }
    }

    /// Number of devices an endpoint reference names in one instance of `domain`, or nil if unknown.
    /// `sizes` is `domain.groupSizes`, computed once per domain by the caller.
    private func endpointSize(_ reference: EndpointReference, in domain: DomainSpec, sizes: [String: Int]) -> Int? {
        var groupSizes = sizes
        var multiplicity = 1
        if reference.steps.count > 1 {
            var current = domain
            for step in reference.steps.dropLast() {
                guard let child = current.children.first(where: { $0.groupName == step.name }) else { return nil }
                multiplicity = multiplicity.multipliedReportingOverflow(by: step.index == nil ? child.count : 1).partialValue
                current = child
            }
            groupSizes = current.groupSizes
        }
        guard let last = reference.steps.last, let size = groupSizes[last.name] else { return nil }
        return multiplicity.multipliedReportingOverflow(by: last.index == nil ? size : 1).partialValue
    }

    // MARK: Expansion

    private mutating func levelIndex(_ name: String) -> Int {
        if let level = levels.first(where: { $0.name == name }) { return level.index }
        levels.append(Level(name: name, index: levels.count))
        return levels.count - 1
    }

    private mutating func expand(_ spec: DomainSpec, parent: Int32, ordinal: Int) -> Instance {
        let id = Int32(domains.count)
        let instance = Instance(domain: id)
        let firstDevice = Int32(devices.count)
        let firstAccelerator = Int32(accelerators.count)
        domains.append(Domain(
            level: levelIndex(spec.level), parent: parent, ordinal: Int32(ordinal), groupName: spec.groupName,
            template: spec.template, devices: firstDevice..<firstDevice, accelerators: firstAccelerator..<firstAccelerator,
            subtree: id..<id + 1))

        for group in spec.devices {
            let groupIndex = Int32(groups.count)
            groups.append(group)
            var members: [Int32] = []
            members.reserveCapacity(group.count)
            for member in 0..<group.count {
                let device = Int32(devices.count)
                devices.append(Device(kind: group.kind, domain: id, group: groupIndex, member: Int32(member)))
                attachedBandwidth.append(0)
                if group.kind == .accelerator { accelerators.append(device) }
                members.append(device)
            }
            instance.groups[group.id] = members
        }
        for child in spec.children {
            var expanded: [Instance] = []
            expanded.reserveCapacity(child.count)
            for index in 0..<child.count {
                expanded.append(expand(child, parent: id, ordinal: index))
            }
            instance.children[child.groupName] = expanded
        }
        for alias in spec.aliases {
            var members: [Int32] = []
            for member in alias.members {
                guard let devices = instance.groups[member], spec.devices.contains(where: { $0.id == member }) else {
                    fail(alias.location, "group '\(alias.id)' names '\(member)', which is not a device of this \(spec.level)")
                    continue
                }
                members.append(contentsOf: devices)
            }
            instance.groups[alias.id] = members
        }
        for link in spec.links {
            connect(link, in: instance, domainSpec: spec)
        }
        domains[Int(id)].devices = firstDevice..<Int32(devices.count)
        domains[Int(id)].accelerators = firstAccelerator..<Int32(accelerators.count)
        domains[Int(id)].subtree = id..<Int32(domains.count)
        for (name, members) in instance.groups {
            instance.groupCapacity[name] = members.reduce(0) { $0 + attachedBandwidth[Int($1)] }
        }
        return instance
    }

    /// Devices named by `reference` inside `instance`, each with the instance that directly owns it.
    private mutating func resolve(_ reference: EndpointReference, in instance: Instance, link: LinkSpec, level: String)
        -> [(device: Int32, owner: Instance)]?
    {
        var owners: [Instance] = [instance]
        for step in reference.steps.dropLast() {
            var next: [Instance] = []
            for owner in owners {
                guard let children = owner.children[step.name] else {
                    let known = owner.children.keys.sorted()
                    fail(link.location, "'\(reference)': no child level '\(step.name)' here"
                        + (known.isEmpty ? "" : " (children: \(known.joined(separator: ", ")))"))
                    return nil
                }
                if let index = step.index {
                    guard index < children.count else {
                        fail(link.location, "'\(reference)': \(step.name)[\(index)] does not exist (there are \(children.count))")
                        return nil
                    }
                    next.append(children[index])
                } else {
                    next.append(contentsOf: children)
                }
            }
            owners = next
        }
        let last = reference.steps.last!
        var result: [(device: Int32, owner: Instance)] = []
        for owner in owners {
            guard let members = owner.groups[last.name] else {
                let known = owner.groups.keys.sorted()
                fail(link.location, "'\(reference)': no device or group '\(last.name)'"
                    + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))"))
                return nil
            }
            if let index = last.index {
                guard index < members.count else {
                    fail(link.location, "'\(reference)': member \(index) does not exist ('\(last.name)' has \(members.count))")
                    return nil
                }
                result.append((members[index], owner))
            } else {
                result.append(contentsOf: members.map { ($0, owner) })
            }
        }
        return result
    }

    private mutating func connect(_ link: LinkSpec, in instance: Instance, domainSpec: DomainSpec) {
        guard let a = resolve(link.a, in: instance, link: link, level: domainSpec.level),
            let b = resolve(link.b, in: instance, link: link, level: domainSpec.level)
        else { return }
        guard !a.isEmpty, !b.isEmpty else {
            fail(link.location, "the link \(link.a) – \(link.b) has an end that names no devices")
            return
        }
        guard let pairs = pairs(a.count, b.count, link: link, sameList: link.a == link.b) else { return }
        var bandwidths = [Double](repeating: 0, count: pairs.count)
        switch link.capacity {
        case .bandwidth(let value):
            for index in bandwidths.indices { bandwidths[index] = value }
        case .oversubscription(let ratio):
            // Exactly one side must name a child's ports; that child's instance is the one
            // whose uplinks are oversubscribed.
            let aIsChild = link.a.steps.count > 1
            let bIsChild = link.b.steps.count > 1
            guard aIsChild != bIsChild else {
                fail(link.location, "oversubscription needs exactly one end to name a child's devices (as in a=\"rack/tor\"), so it knows whose uplinks it describes")
                return
            }
            let ports = aIsChild ? a : b
            var linksPerOwner: [ObjectIdentifier: Int] = [:]
            for pair in pairs {
                linksPerOwner[ObjectIdentifier(ports[aIsChild ? pair.0 : pair.1].owner), default: 0] += link.parallel
            }
            let portName = (aIsChild ? link.a : link.b).steps.last!.name
            for (index, pair) in pairs.enumerated() {
                let owner = ports[aIsChild ? pair.0 : pair.1].owner
                let downlink = owner.groupCapacity[portName] ?? 0
                guard downlink > 0 else {
                    fail(link.location, "oversubscription \(Units.formatRatio(ratio)) of '\(portName)' needs links below it to measure the downlink capacity, and it has none")
                    return
                }
                bandwidths[index] = downlink / ratio / Double(linksPerOwner[ObjectIdentifier(owner)]!)
            }
        }
        for (index, pair) in pairs.enumerated() {
            let from = a[pair.0].device
            let to = b[pair.1].device
            if from == to {
                fail(link.location, "the link \(link.a) – \(link.b) would connect a device to itself")
                return
            }
            for _ in 0..<link.parallel {
                links.append(Link(a: from, b: to, bandwidth: bandwidths[index], latency: link.latency, medium: link.medium))
                attachedBandwidth[Int(from)] += bandwidths[index]
                attachedBandwidth[Int(to)] += bandwidths[index]
            }
        }
    }

    /// Index pairs (into A, into B) for a pattern; nil after reporting when the sizes do not fit it.
    private mutating func pairs(_ sizeA: Int, _ sizeB: Int, link: LinkSpec, sameList: Bool) -> [(Int, Int)]? {
        let pattern: LinkPattern
        if let given = link.pattern {
            pattern = given
        } else if sizeA == 1 || sizeB == 1 || sameList {
            pattern = .all
        } else {
            fail(link.location, "the link \(link.a) (\(sizeA) devices) – \(link.b) (\(sizeB) devices) needs a pattern: all, one-to-one, block or round-robin")
            return nil
        }
        switch pattern {
        case .all:
            if sameList {
                // A group linked with itself: a full mesh, each unordered pair once.
                guard sizeA > 1 else {
                    fail(link.location, "the link \(link.a) – \(link.b) would connect a device to itself")
                    return nil
                }
                return (0..<sizeA).flatMap { i in (i + 1..<sizeA).map { (i, $0) } }
            }
            return (0..<sizeA).flatMap { i in (0..<sizeB).map { (i, $0) } }
        case .oneToOne:
            guard sizeA == sizeB else {
                fail(link.location, "one-to-one needs equal sizes, but \(link.a) has \(sizeA) and \(link.b) has \(sizeB)")
                return nil
            }
            return (0..<sizeA).map { ($0, $0) }
        case .block:
            let (large, small) = (max(sizeA, sizeB), min(sizeA, sizeB))
            guard large % small == 0 else {
                fail(link.location, "block needs one size to divide the other, but \(link.a) has \(sizeA) and \(link.b) has \(sizeB)")
                return nil
            }
            let blockSize = large / small
            return (0..<large).map { sizeA >= sizeB ? ($0, $0 / blockSize) : ($0 / blockSize, $0) }
        case .roundRobin:
            let (large, small) = (max(sizeA, sizeB), min(sizeA, sizeB))
            return (0..<large).map { sizeA >= sizeB ? ($0, $0 % small) : ($0 % small, $0) }
        }
    }
}
