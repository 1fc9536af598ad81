import Foundation
import SchemaXML
import Testing

@testable import Workload

/// workloads/README.md: its annotated example loads and has the numbers the text gives, its
/// quoted messages are the loader's, and its table of shipped workloads matches the files.
@Suite struct ReadmeExampleTests {
    static let workloads = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("workloads")

    static func readme() throws -> String {
        try String(contentsOf: workloads.appendingPathComponent("README.md"), encoding: .utf8)
    }

    /// The first ```xml block of the README, as a user would save it.
    static func example() throws -> String {
        let readme = try readme()
        let start = try #require(readme.range(of: "```xml\n"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        return String(readme[start.upperBound..<end.lowerBound])
    }

    static func load(_ text: String) throws(XMLDiagnostics) -> Workload {
        try WorkloadLoader.load(data: Data(text.utf8), name: "example.xml")
    }

    /// What the loader reports for `text`, which must be rejected.
    static func problems(in text: String) -> [XMLDiagnostic] {
        do {
            _ = try load(text)
            Issue.record("expected the file to be rejected")
            return []
        } catch {
            return error.diagnostics
        }
    }

    /// 1234567 → "1,234,567", as the README writes numbers.
    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return result
    }

    static func grouped(_ value: Double) -> String {
        #expect(value == value.rounded(), "\(value) is not whole")
        return grouped(Int(value))
    }

    @Test func grouping() {
        #expect(Self.grouped(0) == "0")
        #expect(Self.grouped(999) == "999")
        #expect(Self.grouped(1000) == "1,000")
        #expect(Self.grouped(1_065_693_393_664) == "1,065,693,393,664")
    }

    @Test func annotatedExample() throws {
        let readme = try Self.readme()
        let workload = try Self.load(try Self.example())
        let model = try #require(workload.recommendation)
        #expect(workload.name == "small-dlrm")

        // Features: four single ones, then the group expanded in place.
        #expect(model.features.map(\.name)
            == ["country", "device", "user_id", "interests", "history_0", "history_1", "history_2", "history_3", "history_4"])
        #expect(model.embeddingDimension == 16)
        #expect(model.features.allSatisfy { $0.hashSize == 40_000_000 && $0.idBytes == 8 })
        #expect(model.features[1].rows == 1500)
        #expect(model.features[2].rows == 100_000_000 && model.features[2].tableRows == 40_000_000)
        #expect(model.features[3].pooling == 12.5)
        let history = model.features.filter { $0.group == "history" }
        #expect(history.map(\.rows) == [10_000, 100_000, 1_000_000, 10_000_000, 100_000_000])
        #expect(history.map(\.tableRows) == [10_000, 100_000, 1_000_000, 10_000_000, 40_000_000])
        #expect(history.map(\.pooling) == [10, 20, 30, 40, 50])
        // The README's table of members gives the same numbers.
        for member in history {
            let row = "| `\(member.name)` | \(Self.grouped(member.rows)) | \(Self.grouped(member.tableRows)) | \(Self.grouped(member.pooling)) |"
            let stated = readme.contains(row)
            #expect(stated, "the README's table of members should have: \(row)")
        }

        // Sizes stated in the walk-through.
        let declaredRows = model.features.reduce(0) { $0 + $1.rows }
        let ids = model.features.reduce(0.0) { $0 + $1.pooling }
        let idBytes = model.features.reduce(0.0) { $0 + $1.idBytesPerSample }
        #expect(declaredRows == 211_116_750)
        #expect(model.totalTableRows == 91_116_750)
        #expect(model.embeddingParameterCount == 1_457_868_000)
        #expect(ids == 165.5 && idBytes == 1324)
        let precisions = workload.training.precisions
        let tableBytes = model.features.reduce(0.0) { $0 + $1.tableBytes(storage: precisions.embedding) }
        let stateBytes = Double(model.totalTableRows) * workload.training.sparseOptimizer.stateBytesPerRow(dimension: 16)
        #expect(tableBytes == 2_915_736_000)  // "2.92 GB"
        #expect(stateBytes == 364_467_000)  // "0.36 GB"

        // Dense part: 10 vectors, 61 values into the top MLP.
        #expect(model.denseFeatures == 13)
        #expect(model.bottomMLP == MLP(inputWidth: 13, layerWidths: [256, 64, 16]))
        #expect(model.interaction == .dot)
        #expect(model.interactionInput.vectors == 10)
        #expect(model.topMLP == MLP(inputWidth: 61, layerWidths: [256, 128, 1]))
        #expect(model.bottomMLP?.parameterCount == 21_072)
        #expect(model.topMLP.parameterCount == 48_897)
        #expect(model.denseParameterCount == 69_969)
        #expect(model.bottomMLP?.forwardFLOPs(batch: 1) == 41_472)
        #expect(model.interaction.forwardFLOPs(model.interactionInput, batch: 1) == 3_200)
        #expect(model.topMLP.forwardFLOPs(batch: 1) == 97_024)
        #expect(model.denseForwardFLOPs(batch: 1) == 141_696)
        #expect(model.denseBackwardFLOPs(batch: 1) == 280_192)

        // Tower module: d_t = ⌈F_t·16/4⌉ = 4·F_t; the five histories as one tower.
        #expect(model.towerModule == TowerModule(kind: .linear, output: .compression(4)))
        #expect((1...9).allSatisfy { model.towerModule.outputWidth(features: $0, dimension: 16) == 4 * $0 })
        #expect(model.towerModule.outputWidth(features: 5, dimension: 16) == 20)
        #expect(model.towerModule.parameterCount(features: 5, dimension: 16) == 1_620)
        #expect(model.towerModule.forwardFLOPs(features: 5, dimension: 16, batch: 1) == 3_200)

        // Training and data.
        #expect(workload.training.batchPerGPU == 512)
        #expect(precisions == Precisions(
            embedding: .fp16, forwardCommunication: .fp16, backwardCommunication: .bf16, compute: .bf16, gradientAllReduce: .fp32))
        #expect(workload.training.sparseOptimizer == SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.01))
        #expect(workload.training.denseOptimizer == DenseOptimizer(kind: .adam, learningRate: 0.001))
        guard case .synthetic(let data) = workload.data else {
            Issue.record("expected synthetic data")
            return
        }
        #expect(data.seed == 42 && data.samples == 10_000_000 && data.zipfExponent == 1.1 && data.groups == 3 && data.noise == 0.1)

        for number in [211_116_750, 91_116_750, 1_457_868_000, 1_324, 21_072, 48_897, 69_969, 41_472, 3_200, 97_024, 141_696, 280_192, 1_620] {
            let stated = readme.contains(Self.grouped(number))
            #expect(stated, "the README should state \(Self.grouped(number))")
        }
    }

    /// The messages the README quotes are the loader's, word for word and line for line.
    /// (text in the example, what replaces it, how the README describes the change)
    @Test(arguments: [
        (#"<bottom-mlp input="13" widths="256 64 16"/>"#, #"<bottom-mlp input="13" widths="256 64 32"/>"#, #"`widths="256 64 32"`"#),
        (#"<top-mlp widths="256 128 1"/>"#, #"<top-mlp input="60" widths="256 128 1"/>"#, #"`<top-mlp input="60" widths="256 128 1"/>`"#),
    ])
    func quotedMessages(original: String, replacement: String, described: String) throws {
        let readme = try Self.readme()
        let example = try Self.example()
        #expect(example.contains(original))
        let stated = readme.contains(described)
        #expect(stated, "the README should describe the change as \(described)")
        let problems = Self.problems(in: example.replacingOccurrences(of: original, with: replacement))
        #expect(problems.count == 1)
        for problem in problems {
            let quoted = readme.contains("\n\(problem.description)\n")
            #expect(quoted, "the README should quote: \(problem.description)")
        }
    }

    /// The schema error the README quotes comes from the line and value it names (libxml2 words it).
    @Test func quotedSchemaError() throws {
        let example = try Self.example()
        let problems = Self.problems(in: example.replacingOccurrences(of: #"hash-size="40M""#, with: #"hash-size="40K""#))
        #expect(problems.map(\.location.line) == [3])
        #expect(problems.allSatisfy { $0.message.contains("'hash-size'") && $0.message.contains("'40K'") })
        let quoted = try problems.allSatisfy { try Self.readme().contains("`example.xml:3: \($0.message)`") }
        #expect(quoted, "the README should quote the schema error for hash-size=\"40K\"")
    }

    // MARK: The table of shipped workloads

    struct Row {
        var cells: [String: String]
        subscript(_ column: String) -> String? { cells[column] }
    }

    /// Rows of the table under "## Shipped workloads", keyed by file name, cells keyed by header.
    static func shippedTable() throws -> [String: Row] {
        let readme = try readme()
        let section = try #require(readme.components(separatedBy: "## Shipped workloads").last)
        let lines = section.split(separator: "\n").filter { $0.hasPrefix("|") }
        let cells = { (line: Substring) in line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { $0.trimmingCharacters(in: .whitespaces) } }
        let header = try #require(lines.first.map(cells))
        var rows: [String: Row] = [:]
        for line in lines.dropFirst(2) {
            let values = cells(line)
            #expect(values.count == header.count, "\(line)")
            let file = values[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            rows[file] = Row(cells: Dictionary(uniqueKeysWithValues: zip(header, values)))
        }
        return rows
    }

    /// Shipped recommendation workloads (transformers have their own table); a file that does not
    /// load is kept, so the table checks report it.
    static let shippedFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workloads.path)) ?? []
        return names.filter { $0.hasSuffix(".xml") }.sorted().filter { name in
            (try? WorkloadLoader.load(path: workloads.appendingPathComponent(name).path))?.transformer == nil
        }
    }()

    @Test func everyShippedFileIsInTheTable() throws {
        #expect(!Self.shippedFiles.isEmpty)
        #expect(try Self.shippedTable().keys.sorted() == Self.shippedFiles)
    }

    @Test(arguments: shippedFiles)
    func tableMatchesTheFile(_ file: String) throws {
        let row = try #require(try Self.shippedTable()[file], "\(file) is not in the README's table")
        let workload = try WorkloadLoader.load(path: Self.workloads.appendingPathComponent(file).path)
        let model = try #require(workload.recommendation)
        #expect(row["features"] == Self.grouped(model.features.count))
        #expect(row["D"] == String(model.embeddingDimension))
        #expect(row["table rows"] == Self.grouped(model.totalTableRows))
        #expect(row["embedding parameters"] == Self.grouped(model.embeddingParameterCount))
        #expect(row["dense parameters"] == Self.grouped(model.denseParameterCount))
        #expect(row["dense FLOPs"] == Self.grouped(model.denseForwardFLOPs(batch: 1)))
        #expect(row["tower module"]?.hasPrefix(model.towerModule.kindName) == true, "\(String(describing: row["tower module"]))")
    }
}
