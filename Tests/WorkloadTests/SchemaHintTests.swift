import Foundation
import SchemaXML
import Testing

@testable import Workload

/// Every pattern of the workload schema is explained in words when a value does not match it.
@Suite struct WorkloadSchemaHintTests {
    @Test func everyPatternOfTheWorkloadSchemaHasAHint() throws {
        let schema = try WorkloadLoader.schema()
        let document = try XMLLoader.load(path: schema.path)
        var patterns: [String] = []
        func collect(_ element: ParsedElement) {
            if element.name == "pattern", let value = element[attribute: "value"] { patterns.append(value) }
            element.children.forEach(collect)
        }
        collect(document)
        #expect(!patterns.isEmpty)
        for pattern in patterns {
            #expect(schema.patternHints[pattern] != nil, "no hint for \(pattern)")
        }
    }
}
