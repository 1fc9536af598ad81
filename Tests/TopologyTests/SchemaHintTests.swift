import Foundation
import SchemaXML
import Testing

@testable import Topology

/// Schema errors speak of units and examples, not regular expressions.
@Suite struct SchemaHintTests {
    @Test func everyPatternOfTheTopologySchemaHasAHint() throws {
        let schema = try ClusterLoader.schema()
        #expect(!schema.patternHints.isEmpty)
        #expect(try schema.patternsWithoutHints() == [])
    }

    @Test func aMalformedUnitIsExplainedWithAnExample() throws {
        let text = """
            <cluster name="c">
              <accelerator-model id="g" memory="16GB" memory-bandwidth="1TB/s"><peak precision="bf16" flops="1TFLOP/s"/></accelerator-model>
              <fabric><host><accelerator id="gpu" model="g" count="2"/>
                <link a="gpu[0]" b="gpu[1]" bandwidth="450GBs"/>
              </host></fabric>
            </cluster>
            """
        #expect {
            _ = try ClusterLoader.load(data: Data(text.utf8), name: "units.xml")
        } throws: { error in
            guard let first = (error as? XMLDiagnostics)?.diagnostics.first else { return false }
            return first.location.line == 4 && first.message.contains("'450GBs' is not a bandwidth") && first.message.contains("400Gb/s")
                && !first.message.contains("facet")
        }
    }
}
