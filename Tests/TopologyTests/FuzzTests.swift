import Foundation
import SchemaXML
import Testing

@testable import Topology

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seedable generator, so every fuzz input can be
/// regenerated from its seed file and iteration number alone.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Deterministic fuzzing of the cluster loader: every preset and a few hand-written files, mutated
/// at the byte, line and attribute level. Each attempt must either throw located diagnostics or
/// return a cluster whose structure is self-consistent — never crash, never hang.
///
/// `TOWERPLAN_FUZZ_ITERATIONS` sets the attempts per seed file (default 1000: 7,000 attempts, a
/// few seconds in a debug build; 500 already finds a division by zero that an empty `<group>`
/// once caused). A failure names the seed file and iteration, which regenerate the input exactly.
@Suite struct FuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["TOWERPLAN_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 1000

    /// A file to mutate; `parts` is written next to it for its `<import>`.
    struct SeedFile: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var parts: String?
        var testDescription: String { name }
    }

    /// Templates and a model, imported by the hand-written `imports.xml`.
    static let parts = """
        <cluster name="parts">
          <accelerator-model id="g" memory="16GiB" memory-bandwidth="900GB/s">
            <peak precision="fp16" flops="125TFLOP/s"/><peak precision="fp32" flops="15.7TFLOPS"/>
          </accelerator-model>
          <template id="mesh">
            <accelerator id="gpu" model="g" count="4"/>
            <nic id="nic" count="2" speed="100Gb/s"/>
            <link a="gpu" b="gpu" bandwidth="25GB/s" latency="0.7us"/>
            <link a="gpu[0]" b="gpu[3]" parallel="2" bandwidth="25GB/s"/>
            <link a="gpu" b="nic" pattern="block" bandwidth="16GB/s" latency="1us"/>
          </template>
        </cluster>
        """

    static let handWritten = [
        SeedFile(name: "imports.xml", text: """
            <cluster name="imports">
              <import href="parts.xml"/>
              <template id="rack">
                <switch id="leaf" count="2"/>
                <host template="mesh" count="3"/>
                <link a="host/nic" b="leaf" pattern="round-robin" bandwidth="100Gb/s" latency="1us"/>
              </template>
              <fabric>
                <level name="rack" template="rack" count="3"/>
                <switch id="spine" count="2"/>
                <link a="rack/leaf" b="spine" pattern="all" parallel="2" oversubscription="7:1" latency="1us"/>
              </fabric>
            </cluster>
            """, parts: parts),
        SeedFile(name: "aliases.xml", text: """
            <cluster name="aliases" description="named NICs, as, forwarding GPUs">
              <accelerator-model id="g" memory="80GB" memory-bandwidth="3.35TB/s"><peak precision="bf16" flops="989TFLOP/s"/></accelerator-model>
              <fabric>
                <level name="pod" count="2">
                  <host as="box" count="2">
                    <accelerator id="gpu" model="g" count="2" forwards="true"/>
                    <cpu id="cpu" count="2"/>
                    <nic id="eth0" speed="400Gb/s"/>
                    <nic id="eth1" speed="400Gb/s"/>
                    <group id="nic" members="eth0 eth1"/>
                    <link a="gpu" b="nic" pattern="one-to-one" bandwidth="64GB/s"/>
                    <link a="gpu" b="cpu" pattern="one-to-one" bandwidth="32GB/s"/>
                    <link a="cpu[0]" b="cpu[1]" bandwidth="62GB/s" medium="upi"/>
                  </host>
                  <switch id="tor" count="2"/>
                  <link a="box/nic" b="tor" pattern="round-robin" bandwidth="400Gb/s" latency="1.5us"/>
                </level>
                <switch id="core"/>
                <link a="pod/tor" b="core" oversubscription="1:3" latency="2us"/>
                <link a="pod[0]/box[0]/eth0" b="core" bandwidth="1Gb/s"/>
              </fabric>
            </cluster>
            """),
    ]

    /// The presets, with the Llama 3 cluster cut to 2 pods of 4 racks so that one attempt takes
    /// milliseconds (its structure, not its size, is what the mutations exercise).
    static func seedFiles() throws -> [SeedFile] {
        let presets = try Repository.presetFiles().map { file in
            var text = try String(contentsOf: Repository.topologies.appendingPathComponent(file), encoding: .utf8)
            if file == "llama3-h100-24k.xml" {
                text = text.replacingOccurrences(of: "<level name=\"pod\" count=\"8\">", with: "<level name=\"pod\" count=\"2\">")
                    .replacingOccurrences(of: "<level name=\"rack\" count=\"192\">", with: "<level name=\"rack\" count=\"4\">")
            }
            return SeedFile(name: file, text: text)
        }
        return presets + handWritten
    }

    /// Attribute values to substitute: invalid ones for every check, plausible ones to get past the
    /// schema and reach expansion.
    static let tokens = [
        "0", "-1", "1e309", "NaN", "1:0", "99999999999999", "", "../x", "gpu[99]", "1", "2", "7", "1:7", "7:1",
        "0.5", "1:0.5", "400Gb/s", "0Gb/s", "1e308TB/s", "1e-300b/s", "0ns", "1us", "80GiB", "1PFLOP/s", "gpu",
        "gpu[0]", "host/nic", "rack/tor", "pod/rack[0]/tor", "nic", "host", "rack", "cluster", "all", "one-to-one",
        "block", "round-robin", "true", "false", "a&b", "<", "\u{e9}", "parts.xml", "x\"y",
    ]

    /// Characters to flip to: XML syntax, digits, letters, and bytes that are not valid UTF-8 alone.
    static let flips: [UInt8] = Array("<>/=\"'[]:!-?&;# \n\t0123456789abgnxzABZ".utf8) + [0x00, 0x80, 0xC3, 0xFF]

    @Test(arguments: try seedFiles())
    func mutatedFilesFailCleanlyOrLoadConsistently(_ seed: SeedFile) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-fuzz-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        if let parts = seed.parts {
            try parts.write(toFile: directory + "/parts.xml", atomically: true, encoding: .utf8)
        }
        let original = Array(seed.text.utf8)
        let intact = Self.check(original, name: seed.name, directory: directory)
        #expect(intact.loaded && intact.problems.isEmpty, "the unmutated seed must load: \(intact.problems)")

        let seedIndex = UInt64(seed.name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) } & 0xFFFF)
        var loaded = 0
        for iteration in 0..<Self.iterations {
            var random = SplitMix64(seed: seedIndex << 32 | UInt64(iteration))
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                bytes = Self.mutate(bytes, using: &random)
            }
            let outcome = Self.check(bytes, name: seed.name, directory: directory)
            if outcome.loaded { loaded += 1 }
            #expect(outcome.problems.isEmpty, "\(seed.name), iteration \(iteration): \(outcome.problems)")
        }
        // Some mutants must survive the schema and expand, or the fuzzing only tests the parser.
        if Self.iterations >= 100 {
            #expect(loaded > 0)
        }
    }

    /// Loads `bytes` and lists what is wrong with the outcome: a diagnostic without a usable
    /// message or location, or an inconsistent cluster.
    static func check(_ bytes: [UInt8], name: String, directory: String) -> (loaded: Bool, problems: [String]) {
        do {
            let cluster = try ClusterLoader.load(data: Data(bytes), name: name, baseDirectory: directory)
            return (true, inconsistencies(in: cluster))
        } catch {
            if error.diagnostics.isEmpty { return (false, ["threw no diagnostics"]) }
            var problems: [String] = []
            for diagnostic in error.diagnostics
            where diagnostic.message.isEmpty
                || (diagnostic.location.file != name && !diagnostic.location.file.hasPrefix(directory + "/"))
            {
                problems.append("diagnostic without a message or file: '\(diagnostic)'")
            }
            // At least one problem points at a line. Line 0 is for problems of a whole file, and
            // for libxml2's encoding errors, which it reports without a line before the located
            // errors they cause.
            let wholeFile = ["the file is empty", "cannot read the file", "the document has no root element"]
            if !error.diagnostics.contains(where: { diagnostic in
                diagnostic.location.line >= 1 || wholeFile.contains { diagnostic.message.hasPrefix($0) }
            }) {
                problems.append("no diagnostic has a line: \(error)")
            }
            return (false, problems)
        }
    }

    // MARK: Mutations

    static func mutate(_ bytes: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        guard !bytes.isEmpty else { return bytes }
        var bytes = bytes
        /// A random non-empty range of at most 64 bytes.
        func range() -> Range<Int> {
            let start = Int.random(in: 0..<bytes.count, using: &random)
            return start..<min(bytes.count, start + Int.random(in: 1...64, using: &random))
        }
        switch Int.random(in: 0..<9, using: &random) {
        case 0:  // truncate
            bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)...)
        case 1:  // delete a range
            bytes.removeSubrange(range())
        case 2:  // duplicate a range somewhere
            let copy = bytes[range()]
            bytes.insert(contentsOf: copy, at: Int.random(in: 0...bytes.count, using: &random))
        case 3:  // swap two ranges
            let first = range()
            let second = range()
            guard first.upperBound <= second.lowerBound || second.upperBound <= first.lowerBound else { break }
            let (low, high) = first.lowerBound < second.lowerBound ? (first, second) : (second, first)
            bytes = Array(bytes[..<low.lowerBound] + bytes[high] + bytes[low.upperBound..<high.lowerBound] + bytes[low]
                + bytes[high.upperBound...])
        case 4, 5:  // replace an attribute value (twice as likely: it reaches the semantic checks)
            let values = attributeValues(bytes)
            guard let value = values.randomElement(using: &random) else { break }
            bytes.replaceSubrange(value, with: Array(tokens.randomElement(using: &random)!.utf8))
        case 6:  // flip a few characters
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] = flips.randomElement(using: &random)!
            }
        default:  // delete, duplicate or swap whole lines: mostly well-formed, so the loader sees it
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            let line = Int.random(in: 0..<lines.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: lines.remove(at: line)
            case 1: lines.insert(lines[line], at: Int.random(in: 0...lines.count, using: &random))
            default: lines.swapAt(line, Int.random(in: 0..<lines.count, using: &random))
            }
            bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        }
        return bytes
    }

    /// Ranges of the text between `="` and the next `"`: attribute values.
    static func attributeValues(_ bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\""), bytes[index - 1] == UInt8(ascii: "="),
                let end = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "\""))
            {
                ranges.append(index + 1..<end)
                index = end
            }
            index += 1
        }
        return ranges
    }

    // MARK: Consistency of a loaded cluster

    /// Everything that would be wrong with the structure of `cluster`; empty when consistent.
    static func inconsistencies(in cluster: Cluster) -> [String] {
        var problems: [String] = []
        func require(_ condition: Bool, _ problem: @autoclosure () -> String) {
            if !condition && problems.count < 10 { problems.append(problem()) }
        }
        let deviceCount = Int32(cluster.devices.count)
        require(!cluster.accelerators.isEmpty, "no accelerators")
        require(cluster.devices.count <= ClusterLoader.maximumDevices, "\(cluster.devices.count) devices")
        require(cluster.links.count <= ClusterLoader.maximumLinks, "\(cluster.links.count) links")

        // Ranks: the accelerators in device order, each knowing its rank.
        let accelerators = cluster.devices.indices.filter { cluster.devices[$0].kind == .accelerator }.map(Int32.init)
        require(accelerators == cluster.accelerators, "accelerator list differs from the accelerator devices")
        for (rank, device) in cluster.accelerators.enumerated() {
            require(cluster.rank(of: device) == Int32(rank), "rank of device \(device)")
            require(cluster.model(of: device) != nil, "accelerator \(device) has no model")
        }
        // Devices: each inside its domain's range, of its group's kind, a member its group has.
        var acceleratorsBefore = [Int32](repeating: 0, count: cluster.devices.count + 1)
        for (index, device) in cluster.devices.enumerated() {
            acceleratorsBefore[index + 1] = acceleratorsBefore[index] + (device.kind == .accelerator ? 1 : 0)
            let group = cluster.groups[Int(device.group)]
            require(cluster.domains.indices.contains(Int(device.domain)), "device \(index) has no domain")
            require(cluster.domains[Int(device.domain)].devices.contains(Int32(index)), "device \(index) outside its domain")
            require(group.kind == device.kind && device.member < group.count, "device \(index) does not match its group")
        }
        // Domains: preorder, nested ranges, accelerator ranges matching the devices they hold.
        let root = cluster.domains[0]
        require(root.parent == -1 && cluster.levels[root.level].name == "cluster", "root domain")
        require(root.devices == 0..<deviceCount, "root device range \(root.devices)")
        require(root.subtree == 0..<Int32(cluster.domains.count), "root subtree \(root.subtree)")
        for (index, domain) in cluster.domains.enumerated() {
            let devices = domain.devices
            require(domain.subtree.lowerBound == Int32(index), "domain \(index) subtree \(domain.subtree)")
            require(
                domain.accelerators == acceleratorsBefore[Int(devices.lowerBound)]..<acceleratorsBefore[Int(devices.upperBound)],
                "domain \(index) accelerators \(domain.accelerators) do not match its devices \(devices)")
            guard index > 0 else { continue }
            let parent = cluster.domains[Int(domain.parent)]
            require(domain.parent < Int32(index), "domain \(index) before its parent")
            require(parent.subtree.contains(Int32(index)), "domain \(index) outside its parent's subtree")
            require(
                parent.devices.lowerBound <= devices.lowerBound && devices.upperBound <= parent.devices.upperBound,
                "domain \(index) devices outside its parent's")
            require(cluster.children(of: domain.parent).contains(Int32(index)), "domain \(index) not a child of its parent")
        }
        for level in cluster.levels {
            require(!cluster.domains(at: level).isEmpty, "level \(level.name) has no domains")
        }
        // Links: valid ends, no self-links, usable numbers; every arc listed at its tail.
        for (index, link) in cluster.links.enumerated() {
            require(link.a >= 0 && link.a < deviceCount && link.b >= 0 && link.b < deviceCount, "link \(index) ends")
            require(link.a != link.b, "link \(index) is a self-link")
            require(link.bandwidth > 0 && link.bandwidth.isFinite, "link \(index) bandwidth \(link.bandwidth)")
            require(link.latency >= 0 && link.latency.isFinite, "link \(index) latency \(link.latency)")
        }
        var arcs = 0
        var reached = [Bool](repeating: false, count: cluster.devices.count)
        var stack: [Int32] = [0]
        reached[0] = true
        for device in 0..<deviceCount {
            arcs += cluster.outgoingArcs(of: device).count
            require(cluster.outgoingArcs(of: device).allSatisfy { cluster.tail(of: $0) == device }, "arcs of \(device)")
        }
        require(arcs == 2 * cluster.links.count, "\(arcs) arcs for \(cluster.links.count) links")
        while let device = stack.popLast() {
            for arc in cluster.outgoingArcs(of: device) where !reached[Int(cluster.head(of: arc))] {
                reached[Int(cluster.head(of: arc))] = true
                stack.append(cluster.head(of: arc))
            }
        }
        require(!reached.contains(false), "the graph is not connected")
        return problems
    }
}
