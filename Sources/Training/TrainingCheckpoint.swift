import Foundation
import Workload

/// A training run's complete state on disk: what `towerplan train --resume` continues from.
///
/// File layout (little-endian), chosen so a multi-GB model streams through without a JSON
/// encoding of its floats and so truncation or corruption is detected, not half-loaded:
///
///     "TPCKPT01"                       8 bytes, format and version
///     header length H                  UInt64
///     header                           H bytes of JSON: identity (workload, layout, data, batch,
///                                      seed, threads) and position (step, epoch, samples)
///     tensor count N                   UInt64
///     N × { name length, name UTF-8,   UInt32, bytes
///           value count C, C floats }  UInt64, C × Float32
///     FNV-1a 64 of everything above    UInt64
///
/// The per-step losses are stored as the tensor `trainer.losses`. Writes go to a temporary file
/// in the same directory that is renamed over the target, so a run killed mid-write leaves the
/// previous checkpoint intact.
public struct TrainingCheckpoint: Sendable {
    /// What must match for a checkpoint to be resumed by a run.
    public struct Identity: Sendable, Hashable, Codable {
        public var workload: String
        public var layout: [[Int]]?
        public var data: String
        public var batch: Int
        public var seed: UInt64
        public var threads: Int
        public var benchmarkPool: Int?
        public var baseline: Bool

        public init(workload: Workload, configuration: TrainingConfiguration) {
            self.workload = workload.name
            baseline = configuration.baseline
            if case .towers(let towers) = configuration.layout { layout = towers } else { layout = nil }
            data = configuration.data.description
            batch = configuration.batch
            seed = configuration.seed
            threads = configuration.threads
            benchmarkPool = configuration.benchmarkPool
        }

        /// The first field that differs from `other`, described, or nil.
        func mismatch(with other: Identity) -> String? {
            if workload != other.workload { return "workload \(workload), not \(other.workload)" }
            if baseline != other.baseline { return baseline ? "the logistic-regression baseline" : "the network, not the baseline" }
            if layout != other.layout { return "another layout (\(layout.map { "\($0.count) towers" } ?? "flat"))" }
            if data != other.data { return "data \(data), not \(other.data)" }
            if batch != other.batch { return "batch \(batch), not \(other.batch)" }
            if seed != other.seed { return "seed \(seed), not \(other.seed)" }
            if threads != other.threads { return "\(threads) threads, not \(other.threads): results are bit-identical only for the same thread count" }
            if benchmarkPool != other.benchmarkPool { return "another benchmark pool" }
            return nil
        }
    }

    struct Header: Codable {
        var identity: Identity
        var position: TrainingPosition
    }

    public var identity: Identity
    public var position: TrainingPosition
    public var losses: [Float]
    /// The model's `exportState()`.
    public var state: [String: [Float]]
    /// Where it was read from (for messages); empty for one built in memory.
    public var file = ""

    static let magic = Array("TPCKPT01".utf8)
    static let lossesKey = "trainer.losses"

    public init(identity: Identity, position: TrainingPosition, losses: [Float], state: [String: [Float]]) {
        self.identity = identity
        self.position = position
        self.losses = losses
        self.state = state
    }

    /// Writes the checkpoint atomically to `path` (creating its directory).
    public func write(to path: String) throws {
        var bytes = Self.magic
        let header = try JSONEncoder().encode(Header(identity: identity, position: position))
        bytes.appendInteger(UInt64(header.count))
        bytes.append(contentsOf: header)
        var tensors = state
        tensors[Self.lossesKey] = losses
        bytes.appendInteger(UInt64(tensors.count))
        for name in tensors.keys.sorted() {
            let utf8 = Array(name.utf8)
            bytes.appendInteger(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
            let values = tensors[name]!
            bytes.appendInteger(UInt64(values.count))
            values.withUnsafeBytes { raw in
                // Float32 bit patterns little-endian: copy as is on little-endian hosts.
                for value in raw.bindMemory(to: UInt32.self) { bytes.appendInteger(value) }
            }
        }
        bytes.appendInteger(Self.fnv1a(bytes[...]))
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
            try Data(bytes).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: temporary)
                throw CheckpointError(file: path, reason: "cannot move the new checkpoint into place: \(reason)")
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(file: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads and verifies a checkpoint; every malformed or truncated file is a `CheckpointError`.
    public static func read(from path: String) throws -> TrainingCheckpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(file: path, reason: "cannot be read (missing or not a file); train without --resume to start afresh")
        }
        let bytes = [UInt8](data)
        var reader = ByteReader(bytes: bytes, file: path)
        guard bytes.count >= magic.count + 8, Array(bytes[0 ..< magic.count]) == magic else {
            throw CheckpointError(file: path, reason: "is not a towerplan checkpoint (no TPCKPT01 header)")
        }
        let stored: UInt64 = bytes[(bytes.count - 8)...].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard fnv1a(bytes[..<(bytes.count - 8)]) == stored else {
            throw CheckpointError(file: path, reason: "is truncated or corrupted (checksum mismatch); delete it or resume from an older copy")
        }
        reader.offset = magic.count
        let headerLength = try reader.count(of: 1)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(try reader.take(headerLength)))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(file: path, reason: "has an unreadable header: \(error)")
        }
        var state: [String: [Float]] = [:]
        let tensorCount = try reader.count(of: 13)
        for _ in 0 ..< tensorCount {
            let nameLength = Int(try reader.integer(UInt32.self))
            guard let name = String(bytes: try reader.take(nameLength), encoding: .utf8) else {
                throw CheckpointError(file: path, reason: "has a tensor name that is not UTF-8")
            }
            let count = try reader.count(of: 4)
            let raw = try reader.take(count * 4)
            state[name] = raw.withUnsafeBytes { buffer in
                (0 ..< count).map { Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
        }
        guard reader.offset == bytes.count - 8 else { throw CheckpointError(file: path, reason: "has trailing bytes after its tensors") }
        let losses = state.removeValue(forKey: lossesKey) ?? []
        guard losses.count == header.position.step else {
            throw CheckpointError(file: path, reason: "records \(losses.count) losses for \(header.position.step) steps")
        }
        var checkpoint = TrainingCheckpoint(identity: header.identity, position: header.position, losses: losses, state: state)
        checkpoint.file = path
        return checkpoint
    }

    /// FNV-1a, 64-bit: cheap, and enough to catch truncation and bit rot (not an attacker).
    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

    /// Bounds-checked little-endian reads; every overrun is a `CheckpointError`.
    private struct ByteReader {
        let bytes: [UInt8]
        let file: String
        var offset = 0

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, count <= bytes.count - 8 - offset else {
                throw CheckpointError(file: file, reason: "is truncated: a field runs past the end of the file")
            }
            defer { offset += count }
            return bytes[offset ..< offset + count]
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            try take(MemoryLayout<T>.size).withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
        }

        /// A UInt64 count of items of `itemBytes` bytes each that must fit in what is left.
        mutating func count(of itemBytes: Int) throws -> Int {
            let value = try integer(UInt64.self)
            guard value <= UInt64(bytes.count / max(itemBytes, 1)) else {
                throw CheckpointError(file: file, reason: "is truncated or corrupted: a count of \(value) cannot fit in the file")
            }
            return Int(value)
        }
    }
}

/// A checkpoint that cannot be written or read.
public struct CheckpointError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let reason: String

    public var description: String { "checkpoint \(file) \(reason)" }
}

extension [UInt8] {
    fileprivate mutating func appendInteger<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
