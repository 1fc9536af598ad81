import Foundation
import Testing
import Workload

@testable import Training

@Suite struct SyntheticZipfTests {
    /// Pearson's χ² of `draws` draws against the exact law P(r) ∝ (r + 1)^−s.
    static func chiSquare(count: Int, exponent: Double, draws: Int, seed: UInt64) -> Double {
        let sampler = ZipfSampler(count: count, exponent: exponent)
        var generator = SeededGenerator(seed: seed)
        var observed = [Int](repeating: 0, count: count)
        for _ in 0..<draws { observed[sampler.draw(using: &generator)] += 1 }
        let weights = (1...count).map { pow(Double($0), -exponent) }
        let total = weights.reduce(0, +)
        return zip(observed, weights).reduce(0) { sum, pair in
            let expected = Double(draws) * pair.1 / total
            return sum + (Double(pair.0) - expected) * (Double(pair.0) - expected) / expected
        }
    }

    /// The draws follow the exact law: χ² with 9 degrees of freedom stays below its 0.1 % critical
    /// value 27.88 (the seed is fixed, so this cannot flake).
    @Test(arguments: [0, 0.5, 1, 1.05, 1.5, 3])
    func drawsFollowTheZipfLaw(exponent: Double) {
        #expect(Self.chiSquare(count: 10, exponent: exponent, draws: 100_000, seed: 7) < 27.88)
    }

    @Test func idZeroOfALargeTableHasItsShare() {
        // s = 1 over 10⁵ ids: P(0) = 1 / H(10⁵) ≈ 0.0830.
        let sampler = ZipfSampler(count: 100_000, exponent: 1)
        var generator = SeededGenerator(seed: 3)
        let draws = 200_000
        var zeros = 0
        for _ in 0..<draws where sampler.draw(using: &generator) == 0 { zeros += 1 }
        let harmonic = (1...100_000).reduce(0.0) { $0 + 1 / Double($1) }
        #expect(abs(Double(zeros) / Double(draws) - 1 / harmonic) < 0.003)
    }

    @Test func extremesStayInRangeAndTerminate() {
        var generator = SeededGenerator(seed: 5)
        for count in [1, 2, Int(Int32.max)] {
            for exponent in [0, 1, 1.05, 50, 1e6, 1e300] {
                let sampler = ZipfSampler(count: count, exponent: exponent)
                for _ in 0..<200 {
                    let id = sampler.draw(using: &generator)
                    #expect(id >= 0 && id < count)
                    if exponent >= 50 { #expect(id == 0) }
                }
            }
        }
    }
}
