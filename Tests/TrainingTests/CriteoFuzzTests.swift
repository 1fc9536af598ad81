import Foundation
import Testing
import Workload

@testable import Training

/// Seeded damage to Criteo files: the reader never crashes or hangs, every line of its split is
/// either a sample or a counted malformed line, it accepts exactly the lines an independent
/// restatement of the format accepts, and every sample it returns is well-formed.
@Suite struct CriteoFuzzTests {
    /// Bytes that break parsers: separators, line ends, signs, non-hex letters, NUL and non-ASCII.
    static let hostileBytes: [UInt8] = Array("\t\n\r-+.x g0F9".utf8) + [0, 0xFF, 0xC3]

    /// A file of `lines` valid lines with about one in three damaged.
    static func damagedFile(lines: Int, using generator: inout SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<lines {
            var line = Array(CriteoFixture.line(
                label: String(generator.next() % 2),
                integers: (0..<13).map { _ in String(Int(generator.next() % 2000) - 10) },
                categoricals: (0..<26).map { _ in String(generator.next() % 0x1_0000_0000, radix: 16) }).utf8)
            if generator.next() % 3 == 0 { damage(&line, using: &generator) }
            bytes += line + [0x0A]
        }
        if generator.next() % 2 == 0 { bytes.removeLast() }  // sometimes no final newline
        return bytes
    }

    static func damage(_ line: inout [UInt8], using generator: inout SeededGenerator) {
        let index = Int(generator.next() % UInt64(line.count))
        switch generator.next() % 5 {
        case 0: line[index] = hostileBytes[Int(generator.next() % UInt64(hostileBytes.count))]
        case 1: line.insert(hostileBytes[Int(generator.next() % UInt64(hostileBytes.count))], at: index)
        case 2: line.remove(at: index)
        case 3: line.removeSubrange(index...)
        default: line = (0..<Int(generator.next() % 600)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        }
    }

    /// Lines as the reader counts them: newline-terminated, plus an unterminated last one.
    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if bytes.last == 0x0A || bytes.isEmpty { lines.removeLast() }
        return lines
    }

    /// The reader's documented rules, restated independently: whether it must accept `line`.
    static func isValid(_ line: ArraySlice<UInt8>, bufferSize: Int) -> Bool {
        // The line and its newline must fit the buffer.
        guard line.count < bufferSize else { return false }
        let text = line.last == 0x0D ? line.dropLast() : line
        let fields = text.split(separator: 0x09, omittingEmptySubsequences: false)
        guard fields.count == 40, fields[0].elementsEqual([0x30]) || fields[0].elementsEqual([0x31]) else { return false }
        let isDigit = { (byte: UInt8) in (0x30...0x39).contains(byte) }
        let isHex = { (byte: UInt8) in isDigit(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte) }
        for field in fields[1...13] where !field.isEmpty {
            let digits = field.first == 0x2D ? field.dropFirst() : field
            guard (1...18).contains(digits.count) && digits.allSatisfy(isDigit) else { return false }
        }
        return fields[14...].allSatisfy { $0.count <= 16 && $0.allSatisfy(isHex) }
    }

    /// Samples the reader must return from `bytes` for `split`.
    static func expectedSamples(_ bytes: [UInt8], split: CriteoTSVReader.Split, bufferSize: Int) -> Int {
        lines(bytes).enumerated().filter { split.contains(line: $0.offset + 1) && isValid($0.element, bufferSize: bufferSize) }.count
    }

    @Test(arguments: 0..<8) func damagedFilesAreReadAndAccountedFor(round: Int) throws {
        let fixture = try CriteoFixture()
        var generator = SeededGenerator(seed: SeededGenerator.mix(2024, UInt64(round)))
        let bytes = Self.damagedFile(lines: 150, using: &generator)
        let path = try fixture.write(bytes)
        let bufferSize = [320, 512, 1000, 1 << 16][round % 4]
        let split: CriteoTSVReader.Split = [.all, .training(heldOutEvery: 3), .heldOut(every: 3)][round % 3]
        let reader = try CriteoTSVReader(path: path, tableRows: CriteoFixture.tableRows, split: split, bufferSize: bufferSize)
        if round % 2 == 1 { try reader.skip(samples: 5) }
        var returned = 0
        while let batch = try reader.next(size: 1 + Int(generator.next() % 40)) {
            returned += batch.count
            #expect(batch.labels.allSatisfy { $0 == 0 || $0 == 1 })
            #expect(batch.dense.allSatisfy { $0.isFinite && $0 >= 0 })
            for (column, rows) in zip(batch.sparse, CriteoFixture.tableRows) {
                #expect(column.offsets == (0...batch.count).map { Int32($0) })
                #expect(column.ids.allSatisfy { $0 >= 0 && Int($0) < rows })
            }
        }
        let lines = Self.lines(bytes).count
        let inSplit = (1...lines).filter { split.contains(line: $0) }.count
        let report = reader.report
        #expect(report.linesRead == lines)
        #expect(report.samples + report.malformedLines == inSplit)
        #expect(report.samples == Self.expectedSamples(bytes, split: split, bufferSize: bufferSize))
        #expect(report.samples > 0 && report.malformedLines > 0, "the damage should leave both kinds of lines")
        #expect(report.samples == returned + (round % 2 == 1 ? min(5, report.samples) : 0))
        #expect(report.firstProblems.count == min(report.malformedLines, CriteoTSVReader.recordedProblems))
        #expect(report.firstProblems.allSatisfy { (1...lines).contains($0.line) })
    }

    @Test func randomBytesNeverCrash() throws {
        let fixture = try CriteoFixture()
        var generator = SeededGenerator(seed: 77)
        for round in 0..<20 {
            let bytes = (0..<Int(generator.next() % 5000)).map { _ in
                generator.next() % 8 == 0 ? Self.hostileBytes[Int(generator.next() % UInt64(Self.hostileBytes.count))] : UInt8(truncatingIfNeeded: generator.next())
            }
            let reader = try CriteoTSVReader(path: try fixture.write(bytes, name: "random\(round).txt"), tableRows: CriteoFixture.tableRows, bufferSize: 64)
            while try reader.next(size: 16) != nil {}
            #expect(reader.report.samples + reader.report.malformedLines == Self.lines(bytes).count)
            #expect(reader.report.samples == Self.expectedSamples(bytes, split: .all, bufferSize: 64))
        }
    }
}
