import Foundation
import SchemaXML
import Testing

@testable import Workload

/// Bad files: schema errors and meaning errors, each with its file:line and the offending value.
@Suite struct LoaderDiagnosticsTests {
    /// A valid DLRM-style file; tests replace one piece of it.
    static let valid = """
        <workload name="check">
          <recommendation>
            <sparse dimension="16">
              <feature name="C1" rows="1460"/>
              <feature name="C2" rows="583" pooling="2.5"/>
              <group name="g" count="4" min-rows="1k" max-rows="1M" min-pooling="1" max-pooling="10"/>
            </sparse>
            <dense features="13"/>
            <bottom-mlp input="13" widths="512 256 64 16"/>
            <interaction kind="dot"/>
            <top-mlp widths="512 256 1"/>
            <tower-module kind="linear" compression="4"/>
          </recommendation>
          <training batch-per-gpu="128">
            <sparse-optimizer kind="sgd" learning-rate="0.1"/>
            <dense-optimizer kind="sgd" learning-rate="0.1"/>
          </training>
          <data><synthetic seed="7" zipf="1.1" groups="4" noise="0.1"/></data>
        </workload>
        """

    /// The 1-based line of the first line containing `marker`.
    static func line(of marker: String, in text: String) -> Int {
        (text.components(separatedBy: "\n").firstIndex { $0.contains(marker) } ?? -1) + 1
    }

    /// Loads `valid` with `original` replaced by `replacement` and returns the diagnostics.
    static func problems(replacing original: String, with replacement: String) -> [XMLDiagnostic] {
        #expect(valid.contains(original), "the test's marker must be in the base file")
        return problems(in: valid.replacingOccurrences(of: original, with: replacement))
    }

    static func problems(in text: String) -> [XMLDiagnostic] {
        do {
            _ = try WorkloadLoader.load(data: Data(text.utf8), name: "check.xml")
            Issue.record("expected the file to be rejected")
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// Problems on the line of `marker` (default: the replacement's line), one of which mentions every
    /// fragment; exactly one problem unless `single` is false (libxml2 reports some schema
    /// violations twice: the facet, then the type).
    static func expectProblem(
        replacing original: String, with replacement: String, at marker: String? = nil, single: Bool = true, mentioning fragments: [String]
    ) {
        let found = problems(replacing: original, with: replacement)
        let text = valid.replacingOccurrences(of: original, with: replacement)
        let line = line(of: marker ?? replacement, in: text)
        #expect(!found.isEmpty && (!single || found.count == 1), "\(found)")
        #expect(found.allSatisfy { $0.location == SourceLocation(file: "check.xml", line: line) }, "expected line \(line): \(found)")
        #expect(found.contains { problem in fragments.allSatisfy { problem.message.contains($0) } }, "\(fragments) not in: \(found)")
    }

    @Test func baseFileIsValid() throws {
        let workload = try WorkloadLoader.load(data: Data(Self.valid.utf8), name: "check.xml")
        #expect(workload.features.count == 6)
        #expect(workload.features.map(\.name) == ["C1", "C2", "g_0", "g_1", "g_2", "g_3"])
    }

    // MARK: Schema errors

    @Test func schemaRejectsMalformedCounts() {
        Self.expectProblem(replacing: #"rows="1460""#, with: #"rows="lots""#, single: false, mentioning: ["'lots'", "rows"])
    }

    @Test func schemaRejectsUnknownOptimizer() {
        Self.expectProblem(
            replacing: #"<sparse-optimizer kind="sgd""#, with: #"<sparse-optimizer kind="lion""#, single: false, mentioning: ["'lion'"])
    }

    @Test func schemaRejectsUnknownElements() {
        Self.expectProblem(replacing: #"<dense features="13"/>"#, with: #"<dense features="13"/><attention/>"#, single: false, mentioning: ["attention"])
    }

    @Test func malformedXMLReportsItsLine() {
        let found = Self.problems(in: Self.valid.replacingOccurrences(of: "</sparse>", with: "</spares>"))
        #expect(found.count == 1)
        #expect(found.first?.location.line == Self.line(of: "</spares>", in: Self.valid.replacingOccurrences(of: "</sparse>", with: "</spares>")))
    }

    @Test func missingFileIsADiagnostic() {
        #expect(throws: XMLDiagnostics.self) { try WorkloadLoader.load(path: "/nonexistent/workload.xml") }
    }

    // MARK: Meaning errors, one at a time

    @Test func nonPositiveSizes() {
        Self.expectProblem(replacing: #"rows="1460""#, with: #"rows="0""#, mentioning: [#"rows="0""#, "at least 1", "C1"])
        Self.expectProblem(replacing: #"<sparse dimension="16">"#, with: #"<sparse dimension="-16">"#, mentioning: [#"dimension="-16""#, "at least 1"])
        Self.expectProblem(replacing: #"widths="512 256 1""#, with: #"widths="512 0 1""#, mentioning: ["'0'", "between 1"])
        Self.expectProblem(replacing: #"<dense features="13"/>"#, with: #"<dense features="-1"/>"#, mentioning: [#"features="-1""#])
        Self.expectProblem(replacing: #"batch-per-gpu="128""#, with: #"batch-per-gpu="0""#, mentioning: [#"batch-per-gpu="0""#])
    }

    @Test func poolingBelowOne() {
        Self.expectProblem(replacing: #"pooling="2.5""#, with: #"pooling="0.5""#, mentioning: [#"pooling="0.5""#, "at least 1"])
        Self.expectProblem(replacing: #"min-pooling="1""#, with: #"min-pooling="0""#, mentioning: [#"min-pooling="0""#])
    }

    @Test func unknownKinds() {
        Self.expectProblem(replacing: #"<interaction kind="dot"/>"#, with: #"<interaction kind="dott"/>"#, mentioning: ["'dott'", "dot, dcn, wukong"])
        Self.expectProblem(
            replacing: #"<tower-module kind="linear" compression="4"/>"#, with: #"<tower-module kind="magic" compression="4"/>"#,
            mentioning: ["'magic'", "identity, linear"])
    }

    @Test func bottomMLPMustEndAtTheDimensionForDot() {
        Self.expectProblem(
            replacing: #"widths="512 256 64 16""#, with: #"widths="512 256 64 32""#, mentioning: ["32", "embedding dimension 16"])
        Self.expectProblem(replacing: #"input="13" widths"#, with: #"input="12" widths"#, mentioning: [#"input="12""#, "13 dense features"])
        Self.expectProblem(
            replacing: #"<bottom-mlp input="13" widths="512 256 64 16"/>"#, with: "<!-- none -->", at: "<dense",
            mentioning: ["13 dense features", "add a <bottom-mlp>"])
    }

    @Test func topMLPInputMustMatchTheInteraction() {
        // 6 features + dense vector = 7 vectors: 16 + 21 = 37.
        Self.expectProblem(replacing: #"<top-mlp widths"#, with: #"<top-mlp input="36" widths"#, mentioning: [#"input="36""#, "37"])
    }

    @Test func duplicateFeatureNames() {
        Self.expectProblem(
            replacing: #"name="C2" rows="583""#, with: #"name="C1" rows="583""#,
            mentioning: ["'C1' is already used at check.xml:\(Self.line(of: "C1", in: Self.valid))"])
        // A group member clashing with an earlier feature is reported once, on the group.
        Self.expectProblem(replacing: #"<feature name="C2""#, with: #"<feature name="g_2""#, at: "<group", mentioning: ["'g_2'"])
    }

    @Test func absurdSizesAreRefusedBeforeAllocating() {
        Self.expectProblem(replacing: #"count="4""#, with: #"count="1T""#, mentioning: [#"count="1T""#, "absurdly large"])
        Self.expectProblem(replacing: #"rows="1460""#, with: #"rows="1000T""#, mentioning: [#"rows="1000T""#, "absurdly large"])
        Self.expectProblem(replacing: #"rows="1460""#, with: #"rows="99999999999999999999999""#, mentioning: ["absurdly large"])
        Self.expectProblem(replacing: #"batch-per-gpu="128""#, with: #"batch-per-gpu="99999999999999999999999""#, mentioning: ["absurdly large"])
        // Groups that together pass the feature limit.
        let twoGroups = #"<group name="g" count="60k" rows="10"/><group name="h" count="60k" rows="10"/>"#
        Self.expectProblem(
            replacing: #"<group name="g" count="4" min-rows="1k" max-rows="1M" min-pooling="1" max-pooling="10"/>"#, with: twoGroups,
            mentioning: [#"name="h""#, "past \(WorkloadLoader.maximumFeatures)"])
    }

    @Test func spreadsNeedOrderedPairs() {
        Self.expectProblem(replacing: #"min-rows="1k""#, with: #"min-rows="10M""#, mentioning: ["min-rows", "above max-rows"])
        Self.expectProblem(replacing: #" max-rows="1M""#, with: "", at: "<group", mentioning: ["give either rows, or both min-rows and max-rows"])
        Self.expectProblem(replacing: #"count="4""#, with: #"count="4" rows="7""#, mentioning: ["give either rows"])
        Self.expectProblem(replacing: #"count="4""#, with: #"count="1.5""#, mentioning: [#"count="1.5""#, "whole number"])
    }

    @Test func wukongShapes() {
        let wukong = #"<interaction kind="wukong" layers="2" fm-embeddings="8" lcb-embeddings="8" fm-rank="24" mlp="64"/>"#
        let base = Self.valid.replacingOccurrences(of: #"<interaction kind="dot"/>"#, with: wukong)
        #expect((try? WorkloadLoader.load(data: Data(base.utf8), name: "check.xml")) != nil)
        for (original, replacement) in [
            (#"fm-embeddings="8""#, #"fm-embeddings="0""#), (#"lcb-embeddings="8""#, #"lcb-embeddings="-2""#),
            (#"fm-rank="24""#, #"fm-rank="0""#), (#"layers="2""#, #"layers="0""#),
        ] {
            let found = Self.problems(in: base.replacingOccurrences(of: original, with: replacement))
            #expect(found.count == 1 && found.first?.message.contains(replacement) == true, "\(found)")
            #expect(found.first?.location.line == Self.line(of: "kind=\"wukong\"", in: base))
        }
        let missing = Self.problems(in: base.replacingOccurrences(of: #" fm-rank="24""#, with: ""))
        #expect(missing.map(\.message) == [#"<interaction> needs a fm-rank attribute"#])
        // The dense vector must cut into D-wide embeddings.
        let odd = Self.problems(in: base.replacingOccurrences(of: "64 16\"", with: "64 24\""))
        #expect(odd.count == 1 && odd.first?.message.contains("multiple of the embedding dimension 16") == true)
    }

    @Test func attributesMustFitTheKind() {
        Self.expectProblem(
            replacing: #"<interaction kind="dot"/>"#, with: #"<interaction kind="dot" fm-rank="24"/>"#,
            mentioning: [#"fm-rank="24""#, "does not apply to kind 'dot'"])
        Self.expectProblem(
            replacing: #"<interaction kind="dot"/>"#, with: #"<interaction kind="dcn"/>"#, mentioning: ["needs a layers attribute"])
        Self.expectProblem(
            replacing: #"<tower-module kind="linear" compression="4"/>"#, with: #"<tower-module kind="identity" compression="4"/>"#,
            mentioning: ["does not apply to kind 'identity'"])
        Self.expectProblem(
            replacing: #"<tower-module kind="linear" compression="4"/>"#, with: #"<tower-module kind="mlp" compression="4"/>"#,
            mentioning: ["needs a hidden attribute"])
    }

    @Test func towerOutputWidth() {
        Self.expectProblem(replacing: #"compression="4""#, with: #"compression="0.5""#, mentioning: [#"compression="0.5""#, "at least 1"])
        Self.expectProblem(replacing: #"compression="4""#, with: #"compression="4" output-width="64""#, mentioning: ["not both"])
        Self.expectProblem(replacing: #" compression="4""#, with: "", at: "<tower-module", mentioning: ["needs its output width"])
        Self.expectProblem(replacing: #"compression="4""#, with: #"output-width="0""#, mentioning: [#"output-width="0""#])
    }

    @Test func learningRatesMustBePositiveAndFinite() {
        Self.expectProblem(
            replacing: #"<dense-optimizer kind="sgd" learning-rate="0.1"/>"#, with: #"<dense-optimizer kind="sgd" learning-rate="0"/>"#,
            mentioning: [#"learning-rate="0""#, "greater than 0"])
        Self.expectProblem(
            replacing: #"<dense-optimizer kind="sgd" learning-rate="0.1"/>"#, with: #"<dense-optimizer kind="sgd" learning-rate="NaN"/>"#,
            mentioning: [#"learning-rate="NaN""#, "finite"])
    }

    @Test func dataAttributes() {
        Self.expectProblem(replacing: #"zipf="1.1""#, with: #"zipf="-1""#, mentioning: [#"zipf="-1""#])
        Self.expectProblem(replacing: #"groups="4""#, with: #"groups="0""#, mentioning: [#"groups="0""#])
        let dataset = #"<data><dataset format="criteo-tsv" path="/data/day_0"/></data>"#
        let text = Self.valid.replacingOccurrences(of: #"<data><synthetic seed="7" zipf="1.1" groups="4" noise="0.1"/></data>"#, with: dataset)
        #expect((try? WorkloadLoader.load(data: Data(text.utf8), name: "check.xml"))?.data
            == .dataset(DatasetFile(format: .criteoTSV, path: "/data/day_0", location: SourceLocation(file: "check.xml", line: Self.line(of: "dataset", in: text)))))
    }

    @Test func everyProblemIsReportedInOnePass() {
        var text = Self.valid
        for (original, replacement) in [
            (#"rows="1460""#, #"rows="0""#), (#"pooling="2.5""#, #"pooling="0""#), (#"<interaction kind="dot"/>"#, #"<interaction kind="dott"/>"#),
            (#"compression="4""#, #"compression="0""#), (#"batch-per-gpu="128""#, #"batch-per-gpu="-1""#),
        ] {
            text = text.replacingOccurrences(of: original, with: replacement)
        }
        let found = Self.problems(in: text)
        #expect(found.map(\.location.line) == ["rows=", "pooling=", "kind=\"dott\"", "compression=", "batch-per-gpu"].map { Self.line(of: $0, in: text) })
        #expect(found.allSatisfy { $0.description.hasPrefix("check.xml:") })
    }
}
