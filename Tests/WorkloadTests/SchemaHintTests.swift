import Testing

@testable import Workload

/// Every pattern of the workload schema is explained in words when a value does not match it.
@Suite struct WorkloadSchemaHintTests {
    @Test func everyPatternOfTheWorkloadSchemaHasAHint() throws {
        let schema = try WorkloadLoader.schema()
        #expect(!schema.patternHints.isEmpty)
        #expect(try schema.patternsWithoutHints() == [])
    }
}
