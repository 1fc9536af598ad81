import Foundation

/// Whole-number counts as workload files write them: `1460`, `40M`, `1.5k`, `2G`, `1T`.
///
/// Suffixes are decimal (k = 10³, M = 10⁶, G = 10⁹, T = 10¹²) because table cardinalities are
/// counts of ids, not bytes; there are no binary (Ki, Mi) forms. The result must be a whole number,
/// so `1.5` rows is refused while `1.5M` is 1,500,000.
enum CountSyntax {
    enum Failure: Error, Equatable {
        case notANumber
        case notWhole
        case tooLarge
    }

    private static let multipliers: [Character: Double] = ["k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12]

    /// Largest value accepted: beyond 2⁵³ a Double no longer holds every whole number, and no
    /// count in a workload comes near it.
    static let largest = 9_007_199_254_740_992.0

    static func parse(_ text: String) -> Result<Int, Failure> {
        var body = Substring(text.trimmingCharacters(in: .whitespaces))
        var multiplier = 1.0
        if let last = body.last, let suffix = multipliers[last] {
            multiplier = suffix
            body = Substring(body.dropLast().trimmingCharacters(in: .whitespaces))
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "+" || $0 == "-") }),
            let number = Double(body)
        else { return .failure(.notANumber) }
        let value = number * multiplier
        guard value.isFinite, abs(value) <= largest else { return .failure(.tooLarge) }
        guard value == value.rounded() else { return .failure(.notWhole) }
        return .success(Int(value))
    }
}
