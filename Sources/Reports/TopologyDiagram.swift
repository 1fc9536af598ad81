import CGraphviz
import Foundation
import Topology

/// Output formats of a topology diagram.
public enum DiagramFormat: String, CaseIterable, Sendable {
    case svg, png, pdf
    /// Graphviz source after layout: positions included, so `neato -n` redraws it unchanged.
    case dot

    /// The format named by the extension of `path` (case-insensitive).
    /// - Throws: `DiagramError.unsupportedFormat` listing the supported extensions.
    public init(path: String) throws(DiagramError) {
        let suffix = (path as NSString).pathExtension.lowercased()
        guard let format = DiagramFormat(rawValue: suffix) else { throw .unsupportedFormat(path: path) }
        self = format
    }
}

/// Extra drawing for one domain or device, so later features (tower placement, link load) can
/// colour their results onto the cluster picture.
public struct DiagramAnnotation: Sendable, Hashable {
    /// Any Graphviz colour: a name (`lightblue`) or `#rrggbb`. An unknown name draws black.
    public var fillColor: String?
    /// An extra label line, e.g. "tower 3".
    public var label: String?
    /// Extra hover text (SVG).
    public var tooltip: String?

    public init(fillColor: String? = nil, label: String? = nil, tooltip: String? = nil) {
        self.fillColor = fillColor
        self.label = label
        self.tooltip = tooltip
    }
}

/// What to draw and how much of it.
public struct DiagramOptions: Sendable {
    public enum Collapse: Sendable {
        /// Expanded up to `automaticExpansionLimit` accelerators, collapsed above.
        case automatic
        /// Every domain and device; for small clusters (see `maximumNodes`).
        case expanded
        /// Every group of repeated sibling domains drawn once ("rack ×192 (1 shown)"), and every run
        /// of more than `deviceCollapseThreshold` identical devices in a drawn domain as one node.
        case collapsed
    }

    /// Clusters with at most this many accelerators are drawn expanded by `.automatic`.
    public static let automaticExpansionLimit = 64
    /// When collapsing, a run of more identical devices than this in one domain (16 spines)
    /// becomes one node; eight GPUs of a host stay eight nodes.
    public static let deviceCollapseThreshold = 8

    public var collapse: Collapse
    /// Keyed by domain id. An annotation on a domain hidden by collapsing lands on the drawn
    /// instance that stands for it; the root domain's colours the background.
    public var domainAnnotations: [Int32: DiagramAnnotation]
    /// Keyed by device id; hidden devices map onto their drawn counterpart like domains do.
    public var deviceAnnotations: [Int32: DiagramAnnotation]
    /// Refuse to lay out more device nodes than this: dot's layout time grows about with the cube
    /// of the nodes (Grand Teton hosts expanded: 1,500 nodes 1 s, 3,000 nodes 4 s, 6,000 nodes 32 s).
    public var maximumNodes: Int

    public init(
        collapse: Collapse = .automatic, domainAnnotations: [Int32: DiagramAnnotation] = [:],
        deviceAnnotations: [Int32: DiagramAnnotation] = [:], maximumNodes: Int = 3_000
    ) {
        self.collapse = collapse
        self.domainAnnotations = domainAnnotations
        self.deviceAnnotations = deviceAnnotations
        self.maximumNodes = maximumNodes
    }
}

/// Why a diagram could not be produced.
public enum DiagramError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The output path's extension names no supported format.
    case unsupportedFormat(path: String)
    /// More device nodes than `DiagramOptions.maximumNodes` would be drawn.
    case tooLarge(nodes: Int, limit: Int)
    /// Graphviz reported an error; `messages` are its own words.
    case graphviz(stage: String, messages: [String])
    /// The file could not be written; nothing was left at `path`'s place.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let path):
            let supported = DiagramFormat.allCases.map { "." + $0.rawValue }.joined(separator: ", ")
            return "cannot tell the diagram format of '\(path)' from its extension; use one of \(supported)"
        case .tooLarge(let nodes, let limit):
            return "the diagram would have \(nodes) device nodes, more than the \(limit) Graphviz can lay out in reasonable time; draw it collapsed"
        case .graphviz(let stage, let messages):
            return "Graphviz failed while \(stage)" + (messages.isEmpty ? "" : ": " + messages.joined(separator: "; "))
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        }
    }
}

/// A picture of a cluster: domains as nested boxes, devices as nodes shaped by kind, links as edges
/// whose width and colour give the bandwidth class. Large clusters are collapsed to one instance of
/// each repeated part so the picture stays readable (the 24,576-GPU Llama 3 cluster draws ~30 nodes).
///
/// Laid out in-process by Graphviz's `dot` through libgvc. Cost: planning is linear in the
/// cluster's devices and links; layout grows quickly with the nodes drawn, hence collapsing.
public struct TopologyDiagram: Sendable {
    let plan: DiagramPlan
    private let maximumNodes: Int

    public init(cluster: Cluster, options: DiagramOptions = .init()) {
        plan = DiagramPlan(cluster: cluster, options: options)
        maximumNodes = options.maximumNodes
    }

    /// Device nodes drawn (a collapsed run of devices counts once; the legend is not counted).
    public var nodeCount: Int { plan.nodes.count }
    /// Edges drawn, each standing for one or more links.
    public var edgeCount: Int { plan.edges.count }
    /// Whether repeated parts are drawn once.
    public var isCollapsed: Bool { plan.collapsed }

    /// Lays the diagram out and renders it.
    /// - Throws: `DiagramError.tooLarge` before any layout work, `.graphviz` with Graphviz's messages.
    public func render(_ format: DiagramFormat) throws(DiagramError) -> Data {
        guard plan.nodes.count <= maximumNodes else { throw .tooLarge(nodes: plan.nodes.count, limit: maximumNodes) }
        return try Graphviz.render(format: format.rawValue) { (graph: GraphWriter) throws(DiagramError) in
            try DiagramStyle.draw(plan, into: graph)
        }
    }

    /// Renders in the format named by `path`'s extension and writes the file atomically: to a
    /// temporary file beside it, then renamed over it, so readers never see half a picture.
    public func write(to path: String) throws(DiagramError) {
        let data = try render(DiagramFormat(path: path))
        let target = URL(fileURLWithPath: path)
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .writeFailed(path: path, reason: error.localizedDescription)
        }
        guard rename(temporary.path, target.path) == 0 else {
            let code = errno
            let reason = strerror(code).map { String(cString: $0) } ?? "error \(code)"
            try? FileManager.default.removeItem(at: temporary)
            throw .writeFailed(path: path, reason: reason)
        }
    }
}

// MARK: - Style

/// How plan elements look: shapes and fills per device kind, pen width and colour per bandwidth class.
enum DiagramStyle {
    struct KindStyle {
        let shape: String
        let style: String
        let fill: String
        let legend: String
    }

    static func style(of kind: DeviceKind) -> KindStyle {
        switch kind {
        case .accelerator: KindStyle(shape: "box", style: "filled", fill: "#d9ead3", legend: "accelerator (box)")
        case .switch: KindStyle(shape: "hexagon", style: "filled", fill: "#e6e6e6", legend: "switch (hexagon)")
        case .nic: KindStyle(shape: "ellipse", style: "filled", fill: "#fff2cc", legend: "NIC (ellipse)")
        case .cpu: KindStyle(shape: "box", style: "rounded,filled", fill: "#cfe2f3", legend: "CPU (rounded box)")
        }
    }

    /// Bandwidth classes on a log scale, roughly ×3 apart, per direction: 200G Ethernet, 400G and
    /// PCIe Gen5, 800G, NVLink 3/4, NVLink 5 fall in different classes.
    static let classBounds: [Double] = [3e9, 10e9, 30e9, 100e9, 300e9, 1e12]
    static let classColors = ["#9e9e9e", "#7cb342", "#00897b", "#1e88e5", "#5e35b1", "#d81b60", "#b71c1c"]
    static let classWidths = [1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0]

    static func bandwidthClass(_ bandwidth: Double) -> Int {
        classBounds.firstIndex { bandwidth < $0 } ?? classBounds.count
    }

    /// Media whose figures are quoted in bytes per second (chip and board interconnects); network
    /// media are quoted in bits, as their line rates are.
    static let byteMedia: Set<String> = ["nvlink", "nvlink-c2c", "pcie", "upi", "qpi", "xgmi", "infinity-fabric", "cxl"]

    static func bandwidthText(_ bundle: DiagramPlan.Bundle) -> String {
        let medium = bundle.medium?.lowercased()
        let figure = medium.map(byteMedia.contains) == true
            ? Units.formatBytes(perSecond: bundle.bandwidth) : Units.formatBits(perSecond: bundle.bandwidth)
        return bundle.medium.map { "\(figure) \($0)" } ?? figure
    }

    /// "×32" for whole counts (omitted for 1); "×1.5 avg" when hidden instances differ from the drawn one.
    static func countText(_ count: Double) -> String {
        let whole = count.rounded()
        if abs(count - whole) < 1e-6 { return whole == 1 ? "" : " ×\(Int(whole))" }
        return " ×" + String(format: "%.2g", count) + " avg"
    }

    /// Legend text of a bandwidth class, in bytes and bits per second.
    static func classRangeText(_ index: Int) -> String {
        func both(_ value: Double) -> (String, String) { (Units.formatBytes(perSecond: value), Units.formatBits(perSecond: value)) }
        if index == 0 { let (bytes, bits) = both(classBounds[0]); return "< \(bytes) (\(bits))" }
        if index == classBounds.count { let (bytes, bits) = both(classBounds[index - 1]); return "≥ \(bytes) (\(bits))" }
        let (low, lowBits) = both(classBounds[index - 1])
        let (high, highBits) = both(classBounds[index])
        return "\(low) – \(high) (\(lowBits) – \(highBits))"
    }

    /// Background of nested boxes alternates so neighbours stay distinguishable.
    static let boxFills = ["#f4f6f9", "#ffffff"]

    static func draw(_ plan: DiagramPlan, into graph: GraphWriter) throws(DiagramError) {
        graph.set(graph.root, [
            ("label", DiagramPlan.escape([plan.title] + (plan.rootAnnotation?.label.map { [$0] } ?? []))),
            ("labelloc", "t"), ("fontsize", "16"), ("fontname", "Helvetica"), ("rankdir", "TB"),
            ("nodesep", "0.18"), ("ranksep", "0.5"), ("pad", "0.2"), ("bgcolor", plan.rootAnnotation?.fillColor ?? "white"),
        ])
        graph.defaults(kind: AGNODE, [("fontname", "Helvetica"), ("fontsize", "10"), ("margin", "0.06,0.03"), ("height", "0.3")])
        graph.defaults(kind: AGEDGE, [("fontname", "Helvetica"), ("fontsize", "8"), ("fontcolor", "#555555")])
        var subgraphs: [UnsafeMutablePointer<Agraph_t>] = []
        for box in plan.boxes {
            let parent = box.parent.map { subgraphs[$0] } ?? graph.root
            let subgraph = try graph.subgraph(of: parent, name: "cluster_domain\(box.domain)")
            graph.set(subgraph, [
                ("label", box.label), ("tooltip", box.tooltip), ("id", "domain\(box.domain)"), ("labeljust", "l"),
                ("fontname", "Helvetica"), ("fontsize", "11"), ("style", "rounded,filled"), ("color", "#8a8a8a"),
                ("fillcolor", box.annotation?.fillColor ?? boxFills[box.depth % boxFills.count]),
            ])
            subgraphs.append(subgraph)
        }
        var drawn: [UnsafeMutablePointer<Agnode_t>] = []
        drawn.reserveCapacity(plan.nodes.count)
        for node in plan.nodes {
            let owner = node.box.map { subgraphs[$0] } ?? graph.root
            let item = try graph.node(in: owner, name: "device\(node.device)")
            let look = style(of: node.kind)
            graph.set(item, [
                ("label", node.label), ("tooltip", node.tooltip), ("id", "device\(node.device)"), ("shape", look.shape),
                ("style", look.style), ("fillcolor", node.annotation?.fillColor ?? look.fill),
            ])
            drawn.append(item)
        }
        let texts = plan.edges.map { edge in edge.bundles.map { bandwidthText($0.bundle) + countText($0.count) } }
        let labelled = labelledEdges(plan, texts: texts)
        var classes = Set<Int>()
        for (index, edge) in plan.edges.enumerated() {
            let item = try graph.edge(from: drawn[edge.upper], to: drawn[edge.lower])
            let strongest = bandwidthClass(edge.bundles.map(\.bundle.bandwidth).max() ?? 0)
            classes.insert(strongest)
            var attributes = [
                ("penwidth", String(classWidths[strongest])), ("color", classColors[strongest]),
                ("tooltip", DiagramPlan.escape([plan.nodes[edge.upper].path + " — " + plan.nodes[edge.lower].path] + texts[index])),
            ]
            // Graphviz 2.42's dot frees a labelled flat edge's splines twice when clusters are present
            // (ellson/MOTHBALLED-graphviz#1169; constraint=false and minlen=0 alike), so an edge between
            // devices of one layer gets minlen=0 and an xlabel, which is placed after layout.
            if edge.level { attributes.append(("minlen", "0")) }
            if labelled.contains(index) { attributes.append((edge.level ? "xlabel" : "label", DiagramPlan.escape(texts[index]))) }
            graph.set(item, attributes)
        }
        try drawLegend(plan, classes: classes, into: graph)
    }

    /// Edges that carry their text: one per family of alike edges (ends from the same two device
    /// declarations, same text), the middle one, so eight GPU–NVSwitch edges say "450GB/s" once.
    private static func labelledEdges(_ plan: DiagramPlan, texts: [[String]]) -> Set<Int> {
        struct Family: Hashable {
            let upper: Int32
            let lower: Int32
            let text: [String]
        }
        var families: [Family: [Int]] = [:]
        for (index, edge) in plan.edges.enumerated() {
            families[Family(upper: plan.nodes[edge.upper].group, lower: plan.nodes[edge.lower].group, text: texts[index]),
                     default: []].append(index)
        }
        return Set(families.values.map { $0[$0.count / 2] })
    }

    /// One HTML-table node in its own box: kinds, bandwidth classes used, collapse factors.
    private static func drawLegend(_ plan: DiagramPlan, classes: Set<Int>, into graph: GraphWriter) throws(DiagramError) {
        func html(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        func row(_ swatch: String, _ text: String) -> String {
            "<TR><TD>\(swatch)</TD><TD ALIGN=\"LEFT\">\(html(text))</TD></TR>"
        }
        func heading(_ text: String) -> String { "<TR><TD COLSPAN=\"2\" ALIGN=\"LEFT\"><B>\(html(text))</B></TD></TR>" }
        var rows = [heading("Devices")]
        let kinds = Set(plan.nodes.map(\.kind))
        for kind in DeviceKind.allCases where kinds.contains(kind) {
            let look = style(of: kind)
            rows.append(row("<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLPADDING=\"0\" CELLSPACING=\"0\"><TR>"
                + "<TD BGCOLOR=\"\(look.fill)\" WIDTH=\"36\" HEIGHT=\"12\" FIXEDSIZE=\"TRUE\"></TD></TR></TABLE>", look.legend))
        }
        if !classes.isEmpty { rows.append(heading("Links (bandwidth per direction)")) }
        for index in classes.sorted(by: >) {
            let height = max(1, Int(classWidths[index].rounded()))
            rows.append(row("<TABLE BORDER=\"0\" CELLPADDING=\"0\" CELLSPACING=\"0\"><TR>"
                + "<TD BGCOLOR=\"\(classColors[index])\" WIDTH=\"36\" HEIGHT=\"\(height)\" FIXEDSIZE=\"TRUE\"></TD></TR></TABLE>",
                classRangeText(index)))
        }
        if !plan.edges.isEmpty {
            rows.append(row("", "×N: links one edge stands for (per drawn box)"))
            rows.append(row("", "alike edges are labelled once; SVG tooltips say all"))
        }
        if plan.collapsed {
            rows.append(heading("Drawn once"))
            var seen = Set<String>()
            for collapse in plan.collapses {
                let text = "\(collapse.name) ×\(collapse.count) per \(collapse.parentName)"
                    + (collapse.isDevice ? " (one node)" : " (1 box shown)")
                if seen.insert(text).inserted { rows.append(row("", text)) }
            }
            if seen.isEmpty { rows.append(row("", "nothing repeats")) }
        }
        let table = "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"1\" CELLPADDING=\"2\">" + rows.joined() + "</TABLE>"
        let box = try graph.subgraph(of: graph.root, name: "cluster_legend")
        graph.set(box, [("label", "Legend"), ("id", "legend"), ("style", "rounded"), ("color", "#8a8a8a"), ("fontsize", "11")])
        let node = try graph.node(in: box, name: "legend")
        graph.set(node, [("shape", "plaintext"), ("id", "legend-table"), ("fontsize", "9"), ("tooltip", "legend")])
        try graph.setHTML(node, "label", table)
    }
}

// MARK: - Graphviz

/// The one door to libgvc/libcgraph. Both keep process-wide state (the error callback and error
/// level, the default discipline's string dictionary, plugin tables) and are not thread-safe, so
/// every call in the process goes through `render`, which holds one global lock throughout.
///
/// Memory: everything created here is released on every path (graph, layout, render buffer).
/// Valgrind still finds ~50 kB lost per layout of a clustered graph, all of it allocated inside
/// 2.42's dot layout itself (cluster virtual edges its cleanup does not free).
enum Graphviz {
    private static let lock = NSLock()

    /// Graphviz state of the process; touched only under `lock`.
    private final class State: @unchecked Sendable {
        /// What Graphviz reported during the current render.
        var log = ""
        /// The one Graphviz context of the process, made on first use and never freed. Graphviz
        /// 2.42's pango renderer keeps a pointer to the last font name it measured, which
        /// `gvFreeContext` frees: every render in a later context would read freed memory
        /// (valgrind shows it). Keeping one context also loads the plugins only once.
        var context: OpaquePointer?
    }
    private static let state = State()

    /// Graphviz hands messages over in fragments ("Error", ": ", "text\n"); they are joined and
    /// split into lines afterwards. Runs on the thread holding `lock`.
    private static let collect: agusererrf = { fragment in
        if let fragment { Graphviz.state.log += String(cString: fragment) }
        return 0
    }

    private static var messages: [String] {
        state.log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Builds a graph with `build`, lays it out with dot and renders it with the renderer named
    /// `format`. The graph, its layout and the rendered buffer are released before returning, on
    /// success and on failure; only the shared context outlives the call.
    static func render(format: String, build: (GraphWriter) throws(DiagramError) -> Void) throws(DiagramError) -> Data {
        lock.lock()
        defer { lock.unlock() }
        state.log = ""
        agreseterrors()
        let previousHandler = agseterrf(collect)
        defer { agseterrf(previousHandler) }
        if state.context == nil { state.context = gvContext() }
        guard let context = state.context else { throw .graphviz(stage: "starting", messages: messages) }
        var descriptor = Agdesc_t()
        descriptor.directed = 0
        descriptor.maingraph = 1
        let opened = "topology".withCString { agopen(UnsafeMutablePointer(mutating: $0), descriptor, nil) }
        guard let graph = opened else { throw .graphviz(stage: "creating the graph", messages: messages) }
        defer { agclose(graph) }
        try build(GraphWriter(root: graph))
        try check("building the graph")
        guard gvLayout(context, graph, "dot") == 0 else { throw .graphviz(stage: "laying out", messages: messages) }
        defer { gvFreeLayout(context, graph) }
        try check("laying out")
        var buffer: UnsafeMutablePointer<CChar>?
        var length: UInt32 = 0
        let status = gvRenderData(context, graph, format, &buffer, &length)
        defer { if let buffer { gvFreeRenderData(buffer) } }
        guard status == 0, let buffer else { throw .graphviz(stage: "rendering \(format)", messages: messages) }
        try check("rendering \(format)")
        return Data(bytes: buffer, count: Int(length))
    }

    /// Graphviz reports some failures (a malformed HTML label) only through its error level.
    private static func check(_ stage: String) throws(DiagramError) {
        if agerrors() >= Int32(AGERR.rawValue) { throw .graphviz(stage: stage, messages: messages) }
    }
}

/// Creates objects in a graph being built; only valid inside `Graphviz.render`'s closure.
///
/// cgraph copies every name and attribute value it is given (into its reference-counted string
/// dictionary) and never writes through them, so Swift's temporary C strings are passed as the
/// `char *` its prototypes ask for.
struct GraphWriter {
    let root: UnsafeMutablePointer<Agraph_t>

    func subgraph(of parent: UnsafeMutablePointer<Agraph_t>, name: String) throws(DiagramError) -> UnsafeMutablePointer<Agraph_t> {
        let made = name.withCString { agsubg(parent, UnsafeMutablePointer(mutating: $0), 1) }
        guard let made else { throw .graphviz(stage: "creating subgraph \(name)", messages: []) }
        return made
    }

    func node(in graph: UnsafeMutablePointer<Agraph_t>, name: String) throws(DiagramError) -> UnsafeMutablePointer<Agnode_t> {
        let made = name.withCString { agnode(graph, UnsafeMutablePointer(mutating: $0), 1) }
        guard let made else { throw .graphviz(stage: "creating node \(name)", messages: []) }
        return made
    }

    func edge(from tail: UnsafeMutablePointer<Agnode_t>, to head: UnsafeMutablePointer<Agnode_t>) throws(DiagramError)
        -> UnsafeMutablePointer<Agedge_t>
    {
        guard let made = agedge(root, tail, head, nil, 1) else { throw .graphviz(stage: "creating an edge", messages: []) }
        return made
    }

    /// Sets attributes on a graph, node or edge, declaring each (with an empty default) on first use.
    func set<Object>(_ object: UnsafeMutablePointer<Object>, _ attributes: [(String, String)]) {
        for (name, value) in attributes {
            name.withCString { name in
                value.withCString { value in
                    "".withCString { empty in
                        _ = agsafeset(object, UnsafeMutablePointer(mutating: name), UnsafeMutablePointer(mutating: value),
                                      UnsafeMutablePointer(mutating: empty))
                    }
                }
            }
        }
    }

    /// Sets an HTML-like label: the value must be registered as an HTML string first, then released.
    func setHTML<Object>(_ object: UnsafeMutablePointer<Object>, _ name: String, _ html: String) throws(DiagramError) {
        guard let value = html.withCString({ agstrdup_html(root, UnsafeMutablePointer(mutating: $0)) }) else {
            throw .graphviz(stage: "storing an HTML label", messages: [])
        }
        defer { agstrfree(root, value) }
        name.withCString { name in
            "".withCString { empty in
                _ = agsafeset(object, UnsafeMutablePointer(mutating: name), value, UnsafeMutablePointer(mutating: empty))
            }
        }
    }

    /// Default attribute values for every node (`AGNODE`) or edge (`AGEDGE`) of the graph.
    func defaults(kind: Int32, _ attributes: [(String, String)]) {
        for (name, value) in attributes {
            name.withCString { name in
                value.withCString { value in
                    _ = agattr(root, kind, UnsafeMutablePointer(mutating: name), UnsafeMutablePointer(mutating: value))
                }
            }
        }
    }
}
