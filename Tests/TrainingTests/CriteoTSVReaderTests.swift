import Foundation
import Testing
import Workload

@testable import Training

/// Criteo files written by the tests, in a fresh temporary folder per test.
struct CriteoFixture: ~Copyable {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("criteo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    /// Writes `bytes` to a file named `name` and returns its path.
    func write(_ bytes: some Sequence<UInt8>, name: String = "train.txt") throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A valid line: `label`, integers `I1…I13` (nil is empty) and categoricals `C1…C26`.
    static func line(label: String = "0", integers: [String] = Array(repeating: "1", count: 13), categoricals: [String]? = nil) -> String {
        let categoricals = categoricals ?? (0..<26).map { String(format: "%08x", $0 * 7919 + 1) }
        return ([label] + integers + categoricals).joined(separator: "\t")
    }

    /// Tables of 1,000 rows, but C2 with one row.
    static let tableRows = (0..<26).map { $0 == 1 ? 1 : 1000 }
}

@Suite struct CriteoTSVReaderTests {
    /// Reads every batch of `reader`, `size` samples at a time.
    static func all(_ reader: CriteoTSVReader, size: Int = 1000) throws -> [SampleBatch] {
        var batches: [SampleBatch] = []
        while let batch = try reader.next(size: size) { batches.append(batch) }
        return batches
    }

    /// The id the reader's documented hash gives hex `value` in column C`column` with `rows` rows.
    static func hashed(_ value: UInt64, column: Int, rows: Int) -> Int32 {
        Int32(1 + UInt64(rows - 1).multipliedFullWidth(by: SeededGenerator.mix(value, UInt64(column - 1))).high)
    }

    @Test func oneLineRoundTripsToAHandComputedBatch() throws {
        let fixture = try CriteoFixture()
        var integers = (1...13).map(String.init)
        integers[1] = ""  // I2 empty → 0
        integers[2] = "-3"  // I3 negative → 0
        integers[12] = "1000000"
        var categoricals = (0..<26).map { String(format: "%08x", 0x1000 + $0) }
        categoricals[4] = ""  // C5 empty → reserved id 0
        categoricals[7] = "ABCDEF01"  // upper case
        let path = try fixture.write(Array((CriteoFixture.line(label: "1", integers: integers, categoricals: categoricals) + "\n").utf8))
        let reader = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows)
        let batch = try #require(try reader.next(size: 10))
        var dense = (1...13).map { Float(log1p(Double($0))) }
        dense[1] = 0
        dense[2] = 0
        dense[12] = Float(log1p(1_000_000.0))
        let ids: [Int32] = (1...26).map { column in
            switch column {
            case 2: 0  // a one-row table holds only id 0
            case 5: 0
            case 8: Self.hashed(0xABCD_EF01, column: 8, rows: 1000)
            default: Self.hashed(UInt64(0x1000 + column - 1), column: column, rows: 1000)
            }
        }
        let expected = SampleBatch(
            count: 1, denseWidth: 13, dense: dense, sparse: ids.map { SparseColumn(offsets: [0, 1], ids: [$0]) }, labels: [1])
        #expect(batch == expected)
        #expect(ids.allSatisfy { (0..<1000).contains($0) })
        #expect(try reader.next(size: 10) == nil)
        #expect(reader.report.samples == 1 && reader.report.malformedLines == 0 && reader.report.linesRead == 1)
    }

    @Test func crlfAndAMissingFinalNewlineReadTheSame() throws {
        let fixture = try CriteoFixture()
        let lines = (0..<5).map { CriteoFixture.line(label: String($0 % 2), integers: Array(repeating: String($0), count: 13)) }
        let unix = try fixture.write(Array((lines.joined(separator: "\n") + "\n").utf8), name: "unix.txt")
        let windows = try fixture.write(Array((lines.joined(separator: "\r\n") + "\r\n").utf8), name: "windows.txt")
        let unterminated = try fixture.write(Array(lines.joined(separator: "\n").utf8), name: "unterminated.txt")
        let reference = try Self.all(CriteoTSVReader(path: unix, tableRows: CriteoFixture.tableRows))
        #expect(reference.map(\.count) == [5])
        #expect(reference[0].labels == [0, 1, 0, 1, 0])
        for path in [windows, unterminated] {
            let reader = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows)
            #expect(try Self.all(reader) == reference)
            #expect(reader.report.malformedLines == 0)
        }
    }

    /// Every kind of malformed line is skipped, counted, and reported with its line number.
    @Test func malformedLinesAreCountedWithTheirReasons() throws {
        let fixture = try CriteoFixture()
        // Short categoricals, so that lines fit the small buffer that makes the last one too long.
        let short = Array(repeating: "0a", count: 26)
        let good = CriteoFixture.line(categoricals: short)
        let integer = { (text: String) in CriteoFixture.line(integers: ["1", "1", "1", text] + Array(repeating: "1", count: 9), categoricals: short) }
        let categorical = { (text: String) in CriteoFixture.line(categoricals: short.dropLast() + [text]) }
        let malformed: [(String, CriteoLineProblem.Reason)] = [
            ((0..<39).map { _ in "1" }.joined(separator: "\t"), .columnCount(found: 39)),
            (good + "\textra", .columnCount(found: 41)),
            (CriteoFixture.line(label: "2", categoricals: short), .label),
            (CriteoFixture.line(label: "", categoricals: short), .label),
            (integer("1.5"), .integer(column: 4)),
            (integer("1234567890123456789"), .integer(column: 4)),
            (integer("-"), .integer(column: 4)),
            (categorical("xyz"), .categorical(column: 26)),
            (categorical("0123456789abcdef0"), .categorical(column: 26)),
            ("", .emptyLine),
            (good + "\t" + String(repeating: "f", count: 300), .tooLong(limit: 256)),
        ]
        var lines = [good]
        for (line, _) in malformed { lines += [line, good] }
        let path = try fixture.write(Array((lines.joined(separator: "\n") + "\n").utf8))
        let reader = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, bufferSize: 256)
        let batches = try Self.all(reader, size: 5)
        #expect(batches.map(\.count).reduce(0, +) == malformed.count + 1)
        #expect(reader.report.samples == malformed.count + 1)
        #expect(reader.report.malformedLines == malformed.count)
        #expect(reader.report.linesRead == lines.count)
        let recorded = reader.report.firstProblems
        #expect(recorded.count == CriteoTSVReader.recordedProblems)
        #expect(recorded.map(\.line) == (0..<CriteoTSVReader.recordedProblems).map { 2 + 2 * $0 })
        #expect(recorded.map(\.reason) == malformed.prefix(CriteoTSVReader.recordedProblems).map(\.1))
        #expect(recorded[2].description == "6: label '2' is not 0 or 1")
        #expect(recorded[4].description == "10: I4 '1.5' is not a decimal integer of at most 18 digits")
        #expect(reader.report.description.contains("train.txt:16: C26 'xyz' is not 1 to 16 hexadecimal digits"))
        #expect(reader.report.description.hasSuffix("… and 1 more"))
    }

    @Test func buffersOfAnySizeGiveTheSameBatches() throws {
        let fixture = try CriteoFixture()
        var generator = SeededGenerator(seed: 9)
        let lines = (0..<60).map { _ in
            CriteoFixture.line(
                label: String(generator.next() % 2),
                integers: (0..<13).map { _ in generator.next() % 3 == 0 ? "" : String(generator.next() % 5000) },
                categoricals: (0..<26).map { _ in generator.next() % 4 == 0 ? "" : String(generator.next() % 0xFFFF_FFFF, radix: 16) })
        }
        let path = try fixture.write(Array((lines.joined(separator: "\n") + "\n").utf8))
        let reference = try Self.all(CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows), size: 60)
        #expect(reference.map(\.count) == [60])
        // Lines are up to about 300 bytes, so small buffers hold one or two and lines straddle refills.
        for bufferSize in [320, 333, 512, 4096] {
            let reader = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, bufferSize: bufferSize)
            #expect(try Self.all(reader, size: 60) == reference, "buffer of \(bufferSize) bytes")
            #expect(reader.report.malformedLines == 0)
        }
    }

    @Test func splitsPartitionTheLinesAndSkipResumes() throws {
        let fixture = try CriteoFixture()
        let lines = (0..<50).map { CriteoFixture.line(integers: Array(repeating: String($0), count: 13)) }
        let path = try fixture.write(Array((lines.joined(separator: "\n") + "\n").utf8))
        let training = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, split: .training(heldOutEvery: 5))
        let heldOut = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, split: .heldOut(every: 5))
        // I1 holds log(1 + i) for the line of index i (line number i + 1).
        let firstColumn = { (batches: [SampleBatch]) in batches.flatMap { batch in (0..<batch.count).map { batch.dense[$0 * 13] } } }
        let trainingValues = firstColumn(try Self.all(training, size: 7))
        let heldOutValues = firstColumn(try Self.all(heldOut, size: 7))
        #expect(heldOutValues == [4, 9, 14, 19, 24, 29, 34, 39, 44, 49].map { Float(log1p(Double($0))) })
        #expect(trainingValues.count == 40 && Set(trainingValues).isDisjoint(with: heldOutValues))
        #expect(training.report.linesRead == 50 && heldOut.report.samples == 10)
        // Skipping 13 training samples, then reading, gives the rest.
        let resumed = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, split: .training(heldOutEvery: 5))
        try resumed.skip(samples: 13)
        #expect(firstColumn(try Self.all(resumed, size: 4)) == Array(trainingValues[13...]))
        #expect(resumed.report.samples == 40)
    }

    @Test func workloadGivesTablesAndPath() throws {
        let fixture = try CriteoFixture()
        let path = try fixture.write(Array((CriteoFixture.line() + "\n").utf8))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let kaggle = try WorkloadLoader.load(path: root.appendingPathComponent("workloads/dlrm-criteo-kaggle.xml").path)
        let reader = try CriteoTSVReader(workload: kaggle, path: path)
        #expect(reader.tableRows == kaggle.features.map(\.tableRows))
        let batch = try #require(try reader.next(size: 4))
        #expect(zip(batch.sparse, reader.tableRows).allSatisfy { column, rows in column.ids.allSatisfy { Int($0) < rows } })
        // Without a path, the workload's own dataset, which this checkout does not have.
        let missing = #expect(throws: CriteoError.self) { try CriteoTSVReader(workload: kaggle) }
        #expect(missing?.description.contains("data/criteo-kaggle/train.txt: cannot open the Criteo file") == true)
        let prod = try WorkloadLoader.load(path: root.appendingPathComponent("workloads/prod-512.xml").path)
        let shape = #expect(throws: CriteoError.self) { try CriteoTSVReader(workload: prod, path: path) }
        #expect(shape == .workloadShape(file: prod.file, sparse: 512, dense: 256))
    }

    @Test func unreadableInputIsATypedError() throws {
        let fixture = try CriteoFixture()
        #expect(throws: CriteoError.self) { try CriteoTSVReader(path: fixture.folder.path + "/absent.txt", tableRows: CriteoFixture.tableRows) }
        let directory = try CriteoTSVReader(path: fixture.folder.path, tableRows: CriteoFixture.tableRows)
        #expect(throws: CriteoError.self) { try directory.next(size: 1) }
        #expect(throws: CriteoError.tableCount(3)) { try CriteoTSVReader(path: "x", tableRows: [1, 2, 3]) }
        #expect(throws: CriteoError.tableRows(column: 1, rows: 0)) { try CriteoTSVReader(path: "x", tableRows: [0] + Array(repeating: 5, count: 25)) }
        #expect(throws: CriteoError.split(every: 1)) { try CriteoTSVReader(path: "x", tableRows: CriteoFixture.tableRows, split: .heldOut(every: 1)) }
    }

    @Test func anEmptyFileHasNoBatches() throws {
        let fixture = try CriteoFixture()
        let reader = try CriteoTSVReader(path: try fixture.write([UInt8]()), tableRows: CriteoFixture.tableRows)
        #expect(try reader.next(size: 3) == nil)
        #expect(reader.report.linesRead == 0)
    }
}
