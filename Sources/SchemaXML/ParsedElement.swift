/// A place in a source file, printed as `file:line` the way compilers do, so editors can jump to it.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { line > 0 ? "\(file):\(line)" : file }
}

/// One element of a parsed XML document, copied out of libxml2 into plain Swift values.
///
/// Our file formats carry everything in elements and attributes, so text nodes are dropped.
/// Copying costs one allocation per element and attribute, which is negligible for
/// hand-written configuration files, and it means no libxml2 pointer outlives the parse.
public struct ParsedElement: Sendable {
    public var name: String
    /// Attributes in document order.
    public var attributes: [(name: String, value: String)]
    public var children: [ParsedElement]
    public var location: SourceLocation

    public init(
        name: String, attributes: [(name: String, value: String)] = [], children: [ParsedElement] = [],
        location: SourceLocation
    ) {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.location = location
    }

    /// The value of attribute `name`, or nil when it is absent.
    public subscript(attribute name: String) -> String? {
        attributes.first(where: { $0.name == name })?.value
    }

    /// Child elements with the given tag name, in document order.
    public func children(named name: String) -> [ParsedElement] {
        children.filter { $0.name == name }
    }
}
