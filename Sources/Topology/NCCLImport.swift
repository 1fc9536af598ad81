import Foundation
import SchemaXML

/// The outcome of importing one NCCL topology file: a single-host cluster file, and what had to be
/// assumed to write it.
public struct NCCLImportResult: Sendable {
    /// The generated cluster file: accelerator model(s), a host `<template>` called `name`, and a
    /// `<fabric>` that places one such host.
    public let xml: String
    /// Name of the generated cluster and of its host template.
    public let name: String
    /// Every assumption made where the NCCL file was silent or ambiguous, one sentence each. They are
    /// also written into the generated file's header comment, so the file explains itself.
    public let notes: [String]
    /// `xml` loaded back through `ClusterLoader`: proof that the file is valid, and handy for summaries.
    public let cluster: Cluster
}

/// Converts NCCL's view of one host (what `NCCL_TOPO_DUMP_FILE` writes, or an `NCCL_TOPO_FILE`
/// hint file) into a towerplan cluster file whose host template a larger cluster can import.
///
/// NCCL describes a host as a tree, `system > cpu > pci… > {gpu > nvlink | nic > net}`. It becomes a
/// graph: each `cpu` a CPU, each PCI bridge a PCIe switch, each GPU an accelerator, each distinct
/// network port a NIC, each PCI parent–child edge a PCIe link at the child's negotiated speed, NVLinks
/// either to one shared NVSwitch or directly between GPUs, and all CPUs meshed to each other.
///
/// Real files leave a lot out (Azure's hint files have only `cpu` and `pci`). Every gap is filled
/// with a stated default and reported in `NCCLImportResult.notes` instead of failing: an
/// approximate host whose assumptions are written down is more useful than no host. Only input
/// that is not an NCCL topology at all, or describes no GPU, is an error.
public enum NCCLImporter {
    /// PCIe transfer rate assumed where a `pci` element has no usable `link_speed`: Gen4, the
    /// generation of most GPU servers NCCL dumps come from.
    public static let defaultPCIeTransferRate = 16.0
    /// PCIe lanes assumed where a `pci` element has no usable `link_width`: GPUs and HCAs use x16.
    public static let defaultPCIeLanes = 16
    /// Per-direction bandwidth assumed between two CPUs (sockets or NUMA nodes): three UPI links at
    /// 20.8 GB/s, as in `topologies/grand-teton-h100-512.xml`. NCCL files carry no such figure.
    public static let interCPUBandwidth = 62e9
    /// Typical one-way latencies (the same figures as the shipped presets); they only matter for
    /// small messages.
    static let pcieLatency = "1us", nvlinkLatency = "0.7us", interCPULatency = "1us"

    /// Imports the NCCL topology at `path`.
    /// - Parameter name: cluster and host-template name; by default derived from the file name.
    /// - Throws: `XMLDiagnostics` naming the file (and line) when it cannot be read, is not an NCCL
    ///   topology, or has no GPU; or when `name` is not a valid identifier.
    public static func importHost(path: String, name: String? = nil) throws(XMLDiagnostics) -> NCCLImportResult {
        let root = try XMLLoader.load(path: path)
        let hostName = try resolveName(name, path: path)
        guard root.name == "system" else {
            let hint = root.name == "cluster" ? " (this looks like a towerplan cluster file already)" : ""
            throw failure(root.location, "expected an NCCL topology with a <system> root (as NCCL_TOPO_DUMP_FILE writes), found <\(root.name)>\(hint)")
        }
        guard contains(root, anyOf: ["cpu", "pci", "gpu"]) else {
            throw failure(root.location, "<system> has no <cpu>, <pci> or <gpu> elements, so it describes no hardware; is this the NCCL topology dump?")
        }
        var scanner = HostScanner()
        scanner.scan(system: root)
        guard !scanner.gpus.isEmpty else {
            throw failure(root.location, "no GPUs found: no <gpu> element and no <pci> with a display-controller class (0x0300 or 0x0302); towerplan needs at least one accelerator per host")
        }
        let host = scanner.finish()
        var writer = HostWriter(host: host, name: hostName, source: path)
        let xml = writer.render()
        let cluster: Cluster
        do throws(XMLDiagnostics) {
            cluster = try ClusterLoader.load(data: Data(xml.utf8), name: "\(hostName).xml (generated from \(path))")
        } catch {
            throw XMLDiagnostics(error.diagnostics.map {
                XMLDiagnostic(location: SourceLocation(file: path, line: 0),
                              message: "internal error, please report it with this file: the generated cluster is invalid: \($0)")
            })
        }
        return NCCLImportResult(xml: xml, name: hostName, notes: host.notes, cluster: cluster)
    }

    /// Bytes per second per direction of a PCIe link: GT/s × lanes × encoding efficiency / 8, where
    /// Gen1 and Gen2 (2.5 and 5 GT/s) spend 8b/10b and Gen3 onwards (8 GT/s and above) 128b/130b.
    public static func pcieBandwidth(gigatransfersPerSecond rate: Double, lanes: Int) -> Double {
        let efficiency = rate < 8 ? 8.0 / 10.0 : 128.0 / 130.0
        return rate * 1e9 * Double(lanes) * efficiency / 8
    }

    /// Nominal bytes per second per direction of one NVLink of a GPU with compute capability `sm`:
    /// NVLink 1 (sm 60) 20 GB/s, NVLink 2–4 (sm 70–90) 25 GB/s, NVLink 5 (sm 100) 50 GB/s.
    /// Nil below sm 60, which had no NVLink.
    public static func nvlinkBandwidth(sm: Int) -> Double? {
        switch sm {
        case 100...: 50e9
        case 70..<100: 25e9
        case 60..<70: 20e9
        default: nil
        }
    }

    private static func failure(_ location: SourceLocation, _ message: String) -> XMLDiagnostics {
        XMLDiagnostics([XMLDiagnostic(location: location, message: message)])
    }

    private static func contains(_ element: ParsedElement, anyOf names: Set<String>) -> Bool {
        element.children.contains { names.contains($0.name) || contains($0, anyOf: names) }
    }

    /// The given name if it is a valid identifier, else an error; without one, the file name made valid.
    private static func resolveName(_ name: String?, path: String) throws(XMLDiagnostics) -> String {
        if let name {
            guard isIdentifier(name) else {
                throw failure(SourceLocation(file: path, line: 0),
                              "'\(name)' is not a valid name: use letters, digits, '_', '.' and '-', starting with a letter or '_'")
            }
            return name
        }
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let cleaned = sanitize(base)
        guard let first = cleaned.first else { return "host" }
        return first.isLetter || first == "_" ? cleaned : "host_" + cleaned
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCIILetter || first == "_" else { return false }
        return text.unicodeScalars.allSatisfy(\.isIdentifierCharacter)
    }

    /// `text` with every character an identifier may not hold replaced by `_` ("0000:0c:00.0" → "0000_0c_00.0").
    static func sanitize(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isIdentifierCharacter ? $0 : "_" }))
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isIdentifierCharacter: Bool {
        isASCIILetter || ("0"..."9").contains(self) || self == "_" || self == "." || self == "-"
    }
}

// MARK: - GPU models

/// Datasheet figures for the GPU generations NCCL's `sm` attribute identifies. Peaks are dense
/// (no structured sparsity); int8 is in operations per second.
private struct GPUModel {
    var id: String
    /// Nil for the stand-in, whose maker is unknown too.
    var vendor: String? = "NVIDIA"
    var memory: String
    var memoryBandwidth: String
    var peaks: [(precision: Precision, flops: String)]
    /// Where the figures come from, written above the model in the generated file.
    var source: String
    /// Other parts with the same `sm` but different figures, reported as a note.
    var ambiguity: String?

    /// The model for compute capability `sm`, or nil when it is unknown.
    static func forSM(_ sm: Int) -> GPUModel? {
        switch sm {
        case 60:
            GPUModel(id: "P100-SXM2-16GB", memory: "16GB", memoryBandwidth: "732GB/s",
                     peaks: [(.fp64, "5.3TFLOP/s"), (.fp32, "10.6TFLOP/s"), (.fp16, "21.2TFLOP/s")],
                     source: "sm 60: NVIDIA Tesla P100 datasheet (SXM2)", ambiguity: "a P100 PCIe is slower (4.7 TFLOP/s fp64)")
        case 70:
            GPUModel(id: "V100-SXM2-32GB", memory: "32GB", memoryBandwidth: "900GB/s",
                     peaks: [(.fp64, "7.8TFLOP/s"), (.fp32, "15.7TFLOP/s"), (.fp16, "125TFLOP/s")],
                     source: "sm 70: NVIDIA V100 Tensor Core GPU datasheet (SXM2)", ambiguity: "a V100 16GB has half the memory")
        case 80:
            GPUModel(id: "A100-SXM4-80GB", memory: "80GB", memoryBandwidth: "2039GB/s",
                     peaks: [(.fp64, "19.5TFLOP/s"), (.fp32, "19.5TFLOP/s"), (.tf32, "156TFLOP/s"), (.bf16, "312TFLOP/s"),
                             (.fp16, "312TFLOP/s"), (.int8, "624TFLOP/s")],
                     source: "sm 80: NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB)", ambiguity: "an A100 40GB has 40GB at 1.555TB/s")
        case 86:
            GPUModel(id: "A40-48GB", memory: "48GB", memoryBandwidth: "696GB/s",
                     peaks: [(.fp32, "37.4TFLOP/s"), (.tf32, "74.8TFLOP/s"), (.bf16, "149.7TFLOP/s"), (.fp16, "149.7TFLOP/s"),
                             (.int8, "299.3TFLOP/s")],
                     source: "sm 86: NVIDIA A40 datasheet", ambiguity: "an RTX A6000 is similar (768GB/s); GeForce sm 86 parts have less memory")
        case 89:
            GPUModel(id: "L40-48GB", memory: "48GB", memoryBandwidth: "864GB/s",
                     peaks: [(.fp32, "90.5TFLOP/s"), (.tf32, "90.5TFLOP/s"), (.bf16, "181TFLOP/s"), (.fp16, "181TFLOP/s"),
                             (.fp8, "362TFLOP/s"), (.int8, "362TFLOP/s")],
                     source: "sm 89: NVIDIA L40 datasheet", ambiguity: "an L40S has twice the tensor throughput")
        case 90:
            GPUModel(id: "H100-SXM5-80GB", memory: "80GB", memoryBandwidth: "3.35TB/s",
                     peaks: [(.fp64, "67TFLOP/s"), (.fp32, "67TFLOP/s"), (.tf32, "494TFLOP/s"), (.bf16, "989TFLOP/s"),
                             (.fp16, "989TFLOP/s"), (.fp8, "1979TFLOP/s"), (.int8, "1979TFLOP/s")],
                     source: "sm 90: NVIDIA H100 Tensor Core GPU datasheet (SXM5)", ambiguity: "an H200 has 141GB at 4.8TB/s, an H100 PCIe less compute")
        case 100:
            GPUModel(id: "B200-180GB", memory: "180GB", memoryBandwidth: "8TB/s",
                     peaks: [(.fp64, "37TFLOP/s"), (.fp32, "75TFLOP/s"), (.tf32, "1100TFLOP/s"), (.bf16, "2250TFLOP/s"),
                             (.fp16, "2250TFLOP/s"), (.fp8, "4500TFLOP/s"), (.int8, "4500TFLOP/s")],
                     source: "sm 100: NVIDIA HGX B200 datasheet (8-GPU totals / 8, sparse tensor figures halved)", ambiguity: nil)
        default:
            nil
        }
    }

    /// Stand-in for a GPU whose generation is unknown: A100 40GB figures, the commonest training GPU
    /// of the NCCL era, so estimates stay plausible until the user corrects them.
    static let generic = GPUModel(
        id: "generic-gpu", vendor: nil, memory: "40GB", memoryBandwidth: "1555GB/s",
        peaks: [(.fp64, "19.5TFLOP/s"), (.fp32, "19.5TFLOP/s"), (.tf32, "156TFLOP/s"), (.bf16, "312TFLOP/s"), (.fp16, "312TFLOP/s")],
        source: "GPU generation unknown: A100 SXM4 40GB figures (NVIDIA A100 datasheet) as a stand-in; correct them", ambiguity: nil)
}

// MARK: - Reading the NCCL tree

/// Where a device hangs in the PCI tree: directly on a CPU, or below a PCIe switch.
private enum Attachment: Equatable {
    case cpu(Int)
    case pcieSwitch(Int)
}

private struct CPUInfo {
    var numaID: String?
    var vendor: String?
    /// Made up for devices placed directly under `<system>`.
    var implicit = false
}

private struct SwitchInfo {
    var id: String
    var busID: String?
    var parent: Attachment
    var uplink: Double
}

private struct NVLinkInfo {
    var target: String
    var count: Int
    var targetClass: Int?
}

private struct GPUInfo {
    var busID: String?
    var dev: Int?
    var sm: Int?
    var parent: Attachment
    var uplink: Double
    var nvlinks: [NVLinkInfo]
}

private struct NICInfo {
    var name: String?
    var busID: String?
    /// Line rate, bytes/s; nil when the file does not say.
    var speed: Double?
    var role: String?
    var parent: Attachment
    var uplink: Double
    /// Whether the uplink is a PCIe link (false for a NIC NCCL found no PCI path for).
    var viaPCI: Bool
}

/// Assumptions collected while reading, merged so that one assumption made for sixteen devices is
/// one note listing them, not sixteen notes.
private struct Notes {
    private struct Entry {
        var topic: String
        var consequence: String
        var subjects: [String] = []
        var seen: Set<String> = []
    }
    private var entries: [Entry] = []
    private var positions: [String: Int] = [:]

    /// Records "`topic` on `subject`; `consequence`", merging subjects of the same topic and consequence.
    mutating func add(_ topic: String, on subject: String? = nil, _ consequence: String = "") {
        let key = topic + "\u{1}" + consequence
        let position: Int
        if let known = positions[key] {
            position = known
        } else {
            position = entries.count
            positions[key] = position
            entries.append(Entry(topic: topic, consequence: consequence))
        }
        if let subject, entries[position].seen.insert(subject).inserted { entries[position].subjects.append(subject) }
    }

    var rendered: [String] {
        entries.map { entry in
            let list = entry.subjects
            let shown = list.prefix(6).joined(separator: ", ") + (list.count > 6 ? " and \(list.count - 6) more" : "")
            return entry.topic + (list.isEmpty ? "" : " on " + shown) + (entry.consequence.isEmpty ? "" : "; " + entry.consequence)
        }
    }
}

/// Device ids of one host, each handed out once: a clash gets a numeric suffix (`pcie_x`, `pcie_x_2`).
/// The next suffix per base is remembered, so a file repeating one bus id many times stays linear.
private struct IdentifierPool {
    /// The fixed group names the writer uses.
    private var used: Set<String> = ["cpu", "gpu", "nic", "nvswitch"]
    private var nextSuffix: [String: Int] = [:]

    mutating func claim(_ base: String) -> String {
        var candidate = base
        while !used.insert(candidate).inserted {
            let suffix = nextSuffix[base, default: 2]
            nextSuffix[base] = suffix + 1
            candidate = "\(base)_\(suffix)"
        }
        return candidate
    }
}

/// PCI class codes NCCL writes (`class="0x060400"`), by what they mean for the graph.
private enum PCIKind: Equatable {
    case bridge, gpu, nvswitch, other
    case nic(role: String)

    init(classCode: Int) {
        switch classCode >> 8 {
        case 0x0604: self = .bridge
        case 0x0680: self = .nvswitch
        case 0x0207: self = .nic(role: "infiniband")
        case 0x0200...0x02FF: self = .nic(role: "ethernet")
        case 0x0300...0x03FF: self = .gpu
        default: self = .other
        }
    }
}

/// Walks the `<system>` tree once, collecting devices and their PCIe attachment.
private struct HostScanner {
    var cpus: [CPUInfo] = []
    var switches: [SwitchInfo] = []
    var gpus: [GPUInfo] = []
    var nics: [NICInfo] = []
    var notes = Notes()
    var identifiers = IdentifierPool()
    private var implicitCPU: Int?

    mutating func scan(system: ParsedElement) {
        for child in system.children {
            switch child.name {
            case "cpu":
                cpus.append(CPUInfo(numaID: Self.attribute(child, "numaid"), vendor: Self.attribute(child, "vendor")))
                let index = cpus.count - 1
                for grandchild in child.children { visit(grandchild, under: .cpu(index)) }
            case "pci", "nic", "gpu":
                let cpu = rootCPU()
                visit(child, under: .cpu(cpu))
            default:
                ignore(child)
            }
        }
    }

    /// A CPU for devices placed directly under `<system>`: every PCIe tree needs a root complex.
    private mutating func rootCPU() -> Int {
        if let implicitCPU { return implicitCPU }
        notes.add("devices directly under <system> without a <cpu>", on: nil, "assumed one CPU as their PCIe root")
        cpus.append(CPUInfo(numaID: nil, vendor: nil, implicit: true))
        implicitCPU = cpus.count - 1
        return cpus.count - 1
    }

    private mutating func visit(_ element: ParsedElement, under parent: Attachment) {
        switch element.name {
        case "pci":
            visitPCI(element, under: parent)
        case "nic":
            // NCCL puts a `nic` straight under its `cpu` when it cannot find the NIC's PCI path
            // (virtual machines, socket transports): there is no PCIe figure for it.
            addNICs(from: [element], busID: nil, role: nil, parent: parent, uplink: nil, subject: "line \(element.location.line)")
        case "gpu":
            notes.add("<gpu> outside any <pci>", on: "line \(element.location.line)",
                      "linked to its parent at an assumed PCIe Gen4 x16")
            addGPU(element, busID: nil, parent: parent,
                   uplink: NCCLImporter.pcieBandwidth(gigatransfersPerSecond: NCCLImporter.defaultPCIeTransferRate, lanes: NCCLImporter.defaultPCIeLanes))
        default:
            ignore(element)
        }
    }

    private mutating func ignore(_ element: ParsedElement) {
        notes.add("ignored <\(element.name)>", on: "line \(element.location.line)", "towerplan does not model it in that place")
    }

    private mutating func visitPCI(_ element: ParsedElement, under parent: Attachment) {
        let busID = Self.attribute(element, "busid")
        let subject = busID ?? "line \(element.location.line)"
        let children = Set(element.children.map(\.name))
        let inferred: PCIKind =
            children.contains("gpu") ? .gpu : children.contains("nic") ? .nic(role: "ethernet") : children.contains("pci") ? .bridge : .other
        var kind: PCIKind
        if let text = Self.attribute(element, "class"), let code = Self.hexadecimal(text) {
            kind = PCIKind(classCode: code)
        } else {
            kind = inferred
            notes.add("no readable PCI class", on: subject, "recognised from its contents")
        }
        if kind == .other && inferred != .other {
            kind = .bridge
            notes.add("unknown PCI class with devices below it", on: subject, "treated as a PCIe switch")
        }
        switch kind {
        case .bridge:
            let base = "pcie_" + NCCLImporter.sanitize(busID ?? String(switches.count))
            switches.append(SwitchInfo(id: identifiers.claim(base), busID: busID, parent: parent, uplink: pcieUplink(element, subject)))
            let index = switches.count - 1
            for child in element.children { visit(child, under: .pcieSwitch(index)) }
        case .gpu:
            let details = element.children(named: "gpu").first
            addGPU(details, busID: busID, parent: parent, uplink: pcieUplink(element, subject))
            for child in element.children where child.name != "gpu" { ignore(child) }
        case .nic(let role):
            addNICs(from: element.children(named: "nic"), busID: busID, role: role, parent: parent,
                    uplink: pcieUplink(element, subject), subject: subject)
            for child in element.children where child.name != "nic" { ignore(child) }
        case .nvswitch:
            // NVSwitch chips show up as PCI endpoints for management only; NVLink traffic is modelled
            // through the shared `nvswitch`, so they get no PCIe link that routing could misuse.
            notes.add("NVSwitch PCI endpoint", on: subject, "not linked to PCIe; NVLink traffic goes through the switch 'nvswitch'")
        case .other:
            notes.add("PCI device of a class towerplan does not model", on: subject, "left out")
        }
    }

    private mutating func addGPU(_ details: ParsedElement?, busID: String?, parent: Attachment, uplink: Double) {
        let subject = busID ?? details.map { "line \($0.location.line)" } ?? "a GPU"
        var nvlinks: [NVLinkInfo] = []
        for link in details?.children(named: "nvlink") ?? [] {
            guard let target = Self.attribute(link, "target") else {
                notes.add("<nvlink> without target", on: "line \(link.location.line)", "ignored")
                continue
            }
            var count = 1
            if let text = Self.attribute(link, "count"), let value = Int(text), value >= 1, value <= 1024 {
                count = value
            } else {
                notes.add("<nvlink> without a usable count", on: "line \(link.location.line)", "assumed 1 link")
            }
            nvlinks.append(NVLinkInfo(target: target, count: count, targetClass: Self.attribute(link, "tclass").flatMap(Self.hexadecimal)))
        }
        if let details {
            for child in details.children where child.name != "nvlink" { ignore(child) }
        }
        gpus.append(GPUInfo(
            busID: busID, dev: details.flatMap { Self.attribute($0, "dev") }.flatMap { Int($0) },
            sm: details.flatMap { Self.attribute($0, "sm") }.flatMap { Int($0) }, parent: parent, uplink: uplink, nvlinks: nvlinks))
        if details == nil {
            notes.add("GPU without a <gpu> element (a hint file)", on: subject, "NVLinks unknown, so only PCIe connects it")
        }
    }

    /// One NIC per physical port. Several `net`s of one `nic` on the same port (same `port`, and same
    /// `guid` where given) are one wire seen twice (bond members, or aliases of one port) and become one
    /// NIC at the highest speed listed: adding them up would count the wire twice. Nets on different
    /// ports are separate NICs sharing the PCIe link of their function equally.
    private mutating func addNICs(
        from elements: [ParsedElement], busID: String?, role: String?, parent: Attachment, uplink: Double?, subject: String
    ) {
        var ports: [[ParsedElement]] = []
        var portIndex: [String: Int] = [:]
        for net in elements.flatMap({ $0.children(named: "net") }) {
            let key = Self.attribute(net, "port").map { (Self.attribute(net, "guid") ?? "") + "#" + $0 }
            if let key, let index = portIndex[key] {
                ports[index].append(net)
            } else {
                if let key { portIndex[key] = ports.count }
                ports.append([net])
            }
        }
        for element in elements {
            for child in element.children where child.name != "net" { ignore(child) }
        }
        if ports.isEmpty {
            notes.add("NIC without <net> (speed unknown)", on: subject, "give its network link a bandwidth in the enclosing cluster")
            ports.append([])
        }
        if ports.count > 1, uplink != nil {
            notes.add("several ports on one PCI function", on: subject, "they share its PCIe link equally")
        }
        for port in ports {
            let names = port.compactMap { Self.attribute($0, "name") }
            let speeds = port.compactMap { net -> Double? in
                guard let text = Self.attribute(net, "speed"), let mbps = Double(text), mbps > 0, mbps <= 1e9 else {
                    notes.add("<net> without a usable speed", on: Self.attribute(net, "name") ?? "line \(net.location.line)", "NIC speed left unset")
                    return nil
                }
                return mbps * 1e6 / 8
            }
            if port.count > 1 {
                notes.add("nets on one port (bonded or aliased)", on: names.joined(separator: "+"), "modelled as one NIC at the highest speed listed")
            }
            let speed = speeds.max()
            let link: Double
            if let uplink {
                link = uplink / Double(ports.count)
            } else if let speed {
                link = speed
                notes.add("NIC with no PCI path", on: names.first ?? subject, "linked to its parent at its line rate")
            } else {
                link = NCCLImporter.pcieBandwidth(gigatransfersPerSecond: NCCLImporter.defaultPCIeTransferRate, lanes: NCCLImporter.defaultPCIeLanes)
                notes.add("NIC with neither PCI path nor speed", on: names.first ?? subject, "linked to its parent at an assumed PCIe Gen4 x16")
            }
            nics.append(NICInfo(name: names.isEmpty ? nil : names.joined(separator: "+"), busID: busID, speed: speed, role: role,
                                parent: parent, uplink: link, viaPCI: uplink != nil))
        }
    }

    /// Bandwidth of the link from a `pci` element to its parent, from its negotiated speed and width.
    private mutating func pcieUplink(_ element: ParsedElement, _ subject: String) -> Double {
        var rate = NCCLImporter.defaultPCIeTransferRate
        let speedText = Self.attribute(element, "link_speed")
        if let speedText, let value = Self.leadingNumber(speedText), value > 0, value <= 256 {
            rate = value
        } else {
            notes.add(speedText.map { "unreadable link_speed '\($0)'" } ?? "no link_speed", on: subject, "assumed 16 GT/s (PCIe Gen4)")
        }
        var lanes = NCCLImporter.defaultPCIeLanes
        let widthText = Self.attribute(element, "link_width")
        if let widthText, let value = Int(widthText), (1...32).contains(value) {
            lanes = value
        } else {
            notes.add(widthText.map { "unusable link_width '\($0)'" } ?? "no link_width", on: subject, "assumed x16")
        }
        return NCCLImporter.pcieBandwidth(gigatransfersPerSecond: rate, lanes: lanes)
    }

    /// Orders the GPUs as CUDA numbers them (by `dev`) when every GPU has a distinct one, so that
    /// accelerator ranks match the host's device numbering; otherwise keeps file order.
    mutating func finish() -> ScannedHost {
        let devs = gpus.compactMap(\.dev)
        if devs.count == gpus.count && Set(devs).count == devs.count {
            gpus.sort { ($0.dev ?? 0) < ($1.dev ?? 0) }
        }
        if cpus.count > 1 {
            notes.add("NCCL files give no CPU-to-CPU bandwidth", on: nil,
                      "assumed \(HostWriter.gigabytes(NCCLImporter.interCPUBandwidth)) per direction (three UPI links) between each pair of the \(cpus.count) CPUs")
        }
        var host = ScannedHost(cpus: cpus, switches: switches, gpus: gpus, nics: nics, identifiers: identifiers)
        host.resolve(notes: &notes)
        host.notes = notes.rendered
        return host
    }

    static func attribute(_ element: ParsedElement, _ name: String) -> String? {
        guard let value = element[attribute: name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    static func hexadecimal(_ text: String) -> Int? {
        let digits = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
        return Int(digits, radix: 16)
    }

    /// The number a `link_speed` starts with: "16.0 GT/s PCIe" → 16, "2.5 GT/s" → 2.5.
    static func leadingNumber(_ text: String) -> Double? {
        Double(String(text.prefix { $0.isNumber || $0 == "." }))
    }
}

// MARK: - Resolving models and NVLinks

/// The host after reading: devices with their attachments, plus what NVLink connects.
private struct ScannedHost {
    var cpus: [CPUInfo]
    var switches: [SwitchInfo]
    var gpus: [GPUInfo]
    var nics: [NICInfo]
    /// Accelerator model of each GPU, by index.
    var models: [GPUModel] = []
    /// Total NVLink bandwidth from each GPU to the shared NVSwitch (0: none).
    var nvswitchBandwidth: [Double] = []
    /// Direct NVLinks between two GPUs (by index), bandwidth per direction.
    var peerLinks: [(a: Int, b: Int, bandwidth: Double)] = []
    /// NVLinks from a GPU to its own CPU (IBM POWER hosts).
    var cpuLinks: [(gpu: Int, cpu: Int, bandwidth: Double)] = []
    var notes: [String] = []
    /// Ids taken so far, for naming individual GPUs and NICs without clashes.
    var identifiers: IdentifierPool

    init(cpus: [CPUInfo], switches: [SwitchInfo], gpus: [GPUInfo], nics: [NICInfo], identifiers: IdentifierPool) {
        (self.cpus, self.switches, self.gpus, self.nics, self.identifiers) = (cpus, switches, gpus, nics, identifiers)
    }

    /// Bus ids compare by value: "0000:0F:00.0" and "0:f:0.0" name the same function.
    static func busKey(_ busID: String) -> String {
        let parts = busID.lowercased().split(whereSeparator: { $0 == ":" || $0 == "." })
        let numbers = parts.compactMap { UInt64($0, radix: 16) }
        return numbers.count == parts.count ? numbers.map { String($0, radix: 16) }.joined(separator: ":") : busID.lowercased()
    }

    /// The CPU at the root of the PCIe tree a device hangs from.
    func rootCPU(of attachment: Attachment) -> Int {
        switch attachment {
        case .cpu(let index): index
        case .pcieSwitch(let index): rootCPU(of: switches[index].parent)
        }
    }

    mutating func resolve(notes: inout Notes) {
        models = gpus.map { gpu in
            if let sm = gpu.sm, let model = GPUModel.forSM(sm) {
                if let ambiguity = model.ambiguity {
                    notes.add("sm \(sm) read as \(model.id)", on: nil, ambiguity + "; edit the <accelerator-model> if yours differs")
                }
                return model
            }
            notes.add(gpu.sm.map { "sm \($0) not in towerplan's GPU table" } ?? "GPU generation unknown (no sm)",
                      on: gpu.busID, "used the stand-in model generic-gpu (A100 40GB figures); edit its <accelerator-model>")
            return GPUModel.generic
        }
        var gpuIndex: [String: Int] = [:]
        for (index, gpu) in gpus.enumerated() {
            guard let busID = gpu.busID else { continue }
            if gpuIndex[Self.busKey(busID)] != nil {
                notes.add("bus id used by two GPUs", on: busID, "NVLinks to it go to the first")
            } else {
                gpuIndex[Self.busKey(busID)] = index
            }
        }
        nvswitchBandwidth = Array(repeating: 0, count: gpus.count)
        var peers: [[Int]: (bandwidth: Double, count: Int)] = [:]
        var peerOrder: [[Int]] = []
        for (index, gpu) in gpus.enumerated() where !gpu.nvlinks.isEmpty {
            var perLink = 25e9
            if let sm = gpu.sm, let rate = NCCLImporter.nvlinkBandwidth(sm: sm) {
                perLink = rate
            } else {
                notes.add("NVLink generation unknown", on: gpu.busID ?? "GPU \(index)", "assumed 25GB/s per link")
            }
            for link in gpu.nvlinks {
                let target = gpuIndex[Self.busKey(link.target)]
                let targetClass = link.targetClass.map { $0 >> 8 }
                if targetClass == 0x0604 {
                    // NCCL's class for an NVLink to the CPU itself (IBM POWER9).
                    cpuLinks.append((index, rootCPU(of: gpu.parent), Double(link.count) * perLink))
                } else if let target, targetClass != 0x0680 {
                    guard target != index else {
                        notes.add("NVLink from a GPU to itself", on: gpu.busID, "ignored")
                        continue
                    }
                    // Both ends usually list the link; keep one, with the larger count if they disagree.
                    let key = [min(index, target), max(index, target)]
                    let bandwidth = Double(link.count) * perLink
                    if let existing = peers[key] {
                        if existing.count != link.count {
                            notes.add("GPUs disagree on their NVLink count", on: link.target, "kept the larger")
                        }
                        if link.count > existing.count { peers[key] = (bandwidth, link.count) }
                    } else {
                        peers[key] = (bandwidth, link.count)
                        peerOrder.append(key)
                    }
                } else if targetClass.map({ 0x0300...0x03FF ~= $0 }) == true {
                    notes.add("NVLink to a GPU not in the file", on: link.target, "ignored")
                } else {
                    nvswitchBandwidth[index] += Double(link.count) * perLink
                }
            }
        }
        peerLinks = peerOrder.compactMap { key in peers[key].map { (key[0], key[1], $0.bandwidth) } }
    }
}

// MARK: - Writing the cluster file

/// Renders a scanned host as a cluster file. Uniform devices become one counted group (`gpu`,
/// `nic`) addressed as `gpu[i]`; mixed ones become individual devices gathered by a `<group>` alias
/// of the same name, so an importing cluster can always say `host/gpu` and `host/nic`.
private struct HostWriter {
    let host: ScannedHost
    let name: String
    let source: String
    /// Individual ids for GPUs and NICs when they cannot share one group, derived from what the file
    /// calls them so that each can be traced back.
    private let gpuIDs: [String]
    private let nicIDs: [String]
    /// Whether all GPUs share one model, and all NICs one speed and transport (one counted group each).
    private let gpusGrouped: Bool
    private let nicsGrouped: Bool
    private var lines: [String] = []

    init(host: ScannedHost, name: String, source: String) {
        (self.host, self.name, self.source) = (host, name, source)
        gpusGrouped = Set(host.models.map(\.id)).count == 1
        let firstNIC = host.nics.first
        nicsGrouped = host.nics.allSatisfy { $0.speed == firstNIC?.speed && $0.role == firstNIC?.role }
        var identifiers = host.identifiers
        gpuIDs = host.gpus.enumerated().map { identifiers.claim("gpu_" + ($1.busID.map(NCCLImporter.sanitize) ?? String($0))) }
        nicIDs = host.nics.enumerated().map { identifiers.claim("nic_" + NCCLImporter.sanitize($1.name ?? $1.busID ?? String($0))) }
    }

    private func gpu(_ index: Int) -> String { gpusGrouped ? "gpu[\(index)]" : gpuIDs[index] }
    private func nic(_ index: Int) -> String { nicsGrouped ? "nic[\(index)]" : nicIDs[index] }
    private func reference(_ attachment: Attachment) -> String {
        switch attachment {
        case .cpu(let index): "cpu[\(index)]"
        case .pcieSwitch(let index): host.switches[index].id
        }
    }

    /// Bytes/s as GB/s with six significant digits: enough to round-trip 31.5077GB/s (Gen4 x16).
    static func gigabytes(_ value: Double) -> String { String(format: "%.6g", value / 1e9) + "GB/s" }

    /// A NIC line rate as NCCL states it, in bits: 7e9 bytes/s → "56Gb/s".
    private static func bits(_ value: Double) -> String {
        let megabits = value * 8 / 1e6
        if megabits >= 1000, (megabits / 1000).rounded() == megabits / 1000 { return String(format: "%.0fGb/s", megabits / 1000) }
        return String(format: "%.6gMb/s", megabits)
    }

    /// "1 GPU", "8 GPUs".
    private static func counted(_ count: Int, _ noun: String, _ plural: String? = nil) -> String {
        "\(count) " + (count == 1 ? noun : plural ?? noun + "s")
    }

    /// A comment listing one entry per line, aligned under the first.
    private mutating func listComment(_ entries: [String]) {
        guard !entries.isEmpty else { return }
        lines.append("    <!-- " + entries.map(Self.comment).joined(separator: "\n         ") + " -->")
    }

    /// Text safe inside an XML comment, which may not contain "--" or control characters.
    private static func comment(_ text: String) -> String {
        var result = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 ? "?" : $0 }))
        while result.contains("--") { result = result.replacingOccurrences(of: "--", with: "- -") }
        return result
    }

    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private mutating func link(_ a: String, _ b: String, _ bandwidth: Double, _ latency: String, _ medium: String) {
        lines.append("    <link a=\"\(a)\" b=\"\(b)\" bandwidth=\"\(Self.gigabytes(bandwidth))\" latency=\"\(latency)\" medium=\"\(medium)\"/>")
    }

    mutating func render() -> String {
        header()
        var written: Set<String> = []
        for model in host.models where written.insert(model.id).inserted {
            lines.append("  <!-- \(Self.comment(model.source)) -->")
            lines.append("  <accelerator-model id=\"\(model.id)\"\(model.vendor.map { " vendor=\"\($0)\"" } ?? "") memory=\"\(model.memory)\" memory-bandwidth=\"\(model.memoryBandwidth)\">")
            for peak in model.peaks { lines.append("    <peak precision=\"\(peak.precision.rawValue)\" flops=\"\(peak.flops)\"/>") }
            lines.append("  </accelerator-model>")
        }
        lines.append("")
        lines.append("  <template id=\"\(name)\">")
        devices()
        links()
        lines.append("  </template>")
        lines.append("")
        lines.append("  <fabric>")
        lines.append("    <host template=\"\(name)\"/>")
        lines.append("  </fabric>")
        lines.append("</cluster>")
        return lines.joined(separator: "\n") + "\n"
    }

    private mutating func header() {
        let modelNames = Array(Set(host.models.map(\.id))).sorted().joined(separator: ", ")
        lines.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        lines.append("<!--")
        for text in [
            "Generated by `towerplan topo import-nccl` from the NCCL topology file \(source).",
            "One host: \(Self.counted(host.gpus.count, "GPU")) (\(modelNames)), \(Self.counted(host.cpus.count, "CPU")), "
                + "\(Self.counted(host.switches.count, "PCIe switch", "PCIe switches")), \(Self.counted(host.nics.count, "NIC")).",
            "Bandwidths are per direction. PCIe: GT/s x lanes x encoding (8b/10b below 8 GT/s, 128b/130b from 8 GT/s) / 8,",
            "from each device's link_speed and link_width. NVLink: link count x per-link rate of the GPU generation",
            "(sm 60: 20GB/s, sm 70-90: 25GB/s, sm 100: 50GB/s); a GPU's links to NVSwitches form one link to the shared",
            "switch 'nvswitch'. CPUs are meshed with each other.",
            "Latencies are typical one-way figures: NVLink \(NCCLImporter.nvlinkLatency), PCIe \(NCCLImporter.pcieLatency), CPU-CPU \(NCCLImporter.interCPULatency).",
            "Reuse: <import href=\"THIS FILE\"/>, then <host template=\"\(name)\" count=\"16\"/> and link host/nic to a switch.",
        ] { lines.append("  " + Self.comment(text)) }
        if !host.notes.isEmpty {
            lines.append("  Assumptions:")
            for note in host.notes { lines.append("  - " + Self.comment(note)) }
        }
        lines.append("-->")
        let description = "\(host.gpus.count) GPUs imported from NCCL topology \((source as NSString).lastPathComponent)"
        lines.append("<cluster name=\"\(name)\" description=\"\(Self.escaped(description))\">")
    }

    private mutating func devices() {
        listComment(host.cpus.enumerated().map { index, cpu in
            let what = cpu.implicit ? "assumed (no <cpu> in the file)" : cpu.numaID.map { "NUMA node \($0)" } ?? "no numaid"
            return "cpu[\(index)] = " + what + (cpu.vendor.map { ", \($0)" } ?? "")
        })
        lines.append("    <cpu id=\"cpu\" count=\"\(host.cpus.count)\"/>")

        listComment(host.gpus.indices.map { index in
            let gpu = host.gpus[index]
            return "\(self.gpu(index)) = \(gpu.busID ?? "no bus id")" + (gpu.dev.map { ", dev \($0)" } ?? "") + (gpu.sm.map { ", sm \($0)" } ?? "")
        })
        if gpusGrouped, let model = host.models.first {
            lines.append("    <accelerator id=\"gpu\" model=\"\(model.id)\" count=\"\(host.gpus.count)\"/>")
        } else {
            for (index, model) in host.models.enumerated() {
                lines.append("    <accelerator id=\"\(gpuIDs[index])\" model=\"\(model.id)\"/>")
            }
            lines.append("    <group id=\"gpu\" members=\"\(gpuIDs.joined(separator: " "))\"/>")
        }

        for pcie in host.switches {
            lines.append("    <switch id=\"\(pcie.id)\" role=\"pcie\"/>")
        }
        if host.nvswitchBandwidth.contains(where: { $0 > 0 }) {
            lines.append("    <switch id=\"nvswitch\" role=\"nvswitch\"/>")
        }

        guard let first = host.nics.first else { return }
        listComment(host.nics.indices.map { index in
            "\(self.nic(index)) = " + ([host.nics[index].name, host.nics[index].busID].compactMap { $0 }.joined(separator: " at "))
        })
        func attributes(_ nic: NICInfo) -> String {
            (nic.speed.map { " speed=\"\(Self.bits($0))\"" } ?? "") + (nic.role.map { " role=\"\($0)\"" } ?? "")
        }
        if nicsGrouped {
            lines.append("    <nic id=\"nic\" count=\"\(host.nics.count)\"\(attributes(first))/>")
        } else {
            for (index, nic) in host.nics.enumerated() {
                lines.append("    <nic id=\"\(nicIDs[index])\"\(attributes(nic))/>")
            }
            lines.append("    <group id=\"nic\" members=\"\(nicIDs.joined(separator: " "))\"/>")
        }
    }

    private mutating func links() {
        if host.cpus.count > 1 {
            let vendors = Set(host.cpus.compactMap(\.vendor))
            let medium = vendors == ["GenuineIntel"] ? "upi" : vendors == ["AuthenticAMD"] ? "xgmi" : "cpu-interconnect"
            lines.append("    <link a=\"cpu\" b=\"cpu\" pattern=\"all\" bandwidth=\"\(Self.gigabytes(NCCLImporter.interCPUBandwidth))\" latency=\"\(NCCLImporter.interCPULatency)\" medium=\"\(medium)\"/>")
        }
        for pcie in host.switches {
            link(pcie.id, reference(pcie.parent), pcie.uplink, NCCLImporter.pcieLatency, "pcie")
        }
        for (index, gpu) in host.gpus.enumerated() {
            link(self.gpu(index), reference(gpu.parent), gpu.uplink, NCCLImporter.pcieLatency, "pcie")
        }
        for (index, nic) in host.nics.enumerated() {
            link(self.nic(index), reference(nic.parent), nic.uplink, NCCLImporter.pcieLatency, nic.viaPCI ? "pcie" : "host-bus")
        }
        guard host.nvswitchBandwidth.contains(where: { $0 > 0 }) || !host.peerLinks.isEmpty || !host.cpuLinks.isEmpty else { return }
        lines.append("    <!-- NVLink: a GPU's N links to one peer are one link of N x the per-link rate (the GPU stripes")
        lines.append("         across them; parallel=\"N\" would instead model N routes picked by ECMP). -->")
        let toSwitch = host.nvswitchBandwidth
        if gpusGrouped, let first = toSwitch.first, first > 0, toSwitch.allSatisfy({ $0 == first }) {
            link("gpu", "nvswitch", first, NCCLImporter.nvlinkLatency, "nvlink")
        } else {
            for (index, bandwidth) in toSwitch.enumerated() where bandwidth > 0 {
                link(gpu(index), "nvswitch", bandwidth, NCCLImporter.nvlinkLatency, "nvlink")
            }
        }
        for peer in host.peerLinks {
            link(gpu(peer.a), gpu(peer.b), peer.bandwidth, NCCLImporter.nvlinkLatency, "nvlink")
        }
        for cpuLink in host.cpuLinks {
            link(gpu(cpuLink.gpu), "cpu[\(cpuLink.cpu)]", cpuLink.bandwidth, NCCLImporter.nvlinkLatency, "nvlink")
        }
    }
}
