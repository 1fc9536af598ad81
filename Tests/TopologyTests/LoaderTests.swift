import Foundation
import SchemaXML
import Testing

@testable import Topology

/// The shipped presets and their documentation, found from this file's path: the repository root
/// is `../../` from `Tests/TopologyTests/`.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let topologies = root.appendingPathComponent("topologies")

    /// File names of the `*.xml` presets in `topologies/`, sorted.
    static func presetFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: topologies.path)
            .filter { $0.hasSuffix(".xml") }.sorted()
    }

    /// The 24,576-GPU Llama 3 preset, expanded once for every test that needs it (about a second
    /// in a debug build).
    static let llama3 = Result { () throws(XMLDiagnostics) -> Cluster in
        try ClusterLoader.load(path: topologies.appendingPathComponent("llama3-h100-24k.xml").path)
    }
}

/// Helpers for tests that load clusters written inline.
enum Inline {
    /// Wraps `fabric` in a cluster that declares accelerator model `g`; the first line of `fabric`
    /// is line 4 of the document.
    static func cluster(_ fabric: String) -> String {
        """
        <cluster name="t">
          <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
          <fabric>
        \(fabric)
          </fabric>
        </cluster>
        """
    }

    /// Loads `text` as the file `name`, resolving imports in `baseDirectory`.
    static func load(_ text: String, name: String = "inline.xml", baseDirectory: String = ".") throws(XMLDiagnostics) -> Cluster {
        try ClusterLoader.load(data: Data(text.utf8), name: name, baseDirectory: baseDirectory)
    }

    /// The problems loading `text` reports; empty when it loads.
    static func problems(_ text: String, name: String = "inline.xml", baseDirectory: String = ".") -> [XMLDiagnostic] {
        do {
            _ = try load(text, name: name, baseDirectory: baseDirectory)
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// Expects loading `text` to fail with a problem at `inline.xml:line` whose message contains
    /// every fragment.
    static func expectRejected(
        _ text: String, line: Int, _ fragments: String..., sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        let found = problems(text)
        let matched = found.contains { problem in
            problem.location == SchemaXML.SourceLocation(file: "inline.xml", line: line)
                && fragments.allSatisfy { problem.message.contains($0) }
        }
        #expect(matched, "expected inline.xml:\(line) with \(fragments), got: \(found)", sourceLocation: sourceLocation)
    }

    /// Links with `device` at one end.
    static func links(of device: Int32, in cluster: Cluster) -> [Link] {
        cluster.links.filter { $0.a == device || $0.b == device }
    }

    /// Device ids of group `id` (in every domain), in order.
    static func devices(_ id: String, in cluster: Cluster) -> [Int32] {
        cluster.devices.indices.filter { cluster.groups[Int(cluster.devices[$0].group)].id == id }.map(Int32.init)
    }
}

/// Unit parsing: bits vs bytes, binary vs decimal prefixes, durations, FLOP/s, ratios, and the
/// values every unit rejects.
@Suite struct UnitsTests {
    @Test func bandwidthDistinguishesBitsFromBytes() throws {
        #expect(try Units.bandwidth("400Gb/s") == 50e9)
        #expect(try Units.bandwidth("450GB/s") == 450e9)
        #expect(try Units.bandwidth("25Gbps") == 3.125e9)
        #expect(try Units.bandwidth("100Mbps") == 12.5e6)
        #expect(try Units.bandwidth("3.35TB/s") == 3.35e12)
        #expect(try Units.bandwidth("64GiB/s") == 64 * 1_073_741_824)
        #expect(try Units.bandwidth(" 1e3 kB/s ") == 1e6)
    }

    @Test func sizesTakeDecimalAndBinaryPrefixes() throws {
        #expect(try Units.size("80GB") == 80e9)
        #expect(try Units.size("80GiB") == 85_899_345_920)
        #expect(try Units.size("512MiB") == 536_870_912)
        #expect(try Units.size("1024") == 1024)
    }

    @Test func durations() throws {
        #expect(try Units.duration("2us") == 2e-6)
        #expect(try Units.duration("2µs") == 2e-6)
        #expect(try abs(Units.duration("500ns") - 500e-9) < 1e-21)
        #expect(try abs(Units.duration("1.5ms") - 1.5e-3) < 1e-18)
        #expect(try Units.duration("1s") == 1)
        #expect(try Units.duration("0s") == 0)
    }

    @Test func flops() throws {
        #expect(try Units.flops("989TFLOP/s") == 989e12)
        #expect(try Units.flops("989TFLOPS") == 989e12)
        #expect(try Units.flops("2.5PFLOP/s") == 2.5e15)
        #expect(try Units.flops("19.5 TFLOPS") == 19.5e12)
    }

    @Test func ratiosAcceptBothSpellings() throws {
        #expect(try Units.ratio("1:7") == 7)
        #expect(try Units.ratio("7:1") == 7)
        #expect(try Units.ratio("7") == 7)
        #expect(try Units.ratio("1:1") == 1)
        #expect(try Units.ratio("1:1.5") == 1.5)
    }

    @Test(arguments: [
        ("0Gb/s", Units.Kind.bandwidth, "must be greater than zero"),
        ("-400Gb/s", .bandwidth, "must be greater than zero"),
        ("400Gb", .bandwidth, "must end in /s"),
        ("400G/s", .bandwidth, "say b (bits) or B (bytes)"),
        ("400Xb/s", .bandwidth, "unknown prefix 'X'"),
        ("1e309Gb/s", .bandwidth, "expected a number"),
        ("1e300TB/s", .bandwidth, "too large"),
        ("NaN", .bandwidth, "expected a number"),
        ("0GB", .size, "must be greater than zero"),
        ("-1GiB", .size, "must be greater than zero"),
        ("80Gb", .size, "must end in B"),
        ("-1us", .duration, "must not be negative"),
        ("5min", .duration, "use s, ms, us or ns"),
        ("0TFLOPS", .flops, "must be greater than zero"),
        ("989TFLOP", .flops, "FLOP/s or FLOPS"),
        ("1:0.5", .ratio, "at least 1:1"),
        ("0", .ratio, "at least 1:1"),
        ("1:0", .ratio, "positive numbers"),
        ("1:-7", .ratio, "positive numbers"),
        ("2:3", .ratio, "one side must be 1"),
        ("1:2:3", .ratio, "expected 1:N or N"),
    ])
    func rejects(text: String, kind: Units.Kind, reason: String) {
        let parsers: [Units.Kind: (String) throws(Units.ParseError) -> Double] = [
            .bandwidth: Units.bandwidth, .size: Units.size, .duration: Units.duration, .flops: Units.flops,
            .ratio: Units.ratio,
        ]
        do {
            let value = try parsers[kind]!(text)
            Issue.record("'\(text)' parsed as \(value)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.description.hasPrefix("'\(text)' is not a valid \(kind.rawValue): "))
            #expect(error.description.contains(reason), "\(error.description)")
        }
    }

    @Test func unitsReachTheLoadedCluster() throws {
        let cluster = try Inline.load("""
            <cluster name="units">
              <accelerator-model id="g" memory="80GiB" memory-bandwidth="3.35TB/s">
                <peak precision="bf16" flops="989TFLOP/s"/><peak precision="fp32" flops="67TFLOPS"/>
              </accelerator-model>
              <fabric>
                <accelerator id="gpu" model="g" count="2"/>
                <nic id="nic" speed="400Gb/s"/>
                <link a="gpu" b="nic" bandwidth="64GiB/s" latency="1.5us" medium="pcie"/>
              </fabric>
            </cluster>
            """)
        let model = try #require(cluster.models["g"])
        #expect(model.memoryBytes == 85_899_345_920)
        #expect(model.memoryBandwidth == 3.35e12)
        #expect(model.peak(.bf16) == 989e12)
        #expect(model.peak(.fp8) == 989e12)  // falls back to the 16-bit figure
        #expect(model.peak(.tf32) == 67e12)
        #expect(model.peak(.fp64) == nil)
        #expect(cluster.links.map(\.bandwidth) == [68_719_476_736, 68_719_476_736])
        #expect(cluster.links.allSatisfy { $0.latency == 1.5e-6 && $0.medium == "pcie" })
        #expect(cluster.groups.first { $0.id == "nic" }?.speed == 50e9)
    }
}

/// Problems the XML Schema catches, reported by libxml2 with file:line and the offending value.
@Suite struct SchemaErrorTests {
    @Test func malformedBandwidth() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <link a="gpu" b="s" bandwidth="400Gbps-ish"/>
            """), line: 6, "Element 'link', attribute 'bandwidth'", "'400Gbps-ish'")
    }

    @Test func unknownElement() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <widget id="w"/>
            """), line: 5, "Element 'widget'", "not expected")
    }

    @Test func missingRequiredAttribute() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" count="2"/>
            """), line: 4, "Element 'accelerator'", "'model' is required")
    }

    @Test func nonPositiveCount() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="0"/>
            """), line: 4, "'count'", "'0'")
    }

    @Test func unknownPattern() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s" count="2"/>
                <link a="gpu" b="s" pattern="zigzag" bandwidth="1GB/s"/>
            """), line: 6, "'pattern'", "'zigzag'")
    }

    @Test func emptyFile() {
        #expect(Inline.problems("", name: "inline.xml").map(\.description) == ["inline.xml: the file is empty"])
    }

    @Test func notXML() {
        let problems = Inline.problems("hello, not xml\n")
        #expect(problems.first?.location == SchemaXML.SourceLocation(file: "inline.xml", line: 1))
        #expect(problems.first?.message.contains("Start tag expected") == true)
    }

    @Test func wrongRootElement() {
        let problems = Inline.problems("<workload name=\"w\"/>")
        #expect(problems.first?.location == SchemaXML.SourceLocation(file: "inline.xml", line: 1))
        #expect(problems.first?.message.contains("workload") == true)
    }
}

/// Problems only the loader and the expansion can see, each at the line of the element at fault.
@Suite struct SemanticErrorTests {
    @Test func sharedCoresAreACountOfTheWholeCluster() throws {
        let plain = Inline.cluster(#"<accelerator id="gpu" model="g"/>"#)
        #expect(try Inline.load(plain).sharedCores == nil)
        let shared = plain.replacingOccurrences(of: #"<cluster name="t">"#, with: #"<cluster name="t" shared-cores="2">"#)
        #expect(try Inline.load(shared).sharedCores == 2)
        for bad in ["0", "two"] {
            let text = plain.replacingOccurrences(of: #"<cluster name="t">"#, with: #"<cluster name="t" shared-cores="\#(bad)">"#)
            Inline.expectRejected(text, line: 1, "shared-cores")
        }
    }

    @Test func unitValueAfterTheSchema() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <link a="gpu" b="s" bandwidth="-400Gb/s"/>
            """), line: 6, "attribute 'bandwidth': '-400Gb/s' is not a valid bandwidth: must be greater than zero")
    }

    @Test func duplicateIDs() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="gpu"/>
            """), line: 5, "duplicate id 'gpu' in this cluster (first declared at inline.xml:4)")
    }

    @Test func duplicateDefinitions() {
        let text = """
            <cluster name="t">
              <accelerator-model id="g" memory="1GB" memory-bandwidth="1GB/s"><peak precision="bf16" flops="1TFLOPS"/></accelerator-model>
              <accelerator-model id="g" memory="1GB" memory-bandwidth="1GB/s"><peak precision="bf16" flops="1TFLOPS"/></accelerator-model>
              <template id="box"><accelerator id="gpu" model="g"/></template>
              <template id="box"><accelerator id="gpu" model="g"/></template>
              <fabric><host template="box"/></fabric>
            </cluster>
            """
        Inline.expectRejected(text, line: 3, "accelerator-model 'g' is defined twice (first at inline.xml:2)")
        Inline.expectRejected(text, line: 5, "template 'box' is defined twice")
    }

    @Test func unknownTemplate() {
        Inline.expectRejected(Inline.cluster("""
                <host template="nope" count="2"/>
            """), line: 4, "unknown template 'nope'")
    }

    @Test func unknownModel() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="h100" count="2"/>
            """), line: 4, "unknown accelerator-model 'h100'", "(known: g)")
    }

    @Test func unknownEndpoints() {
        let text = Inline.cluster("""
                <level name="rack" count="2">
                  <accelerator id="gpu" model="g" count="2"/>
                  <switch id="tor"/>
                  <link a="gpu" b="tor" bandwidth="1GB/s"/>
                </level>
                <switch id="spine"/>
                <link a="rack/tr" b="spine" bandwidth="1GB/s"/>
                <link a="rak/tor" b="spine" bandwidth="1GB/s"/>
                <link a="rack[2]/tor" b="spine" bandwidth="1GB/s"/>
                <link a="rack/gpu[5]" b="spine" bandwidth="1GB/s"/>
            """)
        Inline.expectRejected(text, line: 10, "'rack/tr': no device or group 'tr' (known: gpu, tor)")
        Inline.expectRejected(text, line: 11, "'rak/tor': no child level 'rak' here (children: rack)")
        Inline.expectRejected(text, line: 12, "rack[2] does not exist (there are 2)")
        Inline.expectRejected(text, line: 13, "member 5 does not exist ('gpu' has 2)")
    }

    @Test func patternSizeMismatches() {
        let text = Inline.cluster("""
                <accelerator id="gpu" model="g" count="4"/>
                <switch id="s" count="3"/>
                <link a="gpu" b="s" pattern="one-to-one" bandwidth="1GB/s"/>
                <link a="gpu" b="s" pattern="block" bandwidth="1GB/s"/>
                <link a="gpu" b="s" bandwidth="1GB/s"/>
            """)
        Inline.expectRejected(text, line: 6, "one-to-one needs equal sizes, but gpu has 4 and s has 3")
        Inline.expectRejected(text, line: 7, "block needs one size to divide the other")
        Inline.expectRejected(text, line: 8, "the link gpu (4 devices) – s (3 devices) needs a pattern")
    }

    @Test func selfLinks() {
        let text = Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <link a="gpu" b="s" bandwidth="1GB/s"/>
                <link a="s" b="s" bandwidth="1GB/s"/>
                <link a="gpu[1]" b="gpu[1]" bandwidth="1GB/s"/>
                <link a="gpu" b="gpu" pattern="one-to-one" bandwidth="1GB/s"/>
            """)
        Inline.expectRejected(text, line: 7, "the link s – s would connect a device to itself")
        Inline.expectRejected(text, line: 8, "the link gpu[1] – gpu[1] would connect a device to itself")
        Inline.expectRejected(text, line: 9, "the link gpu – gpu would connect a device to itself")
    }

    @Test func capacityMustBeGivenOnce() {
        let text = Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <link a="gpu" b="s"/>
                <link a="gpu" b="s" bandwidth="1GB/s" oversubscription="1:1"/>
            """)
        Inline.expectRejected(text, line: 6, "the link gpu – s needs a bandwidth (e.g. bandwidth=\"400Gb/s\") or an oversubscription")
        Inline.expectRejected(text, line: 7, "either bandwidth or oversubscription, not both")
    }

    static let racks = """
            <level name="rack" count="2">
              <accelerator id="gpu" model="g" count="2"/>
              <switch id="tor"/>
              <link a="gpu" b="tor" bandwidth="1GB/s"/>
            </level>
            <switch id="spine" count="2"/>
        """

    @Test func oversubscriptionBelowOne() {
        Inline.expectRejected(Inline.cluster(Self.racks + """

                <link a="rack/tor" b="spine" pattern="all" oversubscription="1:0.5"/>
            """), line: 10, "'1:0.5' is not a valid ratio: oversubscription must be at least 1:1")
    }

    @Test func oversubscriptionNeedsOneChildEnd() {
        Inline.expectRejected(Inline.cluster(Self.racks + """

                <link a="rack/tor" b="spine" pattern="all" bandwidth="1GB/s"/>
                <link a="spine[0]" b="spine[1]" oversubscription="1:2"/>
            """), line: 11, "oversubscription needs exactly one end to name a child's devices")
    }

    @Test func oversubscriptionNeedsDownlinks() {
        Inline.expectRejected(Inline.cluster("""
                <level name="rack" count="2">
                  <accelerator id="gpu" model="g" count="2"/>
                  <switch id="tor"/>
                  <switch id="idle"/>
                  <link a="gpu" b="tor" bandwidth="1GB/s"/>
                </level>
                <switch id="spine"/>
                <link a="rack/idle" b="spine" oversubscription="1:2"/>
                <link a="rack/tor" b="spine" bandwidth="1GB/s"/>
            """), line: 11, "oversubscription 1:2 of 'idle' needs links below it")
    }

    @Test func absurdCountsFailBeforeAllocating() {
        let start = ContinuousClock.now
        Inline.expectRejected(Inline.cluster("""
                <host count="1000000000000">
                  <accelerator id="gpu" model="g"/>
                </host>
            """), line: 4, "attribute 'count': 1000000000000 is absurdly large (at most 4000000)")
        // Each count is allowed, their product (5·10^12 devices) is not.
        Inline.expectRejected(Inline.cluster("""
                <level name="pod" count="1000000">
                  <host count="1000000">
                    <accelerator id="gpu" model="g" count="4"/>
                    <switch id="s"/>
                    <link a="gpu" b="s" bandwidth="1GB/s"/>
                  </host>
                </level>
            """), line: 3, "the cluster would have 5000000000000 devices, more than the 4000000 supported")
        // Allowed device counts, 10^8 links from one pattern="all".
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="10000"/>
                <switch id="s" count="10000"/>
                <link a="gpu" b="s" pattern="all" bandwidth="1GB/s"/>
            """), line: 3, "the cluster would have 100000000 links, more than the 40000000 supported")
        // Loose on purpose: allocating any of these would take minutes or run out of memory.
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func disconnectedDevices() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <nic id="n" count="5"/>
                <link a="gpu" b="s" bandwidth="1GB/s"/>
            """), line: 6, "nic 'n' is not connected to the rest of the cluster (n[0], n[1], n[2] and 2 more); add a <link> to it")
    }

    @Test func noAccelerators() {
        Inline.expectRejected(Inline.cluster("""
                <switch id="s" count="2"/>
                <link a="s[0]" b="s[1]" bandwidth="1GB/s"/>
            """), line: 3, "the cluster has no accelerators")
    }

    @Test func noFabric() {
        Inline.expectRejected("""
            <cluster name="t">
              <template id="box"><cpu id="cpu"/></template>
            </cluster>
            """, line: 1, "the cluster has no <fabric>")
    }

    @Test func levelStructure() {
        let text = """
            <cluster name="t">
              <accelerator-model id="g" memory="1GB" memory-bandwidth="1GB/s"><peak precision="bf16" flops="1TFLOPS"/></accelerator-model>
              <template id="box"><accelerator id="gpu" model="g"/></template>
              <template id="loop"><host template="loop"/></template>
              <fabric>
                <host name="rack"/>
                <level count="2"/>
                <level name="rack"><level name="rack"/></level>
                <host template="box"><cpu id="cpu"/></host>
                <level name="pod" template="loop"/>
              </fabric>
            </cluster>
            """
        Inline.expectRejected(text, line: 6, "<host> is the level named 'host'; use <level name=\"rack\">")
        Inline.expectRejected(text, line: 7, "<level> needs a name attribute")
        Inline.expectRejected(text, line: 8, "level 'rack' is nested inside a level of the same name")
        Inline.expectRejected(text, line: 9, "a <host> with template=\"box\" cannot also have its own content")
        Inline.expectRejected(text, line: 4, "template 'loop' contains itself")
    }

    @Test func emptyGroup() {
        Inline.expectRejected(Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <group id="none" members=""/>
            """), line: 5, "group 'none' has no members")
    }

    /// A group whose members are all wrong is empty; a pattern over it must not divide by zero.
    @Test func groupMembersMustBeDevices() {
        let text = Inline.cluster("""
                <accelerator id="gpu" model="g" count="2"/>
                <switch id="s"/>
                <group id="bad" members="nope"/>
                <link a="gpu" b="s" bandwidth="1GB/s"/>
                <link a="gpu" b="bad" pattern="round-robin" bandwidth="1GB/s"/>
            """)
        Inline.expectRejected(text, line: 6, "group 'bad' names 'nope', which is not a device of this cluster")
        Inline.expectRejected(text, line: 8, "the link gpu – bad has an end that names no devices")
    }

    @Test func everyProblemIsReportedInOnePass() {
        let problems = Inline.problems(Inline.cluster("""
                <accelerator id="gpu" model="nope" count="2"/>
                <switch id="gpu"/>
                <link a="gpu" b="s" bandwidth="0GB/s"/>
            """))
        #expect(problems.map(\.location.line) == [4, 5, 6])
    }
}

/// `<import href>`: shared templates and models, relative paths, cycles.
@Suite struct ImportTests {
    /// A fresh directory holding `files` (name → contents).
    static func directory(_ files: [String: String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-import-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        }
        return path
    }

    static let parts = """
        <cluster name="parts">
          <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="100TFLOP/s"/></accelerator-model>
          <template id="box">
            <accelerator id="gpu" model="g" count="4"/>
            <nic id="nic"/>
            <link a="gpu" b="nic" bandwidth="32GB/s"/>
          </template>
        </cluster>
        """

    @Test func importedTemplatesAndModelsAreUsable() throws {
        let directory = try Self.directory(["parts.xml": Self.parts])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = """
            <cluster name="user">
              <import href="parts.xml"/>
              <fabric>
                <host template="box" count="3"/>
                <switch id="tor"/>
                <link a="host/nic" b="tor" bandwidth="100Gb/s"/>
              </fabric>
            </cluster>
            """
        let cluster = try Inline.load(text, name: "user.xml", baseDirectory: directory)
        #expect(cluster.accelerators.count == 12)
        #expect(cluster.models.keys.sorted() == ["g"])
        #expect(cluster.domains.filter { $0.template == "box" }.count == 3)
    }

    @Test func missingImport() {
        let problems = Inline.problems("<cluster name=\"t\">\n  <import href=\"nowhere.xml\"/>\n</cluster>", baseDirectory: "/nonexistent")
        #expect(problems.contains { $0.location.file == "/nonexistent/nowhere.xml" && $0.message.contains("cannot read the file") })
    }

    @Test func importCyclesAreReportedWhereTheyClose() throws {
        let a = "<cluster name=\"a\">\n  <import href=\"b.xml\"/>\n</cluster>\n"
        let b = "<cluster name=\"b\">\n  <import href=\"a.xml\"/>\n</cluster>\n"
        let directory = try Self.directory(["a.xml": a, "b.xml": b])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let expected = XMLDiagnostic(
            location: SchemaXML.SourceLocation(file: directory + "/b.xml", line: 2),
            message: "import cycle: 'a.xml' is already being imported")
        do {
            _ = try ClusterLoader.load(path: directory + "/a.xml")
            Issue.record("an import cycle loaded")
        } catch {
            #expect(error.diagnostics.contains(expected), "\(error)")
        }
        // In memory, `name` and `baseDirectory` together say which file the text stands for.
        #expect(Inline.problems(a, name: "a.xml", baseDirectory: directory).contains(expected))
        Inline.expectRejected(
            "<cluster name=\"s\">\n  <import href=\"inline.xml\"/>\n</cluster>\n", line: 2,
            "import cycle: 'inline.xml' is already being imported")
    }
}

/// The features of the format: patterns, parallel links, aliases, `as`, templates, forwarding,
/// and the oversubscription arithmetic.
@Suite struct ExpansionTests {
    /// Member pairs (a index, b index) that a pattern produces between `gpu` (count a) and `s` (count b).
    static func pairs(_ pattern: String?, _ a: Int, _ b: Int) throws -> [[Int32]] {
        let attribute = pattern.map { " pattern=\"\($0)\"" } ?? ""
        let cluster = try Inline.load(Inline.cluster("""
                <accelerator id="gpu" model="g" count="\(a)"/>
                <switch id="s" count="\(b)"/>
                <switch id="hub"/>
                <link a="gpu" b="s"\(attribute) bandwidth="1GB/s"/>
                <link a="s" b="hub" bandwidth="1GB/s"/>
            """))
        let first = Int32(a)
        return cluster.links.filter { cluster.devices[Int($0.a)].kind == .accelerator }.map { [$0.a, $0.b - first] }
    }

    @Test func patterns() throws {
        #expect(try Self.pairs("one-to-one", 3, 3) == [[0, 0], [1, 1], [2, 2]])
        #expect(try Self.pairs("block", 4, 2) == [[0, 0], [1, 0], [2, 1], [3, 1]])
        #expect(try Self.pairs("round-robin", 4, 2) == [[0, 0], [1, 1], [2, 0], [3, 1]])
        #expect(try Self.pairs("all", 2, 2) == [[0, 0], [0, 1], [1, 0], [1, 1]])
        // The default: `all` when one side has a single member.
        #expect(try Self.pairs(nil, 3, 1) == [[0, 0], [1, 0], [2, 0]])
    }

    @Test func aGroupLinkedWithItselfIsAFullMesh() throws {
        let cluster = try Inline.load(Inline.cluster("""
                <accelerator id="gpu" model="g" count="4"/>
                <link a="gpu" b="gpu" bandwidth="1GB/s" parallel="2"/>
            """))
        #expect(cluster.links.count == 12)  // 6 pairs, 2 links each
        #expect(Set(cluster.links.map { [$0.a, $0.b] }).count == 6)
    }

    @Test func parallelLinksAndExplicitMembers() throws {
        let cluster = try Inline.load(Inline.cluster("""
                <accelerator id="gpu" model="g" count="3"/>
                <link a="gpu[0]" b="gpu[1]" parallel="2" bandwidth="25GB/s"/>
                <link a="gpu[1]" b="gpu[2]" bandwidth="25GB/s"/>
            """))
        #expect(cluster.links.map { [$0.a, $0.b] } == [[0, 1], [0, 1], [1, 2]])
    }

    @Test func aliasesAsAndForwarding() throws {
        let cluster = try Inline.load(Inline.cluster("""
                <host as="box" count="2">
                  <accelerator id="gpu" model="g" count="2" forwards="true"/>
                  <nic id="eth0"/>
                  <nic id="eth1"/>
                  <group id="nic" members="eth0 eth1"/>
                  <link a="gpu" b="nic" pattern="one-to-one" bandwidth="10GB/s"/>
                </host>
                <switch id="tor"/>
                <link a="box/nic" b="tor" bandwidth="100Gb/s"/>
                <link a="box[1]/eth0" b="tor" bandwidth="100Gb/s"/>
            """))
        #expect(cluster.accelerators.count == 4)
        let host = try #require(cluster.level(named: "host"))
        #expect(cluster.domains(at: host).map { cluster.domains[Int($0)].groupName } == ["box", "box"])
        #expect(Inline.links(of: Inline.devices("tor", in: cluster)[0], in: cluster).count == 5)
        #expect(cluster.groups.first { $0.id == "gpu" }?.forwards == true)
        #expect(cluster.groups.first { $0.id == "eth0" }?.forwards == true)
        #expect(cluster.path(of: Inline.devices("eth1", in: cluster)[1]) == "box[1]/eth1")
    }

    @Test func intermediateIndexInAnEndpoint() throws {
        let cluster = try Inline.load(Inline.cluster("""
                <level name="pod" count="2">
                  <level name="rack" count="3">
                    <accelerator id="gpu" model="g"/>
                    <switch id="tor"/>
                    <link a="gpu" b="tor" bandwidth="1GB/s"/>
                  </level>
                  <switch id="spine"/>
                  <link a="rack/tor" b="spine" bandwidth="1GB/s"/>
                </level>
                <switch id="core"/>
                <link a="pod/rack[0]/tor" b="core" bandwidth="1GB/s"/>
            """))
        let core = Inline.devices("core", in: cluster)[0]
        let attached = Inline.links(of: core, in: cluster).map { cluster.path(of: $0.a == core ? $0.b : $0.a) }
        #expect(attached == ["pod[0]/rack[0]/tor", "pod[1]/rack[0]/tor"])
    }

    /// Per-link bandwidth = capacity attached to the named ports inside one child / ratio / links
    /// leaving that child.
    @Test func oversubscriptionArithmetic() throws {
        func uplinks(_ ratio: String) throws -> [Double] {
            let cluster = try Inline.load(Inline.cluster("""
                    <level name="rack" count="2">
                      <accelerator id="gpu" model="g" count="4"/>
                      <switch id="tor"/>
                      <link a="gpu" b="tor" bandwidth="100Gb/s"/>
                    </level>
                    <switch id="spine" count="2"/>
                    <link a="rack/tor" b="spine" pattern="all" parallel="2" oversubscription="\(ratio)"/>
                """))
            let spines = Set(Inline.devices("spine", in: cluster))
            return cluster.links.filter { spines.contains($0.b) }.map(\.bandwidth)
        }
        // 4 × 12.5 GB/s below each ToR; 2 spines × 2 parallel = 4 links leave each rack.
        #expect(try uplinks("1:1") == Array(repeating: 12.5e9, count: 8))
        #expect(try uplinks("1:2") == Array(repeating: 6.25e9, count: 8))
        #expect(try uplinks("2:1") == Array(repeating: 6.25e9, count: 8))
        #expect(try uplinks("2") == Array(repeating: 6.25e9, count: 8))
    }

    /// The annotated example in topologies/README.md loads and has the counts the text gives.
    @Test func readmeExample() throws {
        let readme = try String(contentsOf: Repository.topologies.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```xml\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let cluster = try Inline.load(String(readme[start.upperBound..<end.lowerBound]), name: "README.md")
        #expect(cluster.accelerators.count == 16)
        #expect(cluster.devices.count == 44)
        #expect(cluster.links.count == 60)
        let spines = Set(Inline.devices("spine", in: cluster))
        #expect(cluster.links.filter { spines.contains($0.b) }.map(\.bandwidth) == Array(repeating: 25e9, count: 4))
    }
}

/// The shipped presets: every one loads and expands to the sizes its header comment states.
@Suite struct PresetTests {
    struct Expected: Sendable, CustomTestStringConvertible {
        var file: String
        var gpus: Int
        var hosts: Int
        var devices: Int
        var links: Int
        /// Instances of the levels between host and cluster.
        var levels: [String: Int]
        var testDescription: String { file }
    }

    static let expected = [
        Expected(file: "dgx1-v100-128.xml", gpus: 128, hosts: 16, devices: 294, links: 800, levels: ["rack": 4]),
        Expected(file: "gb200-nvl72-576.xml", gpus: 576, hosts: 144, devices: 1488, links: 2560, levels: ["rack": 8]),
        Expected(file: "grand-teton-h100-512.xml", gpus: 512, hosts: 64, devices: 1520, links: 2880, levels: ["rack": 32]),
        Expected(file: "llama3-h100-24k.xml", gpus: 24_576, hosts: 3072, devices: 72_336, links: 140_288,
                 levels: ["rack": 1536, "pod": 8]),
        Expected(file: "zionex-a100-128.xml", gpus: 128, hosts: 16, devices: 412, links: 768, levels: ["rack": 4]),
    ]

    static func load(_ file: String) throws -> Cluster {
        if file == "llama3-h100-24k.xml" { return try Repository.llama3.get() }
        return try ClusterLoader.load(path: Repository.topologies.appendingPathComponent(file).path)
    }

    @Test func everyPresetIsListedHere() throws {
        #expect(try Repository.presetFiles() == Self.expected.map(\.file))
    }

    @Test(arguments: expected)
    func expansionCounts(_ expected: Expected) throws {
        let cluster = try Self.load(expected.file)
        #expect(cluster.accelerators.count == expected.gpus)
        #expect(cluster.devices.count == expected.devices)
        #expect(cluster.links.count == expected.links)
        let host = try #require(cluster.level(named: "host"))
        #expect(cluster.domains(at: host).count == expected.hosts)
        #expect(Set(cluster.levels.map(\.name)) == Set(["cluster", "host"] + expected.levels.keys))
        for (name, count) in expected.levels {
            let level = try #require(cluster.level(named: name))
            #expect(cluster.domains(at: level).count == count, "\(name)")
        }
        #expect(cluster.domains(at: host).allSatisfy { cluster.acceleratorRanks(in: $0).count == expected.gpus / expected.hosts })
        #expect(cluster.accelerators.allSatisfy { cluster.model(of: $0) != nil })
        #expect(cluster.links.allSatisfy { $0.bandwidth > 0 && $0.bandwidth.isFinite })
    }

    /// The README's preset table gives each preset's GPU count.
    @Test(arguments: expected)
    func documented(_ expected: Expected) throws {
        let readme = try String(contentsOf: Repository.topologies.appendingPathComponent("README.md"), encoding: .utf8)
        let row = readme.split(separator: "\n").first { $0.hasPrefix("| `\(expected.file)`") }
        let digits = String(expected.gpus)
        let gpus = digits.count > 3 ? digits.dropLast(3) + "," + digits.suffix(3) : digits
        #expect(row?.contains("| \(gpus) |") == true, "\(String(describing: row))")
    }

    /// Pod 0's links to the aggregation layer carry one seventh of what its racks feed its spines.
    @Test func llama3PodsAreOversubscribedOneToSeven() throws {
        let cluster = try Repository.llama3.get()
        let pod = try #require(cluster.level(named: "pod"))
        let first = cluster.domains[Int(cluster.domains(at: pod)[0])].devices
        let spines = Set(Inline.devices("spine", in: cluster).filter { first.contains($0) })
        #expect(spines.count == 16)
        var up = 0.0
        var down = 0.0
        var uplinks = 0
        for link in cluster.links where spines.contains(link.a) || spines.contains(link.b) {
            if first.contains(link.a) && first.contains(link.b) {
                down += link.bandwidth
            } else {
                up += link.bandwidth
                uplinks += 1
            }
        }
        #expect(uplinks == 256)
        #expect(down == 3072 * 50e9)  // 192 racks × 16 uplinks × 400 Gb/s
        #expect(abs(up * 7 - down) < 1e-6 * down)
        // Inside a pod, every ToR's uplinks match its 16 × 400 Gb/s of NICs (1:1).
        let tor = Inline.devices("tor", in: cluster)[0]
        let torLinks = Inline.links(of: tor, in: cluster)
        #expect(torLinks.count == 32)
        #expect(torLinks.allSatisfy { $0.bandwidth == 50e9 })
    }

    @Test func llama3Hierarchy() throws {
        let cluster = try Repository.llama3.get()
        let host = try #require(cluster.level(named: "host"))
        let rack = try #require(cluster.level(named: "rack"))
        let pod = try #require(cluster.level(named: "pod"))
        let gpu = { (rank: Int32) in cluster.accelerators[Int(rank)] }
        #expect(cluster.levelsCrossed(between: gpu(0), and: gpu(7)).isEmpty)
        #expect(cluster.levelsCrossed(between: gpu(0), and: gpu(8)).map(\.name) == ["host"])
        #expect(cluster.levelsCrossed(between: gpu(0), and: gpu(16)).map(\.name) == ["host", "rack"])
        #expect(cluster.levelsCrossed(between: gpu(0), and: gpu(3072)).map(\.name) == ["host", "rack", "pod"])

        let rank: Int32 = 3 * 3072 + 5 * 16 + 8 + 5  // pod 3, rack 5, host 1, gpu 5
        #expect(cluster.path(of: gpu(rank)) == "pod[3]/rack[5]/host[1]/gpu[5]")
        #expect(cluster.enclosingDomain(of: gpu(rank), at: pod) == cluster.domains(at: pod)[3])
        #expect(cluster.enclosingDomain(of: gpu(rank), at: rack) == cluster.domains(at: rack)[3 * 192 + 5])
        #expect(cluster.localRank(of: rank, at: host) == 5)
        #expect(cluster.localRank(of: rank, at: rack) == 13)
        let rankInPod: Int32 = 5 * 16 + 13
        #expect(cluster.localRank(of: rank, at: pod) == rankInPod)

        let hostPeers = cluster.peers(of: rank, at: host)
        #expect(hostPeers.count == 3071)
        #expect(hostPeers.allSatisfy { $0 % 8 == 5 } && !hostPeers.contains(rank))
        let podPeers: [Int32] = [0, 1, 2, 4, 5, 6, 7].map { $0 * 3072 + 93 }
        #expect(cluster.peers(of: rank, at: pod) == podPeers)

        // Switches sit above the hosts: a spine has a pod but no rack or host.
        let spine = Inline.devices("spine", in: cluster)[17]
        #expect(cluster.enclosingDomain(of: spine, at: host) == nil)
        #expect(cluster.enclosingDomain(of: spine, at: pod) == cluster.domains(at: pod)[1])
        #expect(cluster.enclosingDomain(of: Inline.devices("aggregation", in: cluster)[0], at: pod) == nil)
    }

    /// The hybrid cube-mesh: 6 NVLinks per GPU, 24 per host, and GPU pairs such as 0–5 not linked.
    @Test func dgx1CubeMesh() throws {
        let cluster = try Self.load("dgx1-v100-128.xml")
        let nvlinks = cluster.links.filter { $0.medium == "nvlink" }
        #expect(nvlinks.count == 16 * 24)
        for gpu in cluster.accelerators {
            #expect(nvlinks.filter { $0.a == gpu || $0.b == gpu }.count == 6)
        }
        let host0 = Set(nvlinks.prefix(24).map { [cluster.rank(of: $0.a) ?? -1, cluster.rank(of: $0.b) ?? -1] })
        #expect(host0.count == 16)
        #expect(host0.contains([0, 3]) && host0.contains([6, 7]))
        #expect(!host0.contains([0, 5]) && !host0.contains([1, 4]) && !host0.contains([2, 7]) && !host0.contains([3, 6]))
        #expect(nvlinks.allSatisfy { $0.bandwidth == 25e9 })
        #expect(cluster.models["V100-SXM2-32GB"]?.peak(.fp16) == 125e12)
    }

    /// Each NVL72 rack is one NVLink domain: all 72 GPUs on the rack's switch at 900 GB/s.
    @Test func gb200RackIsOneNVLinkDomain() throws {
        let cluster = try Self.load("gb200-nvl72-576.xml")
        let rack = try #require(cluster.level(named: "rack"))
        let switches = Inline.devices("nvswitch", in: cluster)
        #expect(switches.count == 8)
        for (index, nvswitch) in switches.enumerated() {
            let attached = Inline.links(of: nvswitch, in: cluster)
            #expect(attached.count == 72)
            #expect(attached.allSatisfy { $0.bandwidth == 900e9 })
            #expect(attached.allSatisfy { cluster.enclosingDomain(of: $0.a, at: rack) == cluster.domains(at: rack)[index] })
        }
        #expect(cluster.levelsCrossed(between: cluster.accelerators[0], and: cluster.accelerators[71]).map(\.name) == ["host"])
        let summary = try #require(cluster.levelSummaries().first { $0.level.name == "rack" })
        #expect(summary.oversubscription == 1)
        #expect(summary.uplinkBandwidth == 72 * 100e9)
    }

    /// ZionEX: one 200 Gb/s NIC per GPU and a non-blocking leaf-spine.
    @Test func zionexIsNonBlocking() throws {
        let cluster = try Self.load("zionex-a100-128.xml")
        #expect(Inline.devices("nic", in: cluster).count == 128)
        let spines = Set(Inline.devices("spine", in: cluster))
        for leaf in Inline.devices("leaf", in: cluster) {
            let attached = Inline.links(of: leaf, in: cluster)
            #expect(attached.count == 64)
            #expect(attached.filter { spines.contains($0.b) }.count == 32)
            #expect(attached.allSatisfy { $0.bandwidth == 25e9 })
        }
        #expect(cluster.models["A100-SXM4-40GB"]?.peak(.bf16) == 312e12)
    }
}
