/// SplitMix64: the one seeded random generator of towerplan (training, synthetic data, partitioning).
/// It lives in Workload, the leaf module every user of it depends on.
///
/// Why this generator: every random choice (parameter init, synthetic data, shuffles, partitioning
/// strategies) must replay bit-identically from a seed on every platform, which `SystemRandomNumberGenerator`
/// cannot do. SplitMix64 is a 64-bit counter pushed through a bijective mixer: one add and three
/// multiply–xorshift rounds per draw, no tables, 8 bytes of state, and independent streams are
/// cheap — `mix(seed, streamIndex)` gives a decorrelated seed for stream `streamIndex` (one per
/// table, per layer, per batch), so streams can be created in any order or in parallel and still
/// produce the same numbers.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The golden-ratio increment of SplitMix64 (Steele, Lea & Flood 2014).
    private static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    private var state: UInt64

    /// A generator whose stream is fully determined by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 uniformly distributed bits.
    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.finalize(state)
    }

    /// A uniform Float in [0, 1) with 24 bits of precision (every representable step equally likely).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A uniform Double in [0, 1) with 53 bits of precision.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A well-mixed hash of two words, for counter-based streams: `mix(seed, i)` is the seed of
    /// stream `i`, and `mix(mix(seed, i), j)` nests. Not symmetric: `mix(a, b) != mix(b, a)` in general.
    public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        finalize(finalize(a &+ increment) ^ (b &* 0xD6E8_FEB8_6659_FD93))
    }

    /// The SplitMix64 output function (a bijection on UInt64).
    private static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
