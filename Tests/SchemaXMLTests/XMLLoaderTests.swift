import Foundation
import Testing

@testable import SchemaXML

@Suite struct XMLLoaderTests {
    static let schemaText = """
        <?xml version="1.0"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
          <xs:element name="root">
            <xs:complexType>
              <xs:sequence><xs:element name="item" maxOccurs="unbounded">
                <xs:complexType><xs:attribute name="size" type="xs:positiveInteger" use="required"/></xs:complexType>
              </xs:element></xs:sequence>
            </xs:complexType>
          </xs:element>
        </xs:schema>
        """

    static func schema() throws -> Schema {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-test-\(UUID().uuidString).xsd").path
        try schemaText.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Schema(path: path)
    }

    @Test func parsesElementsAttributesAndLines() throws {
        let root = try XMLLoader.load(data: Data("<root>\n  <item size=\"3\"/>\n  <!-- c -->\n  <item size=\"4\">text</item>\n</root>".utf8), name: "a.xml")
        #expect(root.name == "root")
        #expect(root.children.count == 2)
        #expect(root.children[1][attribute: "size"] == "4")
        #expect(root.children[1].location == SourceLocation(file: "a.xml", line: 4))
        #expect(root.children(named: "item").count == 2)
    }

    @Test func malformedXMLNamesFileAndLine() {
        #expect {
            _ = try XMLLoader.load(data: Data("<root>\n<item>\n</root>".utf8), name: "bad.xml")
        } throws: { error in
            guard let diagnostics = error as? XMLDiagnostics, let first = diagnostics.diagnostics.first else { return false }
            return first.location.file == "bad.xml" && first.location.line == 3 && first.message.contains("mismatch")
        }
    }

    @Test func emptyAndMissingFilesAreErrorsNotCrashes() {
        #expect(throws: XMLDiagnostics.self) { _ = try XMLLoader.load(data: Data(), name: "empty.xml") }
        #expect {
            _ = try XMLLoader.load(path: "/nonexistent/towerplan/file.xml")
        } throws: { error in
            (error as? XMLDiagnostics)?.description.contains("/nonexistent/towerplan/file.xml: cannot read") == true
        }
    }

    @Test func schemaViolationsCarryLineAndValue() throws {
        let schema = try Self.schema()
        let text = "<root>\n  <item size=\"3\"/>\n  <item size=\"-2\"/>\n  <item/>\n</root>"
        #expect {
            _ = try XMLLoader.load(data: Data(text.utf8), name: "v.xml", schema: schema)
        } throws: { error in
            guard let diagnostics = (error as? XMLDiagnostics)?.diagnostics else { return false }
            return diagnostics.count == 2
                && diagnostics[0].location.line == 3 && diagnostics[0].message.contains("'-2'")
                && diagnostics[1].location.line == 4 && diagnostics[1].message.contains("size")
        }
        let valid = try XMLLoader.load(data: Data("<root><item size=\"1\"/></root>".utf8), name: "ok.xml", schema: schema)
        #expect(valid.children.count == 1)
    }

    @Test func externalEntitiesAreNotFetched() throws {
        let text = """
            <?xml version="1.0"?>
            <!DOCTYPE root [<!ENTITY x SYSTEM "file:///etc/hostname">]>
            <root a="&x;"/>
            """
        // Either rejected, or parsed without substituting the file's contents.
        if let root = try? XMLLoader.load(data: Data(text.utf8), name: "xxe.xml") {
            let hostname = (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8)) ?? "\u{0}"
            #expect(root[attribute: "a"].map { !$0.contains(hostname.trimmingCharacters(in: .whitespacesAndNewlines)) || hostname.isEmpty } ?? true)
        }
    }
}
