import Foundation

/// Human units at the edges, SI values (bytes, seconds, FLOP/s) inside.
///
/// Accepted forms (case of the prefix matters: `M` is mega, `m` is milli):
/// - bandwidth: `400Gb/s`, `450GB/s`, `64GiB/s`, `3.35TB/s`, `100Mbps`, `25Gbps` → bytes per second
/// - sizes: `80GB`, `80GiB`, `512MiB`, `1024` → bytes
/// - durations: `2us`, `500ns`, `1.5ms`, `1s` (`µs` also accepted) → seconds
/// - compute: `989TFLOP/s`, `989TFLOPS`, `67 TFLOPS` → floating-point operations per second
/// - ratios: `1:7`, `7:1`, `7` → 7.0 (oversubscription: downlink capacity / uplink capacity)
public enum Units {
    public enum Kind: String, Sendable {
        case bandwidth, size, duration, flops, ratio
    }

    /// A value that could not be parsed, with the reason; loaders attach the location.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var text: String
        public var kind: Kind
        public var reason: String
        public var description: String { "'\(text)' is not a valid \(kind.rawValue): \(reason)" }
    }

    private static let decimalPrefixes: [Character: Double] = [
        "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    ]
    private static let binaryPrefixes: [String: Double] = [
        "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824, "Ti": 1_099_511_627_776, "Pi": 1_125_899_906_842_624,
    ]

    /// Splits "3.35TB/s" into (3.35, "TB/s"); rejects NaN, infinities and empty numbers.
    private static func split(_ text: String, kind: Kind) throws(ParseError) -> (Double, String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var numberEnd = trimmed.startIndex
        for index in trimmed.indices {
            let character = trimmed[index]
            if character.isNumber || character == "." || character == "-" || character == "+"
                || ((character == "e" || character == "E") && index != trimmed.startIndex
                    && trimmed[trimmed.index(after: index)...].first.map { $0.isNumber || $0 == "-" || $0 == "+" } == true)
            {
                numberEnd = trimmed.index(after: index)
            } else {
                break
            }
        }
        let numberText = trimmed[..<numberEnd]
        guard let value = Double(numberText), value.isFinite else {
            throw ParseError(text: text, kind: kind, reason: "expected a number followed by a unit")
        }
        let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces)
        return (value, unit)
    }

    /// Multiplier of a unit prefix such as "G", "Gi", "" (1), or nil when unknown.
    private static func prefixMultiplier(_ prefix: Substring) -> Double? {
        if prefix.isEmpty { return 1 }
        if let binary = binaryPrefixes[String(prefix)] { return binary }
        if prefix.count == 1, let decimal = decimalPrefixes[prefix.first!] { return decimal }
        return nil
    }

    private static func positive(_ value: Double, _ text: String, _ kind: Kind) throws(ParseError) -> Double {
        guard value.isFinite else { throw ParseError(text: text, kind: kind, reason: "too large") }
        guard value > 0 else { throw ParseError(text: text, kind: kind, reason: "must be greater than zero") }
        return value
    }

    /// Bandwidth in bytes per second. `b` is bits, `B` is bytes.
    public static func bandwidth(_ text: String) throws(ParseError) -> Double {
        let (value, unit) = try split(text, kind: .bandwidth)
        var body = Substring(unit)
        if body.hasSuffix("/s") { body = body.dropLast(2) } else if body.hasSuffix("ps") { body = body.dropLast(2) } else {
            throw ParseError(text: text, kind: .bandwidth, reason: "the unit must end in /s, as in 400Gb/s or 450GB/s")
        }
        guard let last = body.last, last == "b" || last == "B" else {
            throw ParseError(text: text, kind: .bandwidth, reason: "say b (bits) or B (bytes), as in 400Gb/s or 450GB/s")
        }
        guard let multiplier = prefixMultiplier(body.dropLast()) else {
            throw ParseError(text: text, kind: .bandwidth, reason: "unknown prefix '\(body.dropLast())'")
        }
        return try positive(value * multiplier / (last == "b" ? 8 : 1), text, .bandwidth)
    }

    /// A size in bytes (`80GB`, `80GiB`, a plain number of bytes).
    public static func size(_ text: String) throws(ParseError) -> Double {
        let (value, unit) = try split(text, kind: .size)
        var body = Substring(unit)
        if body.hasSuffix("B") { body = body.dropLast() } else if !body.isEmpty {
            throw ParseError(text: text, kind: .size, reason: "the unit must end in B, as in 80GB or 80GiB")
        }
        guard let multiplier = prefixMultiplier(body) else {
            throw ParseError(text: text, kind: .size, reason: "unknown prefix '\(body)'")
        }
        return try positive(value * multiplier, text, .size)
    }

    /// A duration in seconds. Zero is allowed (an idealised link).
    public static func duration(_ text: String) throws(ParseError) -> Double {
        let (value, unit) = try split(text, kind: .duration)
        let scale: Double
        switch unit {
        case "s": scale = 1
        case "ms": scale = 1e-3
        case "us", "µs", "μs": scale = 1e-6
        case "ns": scale = 1e-9
        default: throw ParseError(text: text, kind: .duration, reason: "use s, ms, us or ns")
        }
        guard value >= 0 else { throw ParseError(text: text, kind: .duration, reason: "must not be negative") }
        return value * scale
    }

    /// Compute throughput in FLOP/s (`989TFLOP/s` or `989TFLOPS`).
    public static func flops(_ text: String) throws(ParseError) -> Double {
        let (value, unit) = try split(text, kind: .flops)
        var body = Substring(unit)
        if body.hasSuffix("FLOP/s") { body = body.dropLast(6) } else if body.hasSuffix("FLOPS") { body = body.dropLast(5) } else {
            throw ParseError(text: text, kind: .flops, reason: "the unit must be FLOP/s or FLOPS, as in 989TFLOP/s")
        }
        guard let multiplier = prefixMultiplier(body), body.count <= 1 else {
            throw ParseError(text: text, kind: .flops, reason: "unknown prefix '\(body)'")
        }
        return try positive(value * multiplier, text, .flops)
    }

    /// An oversubscription ratio `down:up` (`1:7` means uplinks carry 1/7 of the downlink
    /// capacity) or a bare factor `7`. Always at least 1.
    public static func ratio(_ text: String) throws(ParseError) -> Double {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let factor: Double
        switch parts.count {
        case 1:
            guard let value = Double(parts[0].trimmingCharacters(in: .whitespaces)) else {
                throw ParseError(text: text, kind: .ratio, reason: "expected 1:N or N")
            }
            factor = value
        case 2:
            guard let left = Double(parts[0].trimmingCharacters(in: .whitespaces)),
                let right = Double(parts[1].trimmingCharacters(in: .whitespaces)), left > 0, right > 0
            else { throw ParseError(text: text, kind: .ratio, reason: "expected 1:N with positive numbers") }
            // Both spellings are in use: "1:7" (DESIGN.md, Llama 3 paper) and "7:1".
            if left == 1 {
                factor = right
            } else if right == 1 {
                factor = left
            } else {
                throw ParseError(text: text, kind: .ratio, reason: "one side must be 1, as in 1:7")
            }
        default:
            throw ParseError(text: text, kind: .ratio, reason: "expected 1:N or N")
        }
        guard factor.isFinite, factor >= 1 else {
            throw ParseError(
                text: text, kind: .ratio,
                reason: "oversubscription must be at least 1:1 (uplinks cannot carry more than the downlinks feed them)")
        }
        return factor
    }

    // MARK: Formatting

    private static func scaled(_ value: Double, units: [(Double, String)]) -> String {
        for (scale, name) in units where abs(value) >= scale {
            return trim(value / scale) + name
        }
        return trim(value / units.last!.0) + units.last!.1
    }

    private static func trim(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int64(rounded)) }
        return String(format: "%.3g", value)
    }

    /// `50e9` → "400Gb/s" (network convention: bits).
    public static func formatBits(perSecond bytesPerSecond: Double) -> String {
        scaled(bytesPerSecond * 8, units: [(1e15, "Pb/s"), (1e12, "Tb/s"), (1e9, "Gb/s"), (1e6, "Mb/s"), (1, "b/s")])
    }

    /// `450e9` → "450GB/s".
    public static func formatBytes(perSecond bytesPerSecond: Double) -> String {
        scaled(bytesPerSecond, units: [(1e15, "PB/s"), (1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1, "B/s")])
    }

    /// `80e9` → "80GB".
    public static func formatBytes(_ bytes: Double) -> String {
        scaled(bytes, units: [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")])
    }

    /// `2e-6` → "2us".
    public static func formatDuration(_ seconds: Double) -> String {
        if seconds == 0 { return "0s" }
        return scaled(seconds, units: [(1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")])
    }

    /// `989e12` → "989TFLOP/s".
    public static func formatFLOPS(_ flops: Double) -> String {
        scaled(flops, units: [(1e15, "PFLOP/s"), (1e12, "TFLOP/s"), (1e9, "GFLOP/s"), (1, "FLOP/s")])
    }

    /// `7` → "1:7".
    public static func formatRatio(_ factor: Double) -> String { "1:" + trim(factor) }
}
