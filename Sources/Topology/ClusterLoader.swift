import Foundation
import SchemaXML

/// Reads cluster files: XML Schema validation (libxml2, file:line for every violation), then the
/// checks a schema cannot express: references, duplicate ids, unit values, size limits.
///
/// Collects every problem it can find before throwing, so one run lists them all.
public enum ClusterLoader {
    /// Refuse clusters larger than this many devices before allocating anything for them.
    public static let maximumDevices = 4_000_000
    /// Refuse clusters with more links than this (each costs about 40 bytes expanded).
    public static let maximumLinks = 40_000_000

    /// The compiled topology schema shipped with the module (also at `topologies/topology.xsd`).
    public static func schema() throws(XMLDiagnostics) -> Schema {
        try SchemaCache.shared.topology()
    }

    /// Loads and checks the cluster file at `path` (and the files it imports), without expanding it.
    public static func loadSpec(path: String) throws(XMLDiagnostics) -> ClusterSpec {
        var reader = Reader(schema: try schema())
        return try reader.read(path: path, importChain: [])
    }

    /// Loads, checks and expands the cluster file at `path` into a routable graph.
    public static func load(path: String) throws(XMLDiagnostics) -> Cluster {
        try Cluster(spec: loadSpec(path: path))
    }

    /// Parses a cluster from memory; `name` stands for the file in messages and `baseDirectory`
    /// resolves `<import href>`.
    public static func load(data: Data, name: String, baseDirectory: String = ".") throws(XMLDiagnostics) -> Cluster {
        var reader = Reader(schema: try schema())
        let root = try XMLLoader.load(data: data, name: name, schema: reader.schema)
        return try Cluster(spec: reader.interpret(root: root, file: name, baseDirectory: baseDirectory, importChain: []))
    }
}

/// Compiles the schema once per process.
final class SchemaCache: @unchecked Sendable {
    static let shared = SchemaCache()
    private let lock = NSLock()
    private var compiled: Schema?

    func topology() throws(XMLDiagnostics) -> Schema {
        lock.lock()
        defer { lock.unlock() }
        if let compiled { return compiled }
        guard let url = Bundle.module.url(forResource: "topology", withExtension: "xsd") else {
            throw XMLDiagnostics([
                XMLDiagnostic(location: SourceLocation(file: "topology.xsd", line: 0),
                              message: "the topology schema is missing from the installation; rebuild towerplan")
            ])
        }
        let number = #"\s*[+\-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+\-]?[0-9]+)?\s*"#
        let schema = try Schema(path: url.path, patternHints: [
            number + #"([kKMGTPE]i?)?[bB](/s|ps)\s*"#: "a bandwidth: a number and a unit such as 400Gb/s, 450GB/s or 64GiB/s",
            number + #"(([kKMGTPE]i?)?B)?\s*"#: "a size: a number and a unit such as 80GB or 80GiB",
            number + #"(s|ms|us|µs|μs|ns)\s*"#: "a duration: a number and a unit such as 2us, 500ns or 1.5ms",
            number + #"[kKMGTPE]?(FLOP/s|FLOPS)\s*"#: "a compute rate: a number and a unit such as 989TFLOP/s",
            #"\s*[+\-]?[0-9]+\.?[0-9]*\s*(:\s*[+\-]?[0-9]+\.?[0-9]*\s*)?"#: "a ratio such as 1:7",
            #"[A-Za-z_][A-Za-z0-9_.\-]*"#: "an identifier: letters, digits, _ . and -, not starting with a digit",
            #"[A-Za-z_][A-Za-z0-9_.\-]*(\[[0-9]+\])?(/[A-Za-z_][A-Za-z0-9_.\-]*(\[[0-9]+\])?)*"#:
                "an endpoint such as gpu, gpu[3], host/nic or pod/rack/tor",
        ])
        compiled = schema
        return schema
    }
}

private struct Reader {
    let schema: Schema
    var problems: [XMLDiagnostic] = []
    var models: [String: AcceleratorModel] = [:]
    var templates: [String: ParsedElement] = [:]
    var templateFiles: [String: String] = [:]

    init(schema: Schema) { self.schema = schema }

    mutating func read(path: String, importChain: [String]) throws(XMLDiagnostics) -> ClusterSpec {
        let root = try XMLLoader.load(path: path, schema: schema)
        let directory = (path as NSString).deletingLastPathComponent
        return try interpret(root: root, file: path, baseDirectory: directory.isEmpty ? "." : directory, importChain: importChain)
    }

    mutating func fail(_ location: SourceLocation, _ message: String) {
        problems.append(XMLDiagnostic(location: location, message: message))
    }

    mutating func interpret(root: ParsedElement, file: String, baseDirectory: String, importChain: [String])
        throws(XMLDiagnostics) -> ClusterSpec
    {
        guard root.name == "cluster" else {
            throw XMLDiagnostics([XMLDiagnostic(location: root.location, message: "expected a <cluster> root element, found <\(root.name)>")])
        }
        // `file` may be a display name (in-memory loads); the file it stands for is in `baseDirectory`.
        let canonical = URL(fileURLWithPath: baseDirectory + "/" + (file as NSString).lastPathComponent).standardizedFileURL.path
        for element in root.children(named: "import") {
            let href = element[attribute: "href"] ?? ""
            let target = href.hasPrefix("/") ? href : baseDirectory + "/" + href
            let targetCanonical = URL(fileURLWithPath: target).standardizedFileURL.path
            if importChain.contains(targetCanonical) || targetCanonical == canonical {
                fail(element.location, "import cycle: '\(href)' is already being imported")
                continue
            }
            do {
                var nested = Reader(schema: schema)
                _ = try nested.read(path: target, importChain: importChain + [canonical])
                for (id, model) in nested.models {
                    if let existing = models[id], existing != model {
                        fail(element.location, "imported accelerator-model '\(id)' clashes with the one at \(existing.location)")
                    }
                    models[id] = model
                }
                for (id, template) in nested.templates {
                    if templates[id] != nil {
                        fail(element.location, "imported template '\(id)' is already defined")
                    }
                    templates[id] = template
                    templateFiles[id] = nested.templateFiles[id]
                }
            } catch {
                problems.append(contentsOf: error.diagnostics)
            }
        }
        for element in root.children(named: "accelerator-model") { readModel(element) }
        for element in root.children(named: "template") {
            let id = element[attribute: "id"] ?? ""
            if templates[id] != nil {
                fail(element.location, "template '\(id)' is defined twice")
            }
            templates[id] = element
            templateFiles[id] = file
        }
        var rootDomain = DomainSpec(
            level: "cluster", groupName: "cluster", count: 1, devices: [], aliases: [], children: [], links: [],
            location: root.location, template: nil)
        if let fabric = root.children(named: "fabric").first {
            rootDomain = readDomain(fabric, level: "cluster", groupName: "cluster", count: 1, template: nil, ancestry: [])
        } else if importChain.isEmpty {
            fail(root.location, "the cluster has no <fabric>: add one that places hosts (a file with only templates can be imported, not used alone)")
        }
        let sharedCores = root[attribute: "shared-cores"] == nil ? nil : count(root, "shared-cores")
        if !problems.isEmpty { throw XMLDiagnostics(problems) }
        return ClusterSpec(
            name: root[attribute: "name"] ?? "cluster", description: root[attribute: "description"],
            sharedCores: sharedCores, models: models,
            root: rootDomain, file: file)
    }

    mutating func readModel(_ element: ParsedElement) {
        let id = element[attribute: "id"] ?? ""
        if let existing = models[id] {
            fail(element.location, "accelerator-model '\(id)' is defined twice (first at \(existing.location))")
        }
        var peaks: [Precision: Double] = [:]
        for peak in element.children(named: "peak") {
            guard let precision = Precision(rawValue: peak[attribute: "precision"] ?? "") else { continue }
            if peaks[precision] != nil {
                fail(peak.location, "precision \(precision.rawValue) is given twice for accelerator-model '\(id)'")
            }
            if let value = parse(peak, "flops", Units.flops) { peaks[precision] = value }
        }
        let memory = parse(element, "memory", Units.size) ?? 0
        let bandwidth = parse(element, "memory-bandwidth", Units.bandwidth) ?? 0
        let gather = element[attribute: "gather-bandwidth"] == nil ? nil : parse(element, "gather-bandwidth", Units.bandwidth)
        let scatter = element[attribute: "scatter-bandwidth"] == nil ? nil : parse(element, "scatter-bandwidth", Units.bandwidth)
        let interaction = element[attribute: "interaction-flops"] == nil ? nil : parse(element, "interaction-flops", Units.flops)
        models[id] = AcceleratorModel(
            id: id, vendor: element[attribute: "vendor"], peakFLOPS: peaks, memoryBytes: memory,
            memoryBandwidth: bandwidth, gatherBandwidth: gather, scatterBandwidth: scatter, interactionFLOPS: interaction, location: element.location)
    }

    /// Parses attribute `name` with `parser`, recording a located error on failure.
    mutating func parse(_ element: ParsedElement, _ name: String, _ parser: (String) throws(Units.ParseError) -> Double) -> Double? {
        guard let text = element[attribute: name] else { return nil }
        do {
            return try parser(text)
        } catch {
            fail(element.location, "attribute '\(name)': \(error)")
            return nil
        }
    }

    mutating func count(_ element: ParsedElement, _ name: String = "count") -> Int {
        guard let text = element[attribute: name] else { return 1 }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 1 else {
            fail(element.location, "attribute '\(name)': '\(text)' is not a count between 1 and \(ClusterLoader.maximumDevices)")
            return 1
        }
        if value > ClusterLoader.maximumDevices {
            fail(element.location, "attribute '\(name)': \(text) is absurdly large (at most \(ClusterLoader.maximumDevices))")
            return 1
        }
        return value
    }

    mutating func readDomain(
        _ element: ParsedElement, level: String, groupName: String, count: Int, template: String?, ancestry: [String]
    ) -> DomainSpec {
        var domain = DomainSpec(
            level: level, groupName: groupName, count: count, devices: [], aliases: [], children: [], links: [],
            location: element.location, template: template)
        var names: [String: SourceLocation] = [:]
        func declare(_ name: String, at location: SourceLocation, into problems: inout [XMLDiagnostic]) {
            if let first = names[name] {
                problems.append(XMLDiagnostic(location: location, message: "duplicate id '\(name)' in this \(level) (first declared at \(first))"))
            }
            names[name] = location
        }
        for child in element.children {
            switch child.name {
            case "accelerator", "cpu", "nic", "switch":
                let kind = DeviceKind(rawValue: child.name)!
                let id = child[attribute: "id"] ?? ""
                declare(id, at: child.location, into: &problems)
                let model = child[attribute: "model"]
                if kind == .accelerator, let model, models[model] == nil {
                    fail(child.location, "unknown accelerator-model '\(model)'; declare it with <accelerator-model id=\"\(model)\"> or fix the name"
                        + (models.isEmpty ? "" : " (known: \(models.keys.sorted().joined(separator: ", ")))"))
                }
                let forwards = child[attribute: "forwards"].map { $0 == "true" || $0 == "1" } ?? (kind != .accelerator)
                domain.devices.append(DeviceGroupSpec(
                    id: id, kind: kind, count: self.count(child), model: model, role: child[attribute: "role"],
                    speed: parse(child, "speed", Units.bandwidth), forwards: forwards, location: child.location))
            case "group":
                let id = child[attribute: "id"] ?? ""
                declare(id, at: child.location, into: &problems)
                let members = (child[attribute: "members"] ?? "").split(whereSeparator: { $0.isWhitespace }).map(String.init)
                if members.isEmpty {
                    fail(child.location, "group '\(id)' has no members; list device ids, as in members=\"nic0 nic1\"")
                }
                domain.aliases.append(GroupAliasSpec(id: id, members: members, location: child.location))
            case "level", "host":
                let childLevel: String
                if child.name == "host" {
                    if let name = child[attribute: "name"], name != "host" {
                        fail(child.location, "<host> is the level named 'host'; use <level name=\"\(name)\"> for another level")
                    }
                    childLevel = "host"
                } else {
                    guard let name = child[attribute: "name"] else {
                        fail(child.location, "<level> needs a name attribute, e.g. name=\"rack\"")
                        continue
                    }
                    childLevel = name
                }
                if childLevel == level || ancestry.contains(childLevel) || childLevel == "cluster" {
                    fail(child.location, "level '\(childLevel)' is nested inside a level of the same name")
                    continue
                }
                let alias = child[attribute: "as"] ?? childLevel
                declare(alias, at: child.location, into: &problems)
                let childCount = self.count(child)
                var body = child
                let templateID = child[attribute: "template"]
                if let templateID {
                    guard let template = templates[templateID] else {
                        fail(child.location, "unknown template '\(templateID)'"
                            + (templates.isEmpty ? "; define it with <template id=\"\(templateID)\">" : " (known: \(templates.keys.sorted().joined(separator: ", ")))"))
                        continue
                    }
                    if !child.children.isEmpty {
                        fail(child.location, "a <\(child.name)> with template=\"\(templateID)\" cannot also have its own content")
                    }
                    if ancestry.contains("template:" + templateID) {
                        fail(child.location, "template '\(templateID)' contains itself")
                        continue
                    }
                    body = template
                }
                let nestedAncestry = ancestry + [level] + (templateID.map { ["template:" + $0] } ?? [])
                domain.children.append(readDomain(
                    body, level: childLevel, groupName: alias, count: childCount, template: templateID, ancestry: nestedAncestry))
            case "link":
                if let link = readLink(child) { domain.links.append(link) }
            default:
                fail(child.location, "unexpected element <\(child.name)>")
            }
        }
        return domain
    }

    mutating func readLink(_ element: ParsedElement) -> LinkSpec? {
        guard let a = endpoint(element, "a"), let b = endpoint(element, "b") else { return nil }
        let capacity: LinkCapacity
        switch (element[attribute: "bandwidth"], element[attribute: "oversubscription"]) {
        case (.some, .some):
            fail(element.location, "give a link either bandwidth or oversubscription, not both")
            return nil
        case (.some, nil):
            guard let value = parse(element, "bandwidth", Units.bandwidth) else { return nil }
            capacity = .bandwidth(value)
        case (nil, .some):
            guard let value = parse(element, "oversubscription", Units.ratio) else { return nil }
            capacity = .oversubscription(value)
        case (nil, nil):
            fail(element.location, "the link \(a) – \(b) needs a bandwidth (e.g. bandwidth=\"400Gb/s\") or an oversubscription (e.g. oversubscription=\"1:7\")")
            return nil
        }
        let pattern = element[attribute: "pattern"].flatMap(LinkPattern.init(rawValue:))
        return LinkSpec(
            a: a, b: b, pattern: pattern, capacity: capacity, latency: parse(element, "latency", Units.duration) ?? 0,
            parallel: count(element, "parallel"), medium: element[attribute: "medium"], location: element.location)
    }

    mutating func endpoint(_ element: ParsedElement, _ name: String) -> EndpointReference? {
        let text = element[attribute: name] ?? ""
        var steps: [EndpointStep] = []
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            if let open = part.firstIndex(of: "["), part.hasSuffix("]") {
                let digits = part[part.index(after: open)..<part.index(before: part.endIndex)]
                guard let index = Int(digits), index < ClusterLoader.maximumDevices else {
                    fail(element.location, "attribute '\(name)': index in '\(text)' is not a valid member number")
                    return nil
                }
                steps.append(EndpointStep(name: String(part[..<open]), index: index))
            } else if part.isEmpty {
                fail(element.location, "attribute '\(name)': '\(text)' has an empty step")
                return nil
            } else {
                steps.append(EndpointStep(name: String(part), index: nil))
            }
        }
        return EndpointReference(steps: steps)
    }
}
