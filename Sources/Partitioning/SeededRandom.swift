/// The seeded random generator of every partitioning strategy (SplitMix64: Steele, Lea & Flood 2014).
///
/// Why: a strategy's answer must replay from `--seed` on every platform, which
/// `SystemRandomNumberGenerator` cannot do. SplitMix64 is a counter pushed through a bijective
/// mixer: 8 bytes of state, O(1) per draw. Training has the same generator for the same reason;
/// Partitioning may not depend on Training (DESIGN §2), hence its own.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1) with 53 bits of precision.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
