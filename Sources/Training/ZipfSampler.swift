import Foundation
import Workload

/// Exact Zipf draws over `0 ..< count`: P(id = r) ∝ (r + 1)^−s, so id 0 is the most popular and
/// s = 0 is uniform. Used by the synthetic generator for categorical ids, whose frequencies in
/// real logs follow a power law.
///
/// Why rejection-inversion (Hörmann & Derflinger, "Rejection-inversion to generate variates from
/// monotone discrete distributions", ACM TOMACS 1996; the form Apache Commons RNG ships): it is
/// exact for every s ≥ 0 and every table size, with O(1) set-up and O(1) memory — an alias table
/// or a cumulative array would cost O(rows) memory per table, 100 MB for a 10⁷-row table. Each
/// draw inverts the integral of the continuous envelope h(x) = x^−s at one uniform number and
/// accepts the rounded result unless a cheap squeeze test fails: measured over s from 0 to 10³⁰⁰
/// and 10 to 2³¹ ids, a draw takes at most 1.02 uniform numbers on average, plus a `log` and an
/// `exp`. Huge exponents (everything on id 0) neither trap nor loop.
public struct ZipfSampler: Sendable, Hashable {
    /// Number of ids (≥ 1).
    public let count: Int
    /// The exponent s ≥ 0.
    public let exponent: Double

    /// H(1.5) − 1: the lower end of the uniform variate's range (excluded).
    private let integralLow: Double
    /// H(count + 0.5): the upper end (included).
    private let integralHigh: Double
    /// Below this distance from the inverted point, acceptance needs no further check.
    private let squeeze: Double

    /// - Precondition: `count ≥ 1` and `exponent` finite and ≥ 0 (callers validate input first).
    public init(count: Int, exponent: Double) {
        precondition(count >= 1 && exponent >= 0 && exponent.isFinite, "a Zipf law needs ids and a finite exponent ≥ 0")
        self.count = count
        self.exponent = exponent
        integralLow = Self.integral(1.5, exponent) - 1
        integralHigh = Self.integral(Double(count) + 0.5, exponent)
        squeeze = 2 - Self.inverseIntegral(Self.integral(2.5, exponent) - Self.density(2, exponent), exponent)
    }

    /// One id in `0 ..< count`. Uses a varying number of draws from `generator` (usually one).
    public func draw(using generator: inout SeededGenerator) -> Int {
        while true {
            // u is uniform in (integralLow, integralHigh].
            let u = integralHigh + generator.nextUnitDouble() * (integralLow - integralHigh)
            let x = Self.inverseIntegral(u, exponent)
            // Written so that an overflowing or NaN x (huge exponents) lands on a valid rank, never traps.
            let rank = x < 1.5 ? 1 : (x < Double(count) ? Int(x + 0.5) : count)
            if Double(rank) - x <= squeeze || u >= Self.integral(Double(rank) + 0.5, exponent) - Self.density(Double(rank), exponent) {
                return rank - 1
            }
        }
    }

    /// h(x) = x^−s, the unnormalised probability of rank x.
    private static func density(_ x: Double, _ s: Double) -> Double {
        exp(-s * log(x))
    }

    /// H(x) = (x^(1−s) − 1) / (1 − s), or log x when s = 1: an antiderivative of h, written with
    /// `expm1` so that s near 1 loses no precision.
    private static func integral(_ x: Double, _ s: Double) -> Double {
        let logX = log(x)
        return expm1OverX((1 - s) * logX) * logX
    }

    /// H⁻¹(y) = (1 + (1 − s)·y)^(1/(1−s)), or e^y when s = 1, with the base clamped at 0 as
    /// rounding can push it just below.
    private static func inverseIntegral(_ y: Double, _ s: Double) -> Double {
        let t = max(y * (1 - s), -1)
        return exp(log1pOverX(t) * y)
    }

    /// log(1 + x) / x, continuous at 0.
    private static func log1pOverX(_ x: Double) -> Double {
        abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))
    }

    /// (eˣ − 1) / x, continuous at 0.
    private static func expm1OverX(_ x: Double) -> Double {
        abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))
    }
}
