import Foundation
import Testing
import Topology

#if canImport(FoundationXML)
    import FoundationXML
#endif

@testable import Reports

/// Topology diagrams: what is drawn expanded and collapsed, annotations, formats, errors, writing.
@Suite struct TopologyDiagramTests {
    /// Two hosts under one ToR: 2 × (4 GPUs + NVSwitch + 2 NICs + CPU) + ToR = 17 devices, 32 links.
    /// Each GPU has two parallel NVLinks to the NVSwitch, so 8 links per host merge into 4 edges:
    /// 2 × (4 + 4 + 2) + 4 = 24 edges.
    static let small = """
        <cluster name="small">
          <accelerator-model id="h100" memory="80GB" memory-bandwidth="3.35TB/s"><peak precision="bf16" flops="989TFLOP/s"/></accelerator-model>
          <fabric>
            <host count="2">
              <accelerator id="gpu" model="h100" count="4"/>
              <switch id="nvswitch" role="nvswitch"/>
              <nic id="nic" count="2" speed="400Gb/s" role="roce"/>
              <cpu id="cpu"/>
              <link a="gpu" b="nvswitch" parallel="2" bandwidth="225GB/s" latency="1us" medium="nvlink"/>
              <link a="gpu" b="nic" pattern="block" bandwidth="63GB/s" latency="1us" medium="pcie"/>
              <link a="nic" b="cpu" bandwidth="63GB/s" latency="1us" medium="pcie"/>
            </host>
            <switch id="tor" role="tor"/>
            <link a="host/nic" b="tor" bandwidth="400Gb/s" latency="2us" medium="ethernet"/>
          </fabric>
        </cluster>
        """

    /// Llama 3 sized: 8 pods × 192 racks × 2 hosts × 8 GPUs = 24,576 GPUs, ~70k devices.
    /// Collapsed: aggregation ×16 (1 node), spine ×16 (1), tor (1), host: 8 GPUs + NVSwitch + 8 NICs
    /// = 20 device nodes; edges: 8 GPU–NVSwitch + 8 GPU–NIC + 8 NIC–ToR + ToR–spine + spine–aggregation = 26.
    static let large = """
        <cluster name="large">
          <accelerator-model id="h100" memory="80GB" memory-bandwidth="3.35TB/s"><peak precision="bf16" flops="989TFLOP/s"/></accelerator-model>
          <template id="node">
            <accelerator id="gpu" model="h100" count="8"/>
            <switch id="nvswitch" role="nvswitch"/>
            <nic id="nic" count="8" speed="400Gb/s" role="roce"/>
            <link a="gpu" b="nvswitch" bandwidth="450GB/s" latency="1us" medium="nvlink"/>
            <link a="gpu" b="nic" pattern="one-to-one" bandwidth="63GB/s" latency="1us" medium="pcie"/>
          </template>
          <fabric>
            <level name="pod" count="8">
              <level name="rack" count="192">
                <switch id="tor" role="tor"/>
                <host template="node" count="2"/>
                <link a="host/nic" b="tor" bandwidth="400Gb/s" latency="2us" medium="ethernet"/>
              </level>
              <switch id="spine" role="spine" count="16"/>
              <link a="rack/tor" b="spine" pattern="all" bandwidth="400Gb/s" latency="2us" medium="ethernet"/>
            </level>
            <switch id="aggregation" role="aggregation" count="16"/>
            <link a="pod/spine" b="aggregation" pattern="all" bandwidth="400Gb/s" latency="2us" medium="ethernet"/>
          </fabric>
        </cluster>
        """

    static func load(_ text: String) throws -> Cluster {
        try ClusterLoader.load(data: Data(text.utf8), name: "inline.xml")
    }

    /// Expanding the large cluster costs about a second in a debug build: do it once.
    static let largeCluster = Result<Cluster, any Error> { try load(large) }

    // MARK: What is drawn

    @Test func smallClusterIsDrawnExpandedWithOneNodePerDevice() throws {
        let cluster = try Self.load(Self.small)
        let diagram = TopologyDiagram(cluster: cluster)
        #expect(!diagram.isCollapsed)
        #expect(diagram.nodeCount == cluster.devices.count)
        let svg = try SVGSummary(diagram.render(.svg))
        #expect(svg.deviceNodes == 17)
        #expect(svg.legendNodes == 1)
        #expect(svg.clusters == 3)  // two hosts and the legend
        #expect(svg.texts.contains("gpu[3]") && svg.texts.contains("h100"))
    }

    @Test func parallelLinksMergeIntoOneEdgeLabelledWithTheirCount() throws {
        let diagram = TopologyDiagram(cluster: try Self.load(Self.small))
        #expect(diagram.edgeCount == 24)
        let svg = try SVGSummary(diagram.render(.svg))
        #expect(svg.edges == 24)
        #expect(svg.texts.contains("225GB/s nvlink ×2"))
        #expect(svg.texts.contains("400Gb/s ethernet"))
    }

    @Test func largeClusterIsCollapsedToOneInstanceOfEachRepeatedPart() throws {
        let cluster = try Self.largeCluster.get()
        let diagram = TopologyDiagram(cluster: cluster)
        #expect(diagram.isCollapsed)
        #expect(diagram.nodeCount == 20)
        #expect(diagram.edgeCount == 26)
        let svg = try SVGSummary(diagram.render(.svg))
        #expect(svg.deviceNodes == 20)
        #expect(svg.edges == 26)
        #expect(svg.clusters == 4)  // pod, rack, host, legend
        #expect(svg.texts.contains("pod ×8 (1 shown)"))
        #expect(svg.texts.contains("rack ×192 (1 shown)"))
        #expect(svg.texts.contains("spine ×16"))
        // Every link is accounted for: 192 racks × 16 spines per pod, 8 pods × 16 × 16 above them,
        // and the two hosts of a rack behind each drawn NIC.
        #expect(svg.texts.contains("400Gb/s ethernet ×3072"))
        #expect(svg.texts.contains("400Gb/s ethernet ×2048"))
        #expect(svg.texts.contains("400Gb/s ethernet ×2"))
    }

    @Test func collapseCanBeForcedEitherWay() throws {
        let small = try Self.load(Self.small)
        let collapsed = TopologyDiagram(cluster: small, options: DiagramOptions(collapse: .collapsed))
        #expect(collapsed.nodeCount == 9)  // the ToR and one host of 8 devices
        #expect(try SVGSummary(collapsed.render(.svg)).texts.contains("host ×2 (1 shown)"))
        let capped = TopologyDiagram(cluster: small, options: DiagramOptions(collapse: .expanded, maximumNodes: 10))
        #expect(throws: DiagramError.tooLarge(nodes: 17, limit: 10)) { try capped.render(.svg) }
    }

    // MARK: Annotations

    @Test func annotationsColourTheDrawnInstance() throws {
        let cluster = try Self.load(Self.small)
        let hosts = cluster.domains.indices.filter { cluster.domains[$0].parent == 0 }.map(Int32.init)
        let gpu = cluster.accelerators[5]
        let options = DiagramOptions(
            collapse: .expanded,
            domainAnnotations: [hosts[1]: DiagramAnnotation(fillColor: "#ff8800", label: "tower 1", tooltip: "tower one")],
            deviceAnnotations: [gpu: DiagramAnnotation(fillColor: "#00aa55", label: "hot")])
        let svg = try SVGSummary(TopologyDiagram(cluster: cluster, options: options).render(.svg))
        #expect(svg.fills.contains("#ff8800"))
        #expect(svg.fills.contains("#00aa55"))
        #expect(svg.texts.contains("tower 1") && svg.texts.contains("hot"))

        // Collapsed, host[1] is not drawn: its annotation lands on host[0], which stands for it.
        var collapsed = options
        collapsed.collapse = .collapsed
        let folded = try SVGSummary(TopologyDiagram(cluster: cluster, options: collapsed).render(.svg))
        #expect(folded.fills.contains("#ff8800"))
        #expect(folded.texts.contains("tower 1"))
    }

    // MARK: Formats and errors

    @Test func binaryFormatsStartWithTheirMagicBytes() throws {
        let diagram = TopologyDiagram(cluster: try Self.load(Self.small))
        #expect(try diagram.render(.png).starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(try diagram.render(.pdf).starts(with: Data("%PDF-".utf8)))
        let dot = String(decoding: try diagram.render(.dot), as: UTF8.self)
        #expect(dot.hasPrefix("graph topology {"))
        #expect(dot.contains("cluster_domain1"))
    }

    @Test func formatFollowsTheExtensionAndUnknownOnesAreRefused() throws {
        #expect(try DiagramFormat(path: "out/a.SVG") == .svg)
        #expect(try DiagramFormat(path: "a.dot") == .dot)
        let error = #expect(throws: DiagramError.self) { try DiagramFormat(path: "picture.jpg") }
        #expect(error == .unsupportedFormat(path: "picture.jpg"))
        #expect(error?.description.contains(".svg, .png, .pdf, .dot") == true)
    }

    @Test func graphvizErrorsBecomeDiagramErrors() throws {
        let error = #expect(throws: DiagramError.self) {
            try Graphviz.render(format: "svg") { (graph: GraphWriter) throws(DiagramError) in
                let node = try graph.node(in: graph.root, name: "broken")
                try graph.setHTML(node, "label", "<TABLE><TR><TD>unclosed</TD></TR>")
            }
        }
        guard case .graphviz(_, let messages) = error else {
            Issue.record("expected a Graphviz error, got \(String(describing: error))")
            return
        }
        #expect(messages.contains { $0.contains("mismatched tag") })
    }

    @Test func concurrentRendersAreSerialised() async throws {
        let diagram = TopologyDiagram(cluster: try Self.load(Self.small))
        let sizes = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { group.addTask { try diagram.render(.svg).count } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sizes.count == 4 && Set(sizes).count == 1)
    }

    // MARK: Writing

    @Test func writeIsAtomicAndLeavesNoTemporaryFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("diagram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let diagram = TopologyDiagram(cluster: try Self.load(Self.small))
        let path = directory.appendingPathComponent("small.svg").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try diagram.write(to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["small.svg"])
        #expect(try SVGSummary(Data(contentsOf: URL(fileURLWithPath: path))).deviceNodes == 17)

        #expect(throws: DiagramError.unsupportedFormat(path: directory.appendingPathComponent("small.gif").path)) {
            try diagram.write(to: directory.appendingPathComponent("small.gif").path)
        }
        let missing = directory.appendingPathComponent("no/such/dir/small.png").path
        #expect(throws: DiagramError.self) { try diagram.write(to: missing) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["small.svg"])
    }
}

/// What the tests need from an SVG, read with a real XML parser (so it also proves well-formedness).
private struct SVGSummary {
    var deviceNodes = 0
    var legendNodes = 0
    var edges = 0
    var clusters = 0
    var fills = Set<String>()
    var texts = Set<String>()

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    init(_ data: Data) throws {
        let delegate = Delegate()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        guard parser.parse() else {
            throw Malformed(description: "SVG is not well-formed XML: \(parser.parserError.map(String.init(describing:)) ?? "unknown error")")
        }
        self = delegate.summary
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var summary = SVGSummary(empty: ())
        private var text: String?

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if let fill = attributes["fill"] { summary.fills.insert(fill) }
            if name == "text" { text = "" }
            guard name == "g" else { return }
            let id = attributes["id"] ?? ""
            switch attributes["class"] {
            case "node" where id.hasPrefix("device"): summary.deviceNodes += 1
            case "node" where id.hasPrefix("legend"): summary.legendNodes += 1
            case "edge": summary.edges += 1
            case "cluster": summary.clusters += 1
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text? += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text", let text { summary.texts.insert(text) }
            if name == "text" { text = nil }
        }
    }

    private init(empty: Void) {}
}
