import Foundation

/// A report as a list of blocks, rendered two ways from the same content: Markdown (figures as
/// SVG files next to it) and one self-contained HTML page (figures inline, styles inline, no
/// scripts, no external resources), so the two never disagree.
///
/// Inline markup in text: `**bold**` and `` `code` ``; everything else is literal (escaped for HTML).
public struct ReportDocument: Sendable {
    public enum Block: Sendable {
        case heading(level: Int, text: String)
        case paragraph(String)
        case bullets([String])
        /// A table; `rightAligned` holds the indices of numeric columns.
        case table(header: [String], rows: [[String]], rightAligned: Set<Int>)
        /// An SVG figure, written as `file` next to the Markdown and inlined in the HTML.
        case figure(file: String, svg: String, caption: String)
        case code(String)
    }

    public var title: String
    public var blocks: [Block]

    public init(title: String, blocks: [Block] = []) {
        self.title = title
        self.blocks = blocks
    }

    /// The SVG files the Markdown refers to, by file name.
    public var figures: [(file: String, svg: String)] {
        blocks.compactMap { if case .figure(let file, let svg, _) = $0 { (file, svg) } else { nil } }
    }

    // MARK: Markdown

    public func markdown() -> String {
        var lines = ["# \(title)", ""]
        for block in blocks {
            switch block {
            case .heading(let level, let text):
                lines += [String(repeating: "#", count: max(2, min(level, 6))) + " " + text, ""]
            case .paragraph(let text):
                lines += [text, ""]
            case .bullets(let items):
                lines += items.map { "- " + $0 } + [""]
            case .table(let header, let rows, let right):
                let cell = { (text: String) in text.replacingOccurrences(of: "|", with: "\\|") }
                lines.append("| " + header.map(cell).joined(separator: " | ") + " |")
                lines.append("|" + header.indices.map { right.contains($0) ? "---:|" : "---|" }.joined())
                lines += rows.map { "| " + $0.map(cell).joined(separator: " | ") + " |" }
                lines.append("")
            case .figure(let file, _, let caption):
                lines += ["![\(caption)](\(file))", "", "*\(caption)*", ""]
            case .code(let text):
                lines += ["```sh", text, "```", ""]
            }
        }
        return lines.joined(separator: "\n")
    }

    // MARK: HTML

    public func html() -> String {
        var parts = [
            "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">", "<title>\(Self.escape(title))</title>",
            "<style>\(Self.style)</style>", "</head>", "<body>", "<h1>\(Self.escape(title))</h1>",
        ]
        for block in blocks {
            switch block {
            case .heading(let level, let text):
                let tag = "h\(max(2, min(level, 6)))"
                parts.append("<\(tag)>\(Self.inline(text))</\(tag)>")
            case .paragraph(let text):
                parts.append("<p>\(Self.inline(text))</p>")
            case .bullets(let items):
                parts.append("<ul>" + items.map { "<li>\(Self.inline($0))</li>" }.joined() + "</ul>")
            case .table(let header, let rows, let right):
                let align = { (index: Int) in right.contains(index) ? " class=\"num\"" : "" }
                var table = ["<table>", "<thead><tr>" + header.enumerated().map { "<th\(align($0))>\(Self.inline($1))</th>" }.joined() + "</tr></thead>", "<tbody>"]
                table += rows.map { "<tr>" + $0.enumerated().map { "<td\(align($0))>\(Self.inline($1))</td>" }.joined() + "</tr>" }
                table.append("</tbody></table>")
                parts.append(table.joined(separator: "\n"))
            case .figure(_, let svg, let caption):
                parts.append("<figure>\(Self.inlineSVG(svg))<figcaption>\(Self.inline(caption))</figcaption></figure>")
            case .code(let text):
                parts.append("<pre><code>\(Self.escape(text))</code></pre>")
            }
        }
        parts += ["</body>", "</html>", ""]
        return parts.joined(separator: "\n")
    }

    static let style = """
        body{font-family:Helvetica,Arial,sans-serif;max-width:1400px;margin:24px auto;padding:0 20px;color:#222;line-height:1.45}\
        h1{font-size:26px;border-bottom:2px solid #0072B2;padding-bottom:6px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ddd}\
        table{border-collapse:collapse;margin:10px 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
        th{background:#f0f4f8}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafafa}\
        figure{margin:12px 0}figure svg{max-width:100%;height:auto;border:1px solid #e5e5e5}figcaption{font-size:13px;color:#555;font-style:italic}\
        pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:12px;border:1px solid #e1e4e8}code{font-family:Menlo,Consolas,monospace;font-size:12px}\
        .lead{font-size:17px}
        """

    /// Escapes text for HTML content and attributes.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Escaped text with `**bold**` and `` `code` `` turned into tags.
    static func inline(_ text: String) -> String {
        var html = escape(text)
        html = html.replacingOccurrences(of: #"\*\*(.+?)\*\*"#, with: "<strong>$1</strong>", options: .regularExpression)
        html = html.replacingOccurrences(of: #"`([^`]+)`"#, with: "<code>$1</code>", options: .regularExpression)
        return html
    }

    /// An SVG document as an element of the page: the XML declaration, DOCTYPE and comments that
    /// Graphviz writes are dropped (they are not allowed inside HTML), the `<svg>` element kept.
    static func inlineSVG(_ svg: String) -> String {
        guard let start = svg.range(of: "<svg") else { return escape(svg) }
        return String(svg[start.lowerBound...]).replacingOccurrences(of: #"<!--.*?-->"#, with: "", options: .regularExpression)
    }

    // MARK: Files

    /// Writes `report.md`, `report.html` and every figure into `directory` (created if missing),
    /// each atomically (`ReportFiles.write`). Returns the paths written.
    @discardableResult
    public func write(to directory: String, baseName: String = "report") throws(ReportError) -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError(path: directory, reason: "cannot create the folder (\(error.localizedDescription))")
        }
        var written: [String] = []
        for (file, svg) in figures {
            let path = (directory as NSString).appendingPathComponent(file)
            try ReportFiles.write(svg + "\n", to: path)
            written.append(path)
        }
        for (name, text) in [("\(baseName).md", markdown()), ("\(baseName).html", html())] {
            let path = (directory as NSString).appendingPathComponent(name)
            try ReportFiles.write(text, to: path)
            written.append(path)
        }
        return written
    }
}

/// A report file that could not be written.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// Atomic file writes for reports: to a temporary file beside the target, then renamed over it
/// (`Data.WritingOptions.atomic`), so a reader never sees half a report and a failed write leaves
/// the old file in place.
public enum ReportFiles {
    public static func write(_ text: String, to path: String) throws(ReportError) {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError(path: path, reason: "cannot be written (\(error.localizedDescription)); check that its folder exists and is writable")
        }
    }
}
