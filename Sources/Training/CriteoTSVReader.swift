import Foundation
import Workload

/// Streams the Criteo Kaggle / Terabyte text format as batches: one sample per line,
/// `label \t I1 … I13 \t C1 … C26`, 40 tab-separated columns.
///
/// - **Label**: `0` or `1`.
/// - **I1…I13** (dense): a decimal integer, or empty for 0. Negative values (Criteo has a few)
///   clamp to 0; the value x then becomes log(1 + x), DLRM's transform.
/// - **C1…C26** (sparse): up to 16 hexadecimal digits (Criteo writes 8), hashed into the
///   feature's table: id = 1 + ⌊mix(value, column) · (rows − 1) / 2⁶⁴⌋, with `SeededGenerator.mix`
///   so that columns sharing a value spread differently. An empty field takes the reserved id 0
///   ("missing"), which no value hashes to; a table of one row holds only id 0.
///
/// A line that breaks these rules — wrong column count, a label other than 0/1, an integer
/// that is not one or passes 18 digits, a non-hex or over-long categorical, an empty line, a
/// line longer than the buffer — is skipped and counted in `report` with the first few line
/// numbers and reasons; it never stops the stream. A final line without a newline is read; a
/// `\r` before the newline (CRLF files) is ignored.
///
/// Memory is constant: one buffer of `bufferSize` bytes (1 MiB by default) filled with `read(2)`,
/// parsed in place byte by byte; no `String` is made per line. Lines are split between a
/// training and a held-out stream by line number (`Split`), which is deterministic and
/// reproducible whatever the batch sizes.
public final class CriteoTSVReader: BatchSource {
    /// Dense (integer) columns.
    public static let integerColumns = 13
    /// Sparse (categorical) columns.
    public static let categoricalColumns = 26
    /// Line problems kept with their text in `report.firstProblems`; the rest are only counted.
    public static let recordedProblems = 10

    /// Which lines a reader serves, by 1-based line number n (every line counts, malformed or not).
    public enum Split: Sendable, Hashable {
        /// Every line.
        case all
        /// Lines with n not a multiple of `heldOutEvery` (≥ 2).
        case training(heldOutEvery: Int)
        /// Lines with n a multiple of `every` (≥ 2): with the same k, exactly the lines `training` leaves out.
        case heldOut(every: Int)

        func contains(line: Int) -> Bool {
            switch self {
            case .all: true
            case .training(let every): line % every != 0
            case .heldOut(let every): line % every == 0
            }
        }
    }

    public let path: String
    /// Rows of each of the 26 tables, in column order C1…C26.
    public let tableRows: [Int]
    public let split: Split
    /// What has been read so far, malformed lines included.
    public private(set) var report: CriteoReadReport

    public var featureCount: Int { Self.categoricalColumns }
    public var denseWidth: Int { Self.integerColumns }

    private let descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    /// Unconsumed bytes are `buffer[start ..< end]`; no newline lies in `buffer[start ..< scanned]`.
    private var start = 0, scanned = 0, end = 0
    private var atEndOfFile = false
    /// Set while skipping the rest of a line longer than the buffer.
    private var discarding = false
    /// log(1 + x) for x below 4096, where nearly all Criteo integers lie: a table lookup is several
    /// times cheaper than `log1p`, which otherwise takes a third of the parsing time.
    private let smallLogarithms = (0..<4096).map { Float(log1p(Double($0))) }

    /// Opens `path` for reading with 26 tables of `tableRows` rows.
    /// - Parameter bufferSize: bytes read at a time (≥ 64); a line with its newline must fit in it.
    /// - Throws: `CriteoError` when the file cannot be opened, the table list is not 26 sizes of
    ///   1 to 2³¹ − 1 rows, or the split's k is below 2.
    public init(path: String, tableRows: [Int], split: Split = .all, bufferSize: Int = 1 << 20) throws(CriteoError) {
        guard tableRows.count == Self.categoricalColumns else { throw .tableCount(tableRows.count) }
        if let bad = tableRows.firstIndex(where: { !(1...DataLimits.maximumTableRows).contains($0) }) {
            throw .tableRows(column: bad + 1, rows: tableRows[bad])
        }
        switch split {
        case .all: break
        case .training(let every), .heldOut(let every): if every < 2 { throw .split(every: every) }
        }
        precondition(bufferSize >= 64, "the read buffer must hold at least 64 bytes")
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        self.descriptor = descriptor
        self.path = path
        self.tableRows = tableRows
        self.split = split
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
        report = CriteoReadReport(file: path)
    }

    /// A reader for a workload shaped like Criteo (26 sparse features, 13 dense ones): its tables'
    /// `tableRows`, and its `<dataset format="criteo-tsv">` file unless `path` is given.
    public convenience init(workload: Workload, split: Split = .all, path: String? = nil) throws(CriteoError) {
        guard let model = workload.recommendation,
            model.features.count == Self.categoricalColumns, model.denseFeatures == Self.integerColumns
        else {
            let model = workload.recommendation
            throw .workloadShape(file: workload.file, sparse: model?.features.count ?? 0, dense: model?.denseFeatures ?? 0)
        }
        if let large = DataLimits.firstOversizedTable(in: model.features) {
            throw .tableTooLarge(feature: large.name, rows: large.tableRows, location: "\(large.location)")
        }
        let file: String
        if let path {
            file = path
        } else if case .dataset(let dataset) = workload.data, dataset.format == .criteoTSV {
            file = dataset.path
        } else {
            throw .noDataset(file: workload.file)
        }
        try self.init(path: file, tableRows: model.features.map(\.tableRows), split: split)
    }

    deinit {
        close(descriptor)
        buffer.deallocate()
    }

    // MARK: BatchSource

    /// The next `size` (≥ 1) valid samples of this split, fewer at the end of the file, nil after it.
    /// - Throws: `CriteoError.readFailed` when the file cannot be read (malformed lines never throw).
    public func next(size: Int) throws(CriteoError) -> SampleBatch? {
        precondition(size >= 1, "a batch needs at least one sample")
        var rows = RowSink(capacity: min(size, 1 << 16))
        while rows.labels.count < size, let line = try nextLine() {
            report.linesRead += 1
            guard split.contains(line: report.linesRead) else { continue }
            guard let bytes = line else {
                record(.tooLong(limit: buffer.count), text: nil)
                continue
            }
            if let failure = parse(bytes, into: &rows) {
                record(failure.reason, text: failure.field.map { bytes[$0] })
            } else {
                report.samples += 1
            }
        }
        return rows.labels.isEmpty ? nil : rows.batch(categoricalColumns: Self.categoricalColumns, denseWidth: Self.integerColumns)
    }

    /// Reads past `samples` valid samples of this split (O(their bytes): a text file has no index).
    public func skip(samples: Int) throws(CriteoError) {
        precondition(samples >= 0, "cannot skip a negative number of samples")
        var remaining = samples
        while remaining > 0, let batch = try next(size: min(remaining, 4096)) {
            remaining -= batch.count
        }
    }

    // MARK: Lines

    /// The next line without its newline, `.some(nil)` for a line longer than the buffer (its bytes
    /// are dropped), nil at the end of the file.
    private func nextLine() throws(CriteoError) -> UnsafeRawBufferPointer?? {
        while true {
            if let newline = memchr(buffer.baseAddress! + scanned, 0x0A, end - scanned) {
                let position = buffer.baseAddress!.distance(to: UnsafeMutableRawPointer(newline))
                return take(upTo: position, skipping: 1)
            }
            scanned = end
            if atEndOfFile {
                guard start < end || discarding else { return .none }
                return take(upTo: end, skipping: 0)
            }
            if start == 0 && end == buffer.count {
                // A whole buffer without a newline: drop it and skip to the next one.
                discarding = true
                end = 0
                scanned = 0
            } else if start > 0 {
                memmove(buffer.baseAddress!, buffer.baseAddress! + start, end - start)
                end -= start
                scanned -= start
                start = 0
            }
            let count = try fill()
            if count == 0 { atEndOfFile = true }
        }
    }

    /// Consumes `buffer[start ..< position]` and `skipping` bytes after it; nil for the tail of a long line.
    private func take(upTo position: Int, skipping: Int) -> UnsafeRawBufferPointer? {
        let line = UnsafeRawBufferPointer(rebasing: buffer[start ..< position])
        start = position + skipping
        scanned = start
        if discarding {
            discarding = false
            return nil
        }
        return line
    }

    /// Reads into `buffer[end...]`, retrying interrupted reads; the bytes read (0 at the end of the file).
    private func fill() throws(CriteoError) -> Int {
        while true {
            let count = read(descriptor, buffer.baseAddress! + end, buffer.count - end)
            if count >= 0 {
                end += count
                return count
            }
            if errno != EINTR { throw .readFailed(path: path, reason: String(cString: strerror(errno))) }
        }
    }

    // MARK: Parsing

    /// What is wrong with a line, and which bytes of it to quote.
    private struct Failure {
        var reason: CriteoLineProblem.Reason
        var field: Range<Int>?
    }

    /// Parses one line into `rows`, or leaves `rows` as it was and says what is wrong.
    private func parse(_ line: UnsafeRawBufferPointer, into rows: inout RowSink) -> Failure? {
        var length = line.count
        if length > 0 && line[length - 1] == 0x0D { length -= 1 }
        guard length > 0 else { return Failure(reason: .emptyLine) }
        let mark = rows.mark
        var position = 0
        for column in 0 ..< 1 + Self.integerColumns + Self.categoricalColumns {
            guard position <= length else {
                rows.rollBack(to: mark)
                return Failure(reason: .columnCount(found: column))
            }
            var fieldEnd = position
            while fieldEnd < length && line[fieldEnd] != 0x09 { fieldEnd += 1 }
            let field = position ..< fieldEnd
            position = fieldEnd + 1
            if let reason = parseField(column, line, field, into: &rows) {
                rows.rollBack(to: mark)
                return Failure(reason: reason, field: field)
            }
        }
        guard position > length else {
            rows.rollBack(to: mark)
            var columns = 41
            for index in position ..< length where line[index] == 0x09 { columns += 1 }
            return Failure(reason: .columnCount(found: columns))
        }
        return nil
    }

    /// Appends column `column` (0 the label, then I1…I13, C1…C26) to `rows`, or says what is wrong.
    private func parseField(_ column: Int, _ line: UnsafeRawBufferPointer, _ field: Range<Int>, into rows: inout RowSink)
        -> CriteoLineProblem.Reason?
    {
        switch column {
        case 0:
            guard let label = Self.label(line, field) else { return .label }
            rows.labels.append(label)
        case 1...Self.integerColumns:
            guard let value = Self.integer(line, field) else { return .integer(column: column) }
            rows.dense.append(value < smallLogarithms.count ? smallLogarithms[value] : Float(log1p(Double(value))))
        default:
            let feature = column - 1 - Self.integerColumns
            guard let value = Self.hexadecimal(line, field) else { return .categorical(column: feature + 1) }
            rows.ids.append(id(value: value, feature: feature))
        }
        return nil
    }

    /// The id of categorical `value` in feature `feature`'s table (see the type's documentation).
    private func id(value: UInt64?, feature: Int) -> Int32 {
        let rows = tableRows[feature]
        guard let value, rows > 1 else { return 0 }
        let hash = SeededGenerator.mix(value, UInt64(feature))
        return Int32(1 + UInt64(rows - 1).multipliedFullWidth(by: hash).high)
    }

    /// `0` or `1`.
    private static func label(_ line: UnsafeRawBufferPointer, _ field: Range<Int>) -> Float? {
        guard field.count == 1, line[field.lowerBound] == 0x30 || line[field.lowerBound] == 0x31 else { return nil }
        return Float(line[field.lowerBound] - 0x30)
    }

    /// An optionally negative decimal of at most 18 digits, negatives clamped to 0; empty is 0.
    private static func integer(_ line: UnsafeRawBufferPointer, _ field: Range<Int>) -> Int? {
        guard !field.isEmpty else { return 0 }
        let negative = line[field.lowerBound] == 0x2D
        let digits = field.dropFirst(negative ? 1 : 0)
        guard (1...18).contains(digits.count) else { return nil }
        var value = 0
        for index in digits {
            let digit = line[index] &- 0x30
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        return negative ? 0 : value
    }

    /// At most 16 hexadecimal digits (either case); `.some(nil)` when empty. Branch-free per
    /// digit: random hex mixes digits and letters unpredictably, and a branch on each byte was
    /// half of the reader's time.
    private static func hexadecimal(_ line: UnsafeRawBufferPointer, _ field: Range<Int>) -> UInt64?? {
        guard !field.isEmpty else { return .some(nil) }
        guard field.count <= 16 else { return nil }
        var value: UInt64 = 0
        var invalid = false
        for index in field {
            let byte = line[index]
            let isDigit = byte &- 0x30 < 10  // '0'…'9'
            let isLetter = (byte | 0x20) &- 0x61 < 6  // 'a'…'f', 'A'…'F'
            invalid = invalid || !(isDigit || isLetter)
            // '0'…'9' → 0…9; letters have bit 6 set and their low nibble is 1…6 → 10…15.
            value = value << 4 | UInt64((byte & 0x0F) &+ 9 &* (byte >> 6))
        }
        // Not a ternary: `invalid ? nil : value` would make the nil `.some(nil)`, an empty field.
        guard !invalid else { return .none }
        return value
    }

    /// Counts a malformed line and keeps the first few with their text.
    private func record(_ reason: CriteoLineProblem.Reason, text: UnsafeRawBufferPointer.SubSequence?) {
        report.malformedLines += 1
        guard report.firstProblems.count < Self.recordedProblems else { return }
        let quoted = text.map { String(decoding: $0.prefix(40), as: UTF8.self) + ($0.count > 40 ? "…" : "") }
        report.firstProblems.append(CriteoLineProblem(line: report.linesRead, reason: reason, text: quoted))
    }
}

/// The rows of a batch being parsed: labels, dense values row-major, and ids row-major (26 per
/// sample), transposed into CSR columns at the end.
private struct RowSink {
    var labels: [Float] = []
    var dense: [Float] = []
    var ids: [Int32] = []

    init(capacity: Int) {
        labels.reserveCapacity(capacity)
        dense.reserveCapacity(capacity * CriteoTSVReader.integerColumns)
        ids.reserveCapacity(capacity * CriteoTSVReader.categoricalColumns)
    }

    var mark: (Int, Int, Int) { (labels.count, dense.count, ids.count) }

    mutating func rollBack(to mark: (Int, Int, Int)) {
        labels.removeSubrange(mark.0...)
        dense.removeSubrange(mark.1...)
        ids.removeSubrange(mark.2...)
    }

    func batch(categoricalColumns: Int, denseWidth: Int) -> SampleBatch {
        let count = labels.count
        let offsets = (0...count).map { Int32($0) }
        let sparse = (0..<categoricalColumns).map { feature in
            SparseColumn(offsets: offsets, ids: (0..<count).map { ids[$0 * categoricalColumns + feature] })
        }
        return SampleBatch(count: count, denseWidth: denseWidth, dense: dense, sparse: sparse, labels: labels)
    }
}

/// What a `CriteoTSVReader` has read so far.
public struct CriteoReadReport: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// Lines consumed, of every split, malformed or not.
    public var linesRead = 0
    /// Valid samples of the reader's split returned or skipped.
    public var samples = 0
    /// Malformed lines of the reader's split: skipped, not returned.
    public var malformedLines = 0
    /// The first `CriteoTSVReader.recordedProblems` malformed lines.
    public var firstProblems: [CriteoLineProblem] = []

    public init(file: String) { self.file = file }

    public var description: String {
        var text = "\(file): \(samples) samples from \(linesRead) lines, \(malformedLines) malformed"
        for problem in firstProblems { text += "\n  \(file):\(problem)" }
        if malformedLines > firstProblems.count { text += "\n  … and \(malformedLines - firstProblems.count) more" }
        return text
    }
}

/// One malformed line.
public struct CriteoLineProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        case emptyLine
        /// Not 40 tab-separated columns.
        case columnCount(found: Int)
        /// The label is not 0 or 1.
        case label
        /// Integer column I`column` (1…13) is not a decimal integer of at most 18 digits.
        case integer(column: Int)
        /// Categorical column C`column` (1…26) is not 1 to 16 hexadecimal digits.
        case categorical(column: Int)
        /// The line is longer than the read buffer.
        case tooLong(limit: Int)
    }

    /// 1-based line number.
    public var line: Int
    public var reason: Reason
    /// The offending field (its first 40 bytes), when one is at fault.
    public var text: String?

    public var description: String {
        let quoted = text.map { "'\($0)'" } ?? ""
        return switch reason {
        case .emptyLine: "\(line): empty line"
        case .columnCount(let found): "\(line): \(found) columns, expected 40 (label, I1…I13, C1…C26, tab-separated)"
        case .label: "\(line): label \(quoted) is not 0 or 1"
        case .integer(let column): "\(line): I\(column) \(quoted) is not a decimal integer of at most 18 digits"
        case .categorical(let column): "\(line): C\(column) \(quoted) is not 1 to 16 hexadecimal digits"
        case .tooLong(let limit): "\(line): longer than \(limit) bytes; pass a larger bufferSize if such lines are real"
        }
    }
}

/// Why a Criteo file cannot be read at all (malformed lines are not errors: see `CriteoReadReport`).
public enum CriteoError: Error, Sendable, Hashable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case readFailed(path: String, reason: String)
    case workloadShape(file: String, sparse: Int, dense: Int)
    case noDataset(file: String)
    case tableTooLarge(feature: String, rows: Int, location: String)
    case tableCount(Int)
    case tableRows(column: Int, rows: Int)
    case split(every: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "\(path): cannot open the Criteo file: \(reason)"
        case .readFailed(let path, let reason): "\(path): reading failed: \(reason)"
        case .workloadShape(let file, let sparse, let dense):
            "\(file): Criteo data has 26 categorical and 13 integer columns, but the workload has \(sparse) sparse and \(dense) dense features; use a workload of that shape such as workloads/dlrm-criteo-kaggle.xml"
        case .noDataset(let file):
            "\(file): the workload names no <dataset format=\"criteo-tsv\" path=…>; add one or pass the file's path"
        case .tableTooLarge(let feature, let rows, let location):
            DataLimits.oversizedTableMessage(feature: feature, rows: rows, location: location)
        case .tableCount(let count): "Criteo data needs 26 table sizes (C1…C26), got \(count)"
        case .tableRows(let column, let rows): "table C\(column) has \(rows) rows; each table needs 1 to \(DataLimits.maximumTableRows)"
        case .split(let every): "a held-out split of every \(every)th line needs k ≥ 2"
        }
    }
}
