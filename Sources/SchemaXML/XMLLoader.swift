import CLibXML2
import Foundation

/// Parses XML files with libxml2 and validates them against an XML Schema.
///
/// Why libxml2: it reports every schema violation with the file, the line and the offending value,
/// which is exactly what a user editing a cluster or workload file by hand needs. Network access
/// and external entities are disabled, so a hostile file cannot make the loader fetch anything.
public enum XMLLoader {
    /// Largest input accepted, to keep a mistaken path (a multi-GB log) from exhausting memory.
    public static let maximumInputBytes = 64 << 20

    /// Reads, parses and (when `schema` is given) validates the file at `path`.
    /// - Throws: `XMLDiagnostics` naming `path` and the line of each problem.
    public static func load(path: String, schema: Schema? = nil) throws(XMLDiagnostics) -> ParsedElement {
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > maximumInputBytes {
                throw XMLDiagnostics([
                    XMLDiagnostic(
                        location: SourceLocation(file: path, line: 0),
                        message: "file is \(size) bytes, more than the \(maximumInputBytes) accepted; is this the right file?")
                ])
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as XMLDiagnostics {
            throw error
        } catch {
            throw XMLDiagnostics([
                XMLDiagnostic(
                    location: SourceLocation(file: path, line: 0),
                    message: "cannot read the file: \(error.localizedDescription)")
            ])
        }
        return try load(data: data, name: path, schema: schema)
    }

    /// Parses and validates an in-memory document; `name` stands for the file in messages.
    public static func load(data: Data, name: String, schema: Schema? = nil) throws(XMLDiagnostics) -> ParsedElement {
        LibXML.initialize()
        guard data.count <= maximumInputBytes else {
            throw XMLDiagnostics([
                XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "input larger than \(maximumInputBytes) bytes")
            ])
        }
        guard let context = xmlNewParserCtxt() else {
            throw XMLDiagnostics([XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "libxml2 could not allocate a parser")])
        }
        defer { xmlFreeParserCtxt(context) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue
            | XML_PARSE_BIG_LINES.rawValue | XML_PARSE_NOCDATA.rawValue)
        // Parser errors go to the thread's structured handler for the duration of the parse, so
        // every error is kept (xmlCtxtGetLastError would give only the last, often a consequence).
        let collector = DiagnosticCollector(defaultFile: name)
        xmlSetStructuredErrorFunc(Unmanaged.passUnretained(collector).toOpaque(), DiagnosticCollector.callback)
        let document: xmlDocPtr? = withExtendedLifetime(collector) {
            data.withUnsafeBytes { buffer in
                let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self)
                guard let base else { return nil }
                return xmlCtxtReadMemory(context, base, Int32(buffer.count), name, nil, options)
            }
        }
        xmlSetStructuredErrorFunc(nil, nil)
        guard let document else {
            if data.isEmpty {
                throw XMLDiagnostics([XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "the file is empty")])
            }
            var problems = collector.diagnostics
            if problems.isEmpty, let error = xmlCtxtGetLastError(context) {
                problems.append(XMLDiagnostic(
                    location: SourceLocation(file: name, line: Int(error.pointee.line)),
                    message: LibXML.message(of: error.pointee) ?? "not well-formed XML"))
            }
            if problems.isEmpty {
                problems.append(XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "not well-formed XML"))
            }
            throw XMLDiagnostics(Array(problems.prefix(20)))
        }
        defer { xmlFreeDoc(document) }
        if let schema {
            let problems = schema.validate(document: document, name: name)
            if !problems.isEmpty { throw XMLDiagnostics(problems) }
        }
        guard let root = xmlDocGetRootElement(document) else {
            throw XMLDiagnostics([XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "the document has no root element")])
        }
        return LibXML.convert(root, file: name)
    }
}

/// A compiled XML Schema. Compile once and reuse: compiling costs far more than validating.
public final class Schema: @unchecked Sendable {
    // Safe to share: libxml2 treats a compiled schema as read-only during validation, and each
    // validation gets its own context. `lock` serialises validations anyway, since libxml2's
    // facet and regexp code keeps per-schema scratch state in some versions.
    private let schema: xmlSchemaPtr
    private let lock = NSLock()
    public let path: String
    /// What each `xs:pattern` of the schema stands for, in words ("a bandwidth such as 400Gb/s"):
    /// libxml2 quotes the regular expression, which helps nobody who writes the file by hand.
    public let patternHints: [String: String]

    /// Compiles the schema at `path`. `patternHints` maps a pattern's regular expression, exactly
    /// as written in the schema, to what it accepts in words.
    public init(path: String, patternHints: [String: String] = [:]) throws(XMLDiagnostics) {
        LibXML.initialize()
        self.path = path
        self.patternHints = patternHints
        guard let parser = xmlSchemaNewParserCtxt(path) else {
            throw XMLDiagnostics([XMLDiagnostic(location: SourceLocation(file: path, line: 0), message: "cannot open the schema")])
        }
        defer { xmlSchemaFreeParserCtxt(parser) }
        let collector = DiagnosticCollector(defaultFile: path)
        let token = Unmanaged.passUnretained(collector).toOpaque()
        xmlSchemaSetParserStructuredErrors(parser, DiagnosticCollector.callback, token)
        guard let compiled = xmlSchemaParse(parser) else {
            throw XMLDiagnostics(collector.diagnostics.isEmpty
                ? [XMLDiagnostic(location: SourceLocation(file: path, line: 0), message: "invalid XML Schema")]
                : collector.diagnostics)
        }
        schema = compiled
    }

    deinit { xmlSchemaFree(schema) }

    fileprivate func validate(document: xmlDocPtr, name: String) -> [XMLDiagnostic] {
        lock.lock()
        defer { lock.unlock() }
        guard let context = xmlSchemaNewValidCtxt(schema) else {
            return [XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "libxml2 could not allocate a validator")]
        }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = DiagnosticCollector(defaultFile: name)
        let token = Unmanaged.passUnretained(collector).toOpaque()
        xmlSchemaSetValidStructuredErrors(context, DiagnosticCollector.callback, token)
        let status = withExtendedLifetime(collector) { xmlSchemaValidateDoc(context, document) }
        if status != 0 && collector.diagnostics.isEmpty {
            return [XMLDiagnostic(location: SourceLocation(file: name, line: 0), message: "the document does not match the schema \(path)")]
        }
        return collector.diagnostics.map(explained)
    }

    /// The schema's `xs:pattern` expressions that have no entry in `patternHints`: errors against
    /// them would quote a regular expression. Reads the schema file again; meant for tests.
    public func patternsWithoutHints() throws(XMLDiagnostics) -> [String] {
        var missing: [String] = []
        func collect(_ element: ParsedElement) {
            if element.name == "pattern", let value = element[attribute: "value"], patternHints[value] == nil {
                missing.append(value)
            }
            element.children.forEach(collect)
        }
        collect(try XMLLoader.load(path: path))
        return missing
    }

    /// Replaces "[facet 'pattern'] The value 'v' is not accepted by the pattern 'regex'." with
    /// "'v' is not <hint>" where the schema's pattern has a hint.
    private func explained(_ diagnostic: XMLDiagnostic) -> XMLDiagnostic {
        let marker = "[facet 'pattern'] The value '"
        guard let start = diagnostic.message.range(of: marker),
            let valueEnd = diagnostic.message.range(of: "' is not accepted by the pattern '", range: start.upperBound..<diagnostic.message.endIndex)
        else { return diagnostic }
        let value = diagnostic.message[start.upperBound..<valueEnd.lowerBound]
        var regex = diagnostic.message[valueEnd.upperBound...]
        if regex.hasSuffix("'.") { regex = regex.dropLast(2) }
        guard let hint = patternHints[String(regex)] else { return diagnostic }
        var rewritten = diagnostic
        rewritten.message = String(diagnostic.message[..<start.lowerBound]) + "'\(value)' is not \(hint)"
        return rewritten
    }
}

/// Receives libxml2's structured errors through a C callback.
private final class DiagnosticCollector {
    var diagnostics: [XMLDiagnostic] = []
    let defaultFile: String

    init(defaultFile: String) { self.defaultFile = defaultFile }

    static let callback: xmlStructuredErrorFunc = { userData, error in
        guard let userData, let error else { return }
        let collector = Unmanaged<DiagnosticCollector>.fromOpaque(userData).takeUnretainedValue()
        let file = error.pointee.file.map { String(cString: $0) } ?? collector.defaultFile
        let message = LibXML.message(of: error.pointee) ?? "unknown libxml2 error"
        collector.diagnostics.append(
            XMLDiagnostic(location: SourceLocation(file: file, line: Int(error.pointee.line)), message: message))
    }
}

private enum LibXML {
    private static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    static func initialize() { _ = initialized }

    static func message(of error: xmlError) -> String? {
        guard let raw = error.message else { return nil }
        return String(cString: raw).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func convert(_ node: xmlNodePtr, file: String) -> ParsedElement {
        var attributes: [(name: String, value: String)] = []
        var attribute = node.pointee.properties
        while let current = attribute {
            let name = String(cString: current.pointee.name)
            var value = ""
            if let raw = xmlNodeListGetString(node.pointee.doc, current.pointee.children, 1) {
                value = String(cString: raw)
                tp_xml_free(raw)
            }
            attributes.append((name, value))
            attribute = current.pointee.next
        }
        var children: [ParsedElement] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE {
                children.append(convert(current, file: file))
            }
            child = current.pointee.next
        }
        return ParsedElement(
            name: String(cString: node.pointee.name), attributes: attributes, children: children,
            location: SourceLocation(file: file, line: Int(xmlGetLineNo(node))))
    }
}
