import Foundation

/// Small self-contained SVG charts for reports: no scripts, no external fonts or files, so they
/// render the same inline in HTML, opened alone, or in a Markdown viewer.
///
/// Every chart is a pure function of its data (deterministic output, testable as text). Sizes are
/// in CSS pixels; the `viewBox` lets the browser scale them. Cost: linear in the data.
public enum SVGChart {
    /// One named series of values (one per category or x position); nil values are gaps.
    public struct Series: Sendable, Hashable {
        public var name: String
        public var values: [Double?]
        public var color: String?

        public init(name: String, values: [Double?], color: String? = nil) {
            self.name = name
            self.values = values
            self.color = color
        }
    }

    /// A dashed horizontal reference line (a mean, a bound) with its label.
    public struct Reference: Sendable, Hashable {
        public var value: Double
        public var label: String
        public var color: String

        public init(value: Double, label: String, color: String = "#c62828") {
            self.value = value
            self.label = label
            self.color = color
        }
    }

    /// Colour-blind-safe palette (Okabe–Ito first, then Tableau 10) for segments and series.
    public static let palette = [
        "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
        "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC",
    ]

    static let font = "Helvetica, Arial, sans-serif"

    /// Horizontal stacked bars, one per category (e.g. flat and DMT), each split into the
    /// segments' values (e.g. exposed time per phase). Segments that are zero in every bar are
    /// left out of the legend. `format` writes the axis and total labels.
    public static func stackedBars(
        title: String, categories: [String], segments: [Series], format: (Double) -> String, width: Double = 900
    ) -> String {
        let shown = segments.filter { $0.values.contains { ($0 ?? 0) > 0 } }
        let totals = categories.indices.map { index in shown.reduce(0) { $0 + max(0, $1.values[safe: index].flatMap { $0 } ?? 0) } }
        let maximum = niceCeiling(totals.max() ?? 0)
        let labelWidth = min(260, 12 + 7 * Double(categories.map(\.count).max() ?? 0))
        let plotLeft = labelWidth + 10, plotRight = width - 90
        let barHeight = 34.0, gap = 18.0, top = 40.0
        let plotBottom = top + Double(categories.count) * (barHeight + gap)
        let legendColumns = max(1, Int((width - 20) / 290))
        let legendRows = (shown.count + legendColumns - 1) / legendColumns
        let height = plotBottom + 36 + Double(legendRows) * 18 + 10
        var svg = SVGCanvas(width: width, height: height)
        svg.text(title, x: 10, y: 22, size: 15, weight: "bold")
        axis(&svg, maximum: maximum, left: plotLeft, right: plotRight, top: top - 6, bottom: plotBottom, format: format)
        for (row, category) in categories.enumerated() {
            let y = top + Double(row) * (barHeight + gap)
            svg.text(category, x: plotLeft - 8, y: y + barHeight / 2 + 4, size: 12, anchor: "end")
            var x = plotLeft
            for (index, segment) in shown.enumerated() {
                let value = max(0, segment.values[safe: row].flatMap { $0 } ?? 0)
                guard value > 0, maximum > 0 else { continue }
                let length = value / maximum * (plotRight - plotLeft)
                svg.rect(x: x, y: y, width: length, height: barHeight, fill: color(segment, index), title: "\(category) · \(segment.name): \(format(value))")
                x += length
            }
            svg.text(format(totals[row]), x: x + 6, y: y + barHeight / 2 + 4, size: 12, weight: "bold")
        }
        legend(&svg, shown, top: plotBottom + 34, columns: legendColumns, width: width)
        return svg.document
    }

    /// Vertical bars, one per category, with optional reference lines.
    public static func bars(
        title: String, categories: [String], values: [Double], references: [Reference] = [], color: String = "#0072B2",
        format: (Double) -> String, axisTitle: String = "", width: Double = 900, height: Double = 320
    ) -> String {
        let top = 40.0, bottom = height - 44, left = 70.0, right = width - 20
        let maximum = niceCeiling(max(values.max() ?? 0, references.map(\.value).max() ?? 0) * 1.05)
        var svg = SVGCanvas(width: width, height: height)
        svg.text(title, x: 10, y: 22, size: 15, weight: "bold")
        verticalAxis(&svg, maximum: maximum, left: left, right: right, top: top, bottom: bottom, format: format, title: axisTitle)
        let slot = (right - left) / Double(max(categories.count, 1))
        let labelEvery = max(1, Int((28 / slot).rounded(.up)))
        for (index, category) in categories.enumerated() {
            let value = values[safe: index] ?? 0
            let barHeight = maximum > 0 ? value / maximum * (bottom - top) : 0
            let x = left + Double(index) * slot
            svg.rect(x: x + slot * 0.15, y: bottom - barHeight, width: slot * 0.7, height: barHeight, fill: color, title: "\(category): \(format(value))")
            if index % labelEvery == 0 { svg.text(category, x: x + slot / 2, y: bottom + 15, size: 10, anchor: "middle") }
        }
        for reference in references where maximum > 0 {
            let y = bottom - reference.value / maximum * (bottom - top)
            svg.line(x1: left, y1: y, x2: right, y2: y, stroke: reference.color, width: 1.5, dash: "6,4")
            svg.text(reference.label, x: right - 4, y: y - 4, size: 11, anchor: "end", fill: reference.color)
        }
        return svg.document
    }

    /// Lines over categorical x positions (e.g. GPU counts), one per series, with markers and
    /// value labels at each point.
    public static func lines(
        title: String, xLabels: [String], series: [Series], format: (Double) -> String, xTitle: String = "", yTitle: String = "",
        width: Double = 900, height: Double = 340
    ) -> String {
        let top = 40.0, bottom = height - 70, left = 76.0, right = width - 30
        let values = series.flatMap { $0.values.compactMap { $0 } }
        let maximum = niceCeiling((values.max() ?? 0) * 1.1)
        var svg = SVGCanvas(width: width, height: height)
        svg.text(title, x: 10, y: 22, size: 15, weight: "bold")
        verticalAxis(&svg, maximum: maximum, left: left, right: right, top: top, bottom: bottom, format: format, title: yTitle)
        let step = (right - left) / Double(max(xLabels.count, 1))
        let xOf = { (index: Int) in left + step * (Double(index) + 0.5) }
        for (index, label) in xLabels.enumerated() { svg.text(label, x: xOf(index), y: bottom + 16, size: 11, anchor: "middle") }
        if !xTitle.isEmpty { svg.text(xTitle, x: (left + right) / 2, y: bottom + 34, size: 12, anchor: "middle") }
        for (index, line) in series.enumerated() {
            let stroke = color(line, index)
            let points = line.values.enumerated().compactMap { x, value in
                value.map { (xOf(x), maximum > 0 ? bottom - $0 / maximum * (bottom - top) : bottom, $0) }
            }
            svg.polyline(points.map { ($0.0, $0.1) }, stroke: stroke)
            for point in points {
                svg.circle(x: point.0, y: point.1, radius: 4, fill: stroke, title: "\(line.name): \(format(point.2))")
                svg.text(format(point.2), x: point.0, y: point.1 - 8, size: 10, anchor: "middle", fill: stroke)
            }
        }
        legend(&svg, series, top: bottom + 52, columns: max(1, series.count), width: width)
        return svg.document
    }

    /// A grid of cells, one per domain, coloured by the group (tower) it holds; nil cells are idle.
    /// `labels` are drawn inside the cells.
    public static func grid(title: String, cells: [Int?], labels: [String], tooltips: [String], columns: Int, cellWidth: Double = 52) -> String {
        let columns = max(1, columns)
        let rows = (cells.count + columns - 1) / columns
        let cellHeight = 30.0
        let width = max(420, 20 + Double(columns) * (cellWidth + 4))
        let height = 40 + Double(rows) * (cellHeight + 4) + 24
        var svg = SVGCanvas(width: width, height: height)
        svg.text(title, x: 10, y: 22, size: 15, weight: "bold")
        for (index, group) in cells.enumerated() {
            let x = 10 + Double(index % columns) * (cellWidth + 4)
            let y = 34 + Double(index / columns) * (cellHeight + 4)
            svg.rect(
                x: x, y: y, width: cellWidth, height: cellHeight, fill: group.map { palette[$0 % palette.count] } ?? "#eeeeee",
                title: tooltips[safe: index] ?? "", stroke: "#666666")
            let dark = group.map { [0, 3, 7, 8, 10].contains($0 % palette.count) } ?? false
            svg.text(labels[safe: index] ?? "", x: x + cellWidth / 2, y: y + cellHeight / 2 + 4, size: 10, anchor: "middle", fill: dark ? "#ffffff" : "#000000")
        }
        svg.text("grey: no tower", x: 10, y: height - 8, size: 11, fill: "#555555")
        return svg.document
    }

    // MARK: Pieces

    private static func color(_ series: Series, _ index: Int) -> String { series.color ?? palette[index % palette.count] }

    /// Horizontal value axis with ticks below the plot area.
    private static func axis(_ svg: inout SVGCanvas, maximum: Double, left: Double, right: Double, top: Double, bottom: Double, format: (Double) -> String) {
        for tick in 0...4 {
            let value = maximum * Double(tick) / 4
            let x = left + (right - left) * Double(tick) / 4
            svg.line(x1: x, y1: top, x2: x, y2: bottom, stroke: "#dddddd", width: 1)
            svg.text(format(value), x: x, y: bottom + 14, size: 10, anchor: "middle", fill: "#555555")
        }
    }

    /// Vertical value axis with grid lines.
    private static func verticalAxis(
        _ svg: inout SVGCanvas, maximum: Double, left: Double, right: Double, top: Double, bottom: Double, format: (Double) -> String, title: String
    ) {
        for tick in 0...4 {
            let value = maximum * Double(tick) / 4
            let y = bottom - (bottom - top) * Double(tick) / 4
            svg.line(x1: left, y1: y, x2: right, y2: y, stroke: tick == 0 ? "#888888" : "#dddddd", width: 1)
            svg.text(format(value), x: left - 6, y: y + 4, size: 10, anchor: "end", fill: "#555555")
        }
        if !title.isEmpty { svg.text(title, x: 14, y: (top + bottom) / 2, size: 12, anchor: "middle", rotate: -90) }
    }

    private static func legend(_ svg: inout SVGCanvas, _ series: [Series], top: Double, columns: Int, width: Double) {
        let columnWidth = (width - 20) / Double(columns)
        for (index, item) in series.enumerated() {
            let x = 10 + Double(index % columns) * columnWidth
            let y = top + Double(index / columns) * 18
            svg.rect(x: x, y: y - 10, width: 12, height: 12, fill: color(item, index), title: item.name)
            svg.text(item.name, x: x + 17, y: y, size: 11)
        }
    }

    /// The smallest of 1, 2, 2.5, 5 × 10ᵏ at or above `value` (0 stays 0), so ticks are round.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 0 }
        let power = pow(10, (log10(value)).rounded(.down))
        for step in [1.0, 2, 2.5, 5, 10] where step * power >= value * (1 - 1e-12) { return step * power }
        return 10 * power
    }
}

/// Appends SVG elements with escaped text; `document` closes the root element.
struct SVGCanvas {
    private var body: [String] = []
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    var document: String {
        let size = "width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\""
        return (["<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) font-family=\"\(SVGChart.font)\">",
                 "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"] + body + ["</svg>"]).joined(separator: "\n")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, title: String, stroke: String? = nil) {
        let outline = stroke.map { " stroke=\"\($0)\" stroke-width=\"0.5\"" } ?? ""
        body.append(
            "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(max(width, 0)))\" height=\"\(Self.number(max(height, 0)))\" fill=\"\(Self.escape(fill))\"\(outline)><title>\(Self.escape(title))</title></rect>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double, dash: String? = nil) {
        let dashed = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        body.append(
            "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"\(Self.number(width))\"\(dashed)/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String) {
        guard points.count > 1 else { return }
        let list = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(Self.escape(stroke))\" stroke-width=\"2.5\"/>")
    }

    mutating func circle(x: Double, y: Double, radius: Double, fill: String, title: String) {
        body.append(
            "<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\" fill=\"\(Self.escape(fill))\"><title>\(Self.escape(title))</title></circle>")
    }

    mutating func text(
        _ content: String, x: Double, y: Double, size: Double, anchor: String = "start", weight: String = "normal", fill: String = "#222222",
        rotate: Double? = nil
    ) {
        let turn = rotate.map { " transform=\"rotate(\(Self.number($0)) \(Self.number(x)) \(Self.number(y)))\"" } ?? ""
        body.append(
            "<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" fill=\"\(Self.escape(fill))\"\(turn)>\(Self.escape(content))</text>")
    }

    /// Two decimals at most, no trailing zeros, so output is stable and small.
    static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.2f", rounded).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }

    /// Escapes text for SVG/XML content and attribute values.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension Array {
    /// The element at `index`, or nil out of range.
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
