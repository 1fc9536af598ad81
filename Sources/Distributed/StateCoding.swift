/// Named Float tensors as bytes, for gathering the parts of a model's state from the ranks that
/// hold them. Entries in name order; each is [UInt32 name length, UTF-8 name, UInt32 value count,
/// the values' IEEE bits], little-endian. Exact (bit patterns travel, NaNs included) and one
/// pass each way.
enum StateCoding {
    static func encode(_ state: [String: [Float]]) -> [UInt8] {
        var bytes: [UInt8] = []
        func append(_ word: UInt32) { withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) } }
        for name in state.keys.sorted() {
            let utf8 = Array(name.utf8), values = state[name]!
            append(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
            append(UInt32(values.count))
            for value in values { append(value.bitPattern) }
        }
        return bytes
    }

    /// The state `encode` wrote. The bytes come from this program's own ranks, so malformed input
    /// is a bug and stops the process.
    static func decode(_ bytes: [UInt8]) -> [String: [Float]] {
        var state: [String: [Float]] = [:]
        var cursor = 0
        func word() -> UInt32 {
            precondition(cursor + 4 <= bytes.count, "truncated state bytes")
            defer { cursor += 4 }
            return UInt32(bytes[cursor]) | UInt32(bytes[cursor + 1]) << 8 | UInt32(bytes[cursor + 2]) << 16 | UInt32(bytes[cursor + 3]) << 24
        }
        while cursor < bytes.count {
            let length = Int(word())
            precondition(cursor + length <= bytes.count, "truncated state bytes")
            let name = String(decoding: bytes[cursor ..< cursor + length], as: UTF8.self)
            cursor += length
            let count = Int(word())
            state[name] = (0 ..< count).map { _ in Float(bitPattern: word()) }
        }
        return state
    }
}
