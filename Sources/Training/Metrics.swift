import Foundation

/// Held-out metrics of a binary classifier — ROC AUC, log-loss and accuracy — accumulated batch
/// by batch (`add(probabilities:labels:)`), then read once (`result`).
///
/// Log-loss and accuracy are running sums. The AUC needs every score, so the accumulator keeps
/// them, compactly: positives' and negatives' scores in two Float arrays, which stores the label
/// for free — 4 bytes per sample, 40 MB for a 10-million-sample evaluation.
public struct BinaryClassificationMetrics: Sendable {
    /// Predicted probabilities are clamped to [ε, 1 − ε] before the log-loss, so one confident
    /// mistake costs at most −log ε ≈ 16 instead of infinity (scikit-learn's choice of ε for fp32).
    public static let logLossEpsilon = 1e-7

    /// Scores of the samples labelled 1.
    private var positives: [Float] = []
    /// Scores of the samples labelled 0.
    private var negatives: [Float] = []
    private var logLossSum = 0.0
    private var correct = 0

    public init() {}

    /// Adds a batch: `probabilities[i]` is the predicted P(label = 1) of the sample labelled
    /// `labels[i]` (0 or 1; any label above 0.5 counts as 1). O(batch).
    public mutating func add(probabilities: some Collection<Float>, labels: some Collection<Float>) {
        precondition(probabilities.count == labels.count, "one probability per label")
        for (probability, label) in zip(probabilities, labels) {
            let positive = label > 0.5
            let p = min(max(Double(probability), Self.logLossEpsilon), 1 - Self.logLossEpsilon)
            logLossSum -= positive ? log(p) : log(1 - p)
            if positive {
                positives.append(probability)
            } else {
                negatives.append(probability)
            }
            if (probability > 0.5) == positive { correct += 1 }
        }
    }

    /// Samples added so far.
    public var count: Int { positives.count + negatives.count }

    /// The metrics of everything added. O(n log n) for the AUC's sort.
    public var result: Result {
        let samples = count
        return Result(
            samples: samples, positives: positives.count,
            auc: Self.areaUnderROC(positives: positives, negatives: negatives),
            logLoss: samples == 0 ? .nan : logLossSum / Double(samples),
            accuracy: samples == 0 ? .nan : Double(correct) / Double(samples))
    }

    /// Metrics of a set of predictions.
    public struct Result: Sendable, Hashable, CustomStringConvertible {
        public var samples: Int
        /// Samples labelled 1.
        public var positives: Int
        /// ROC AUC: the probability that a random positive scores above a random negative, ties
        /// counting half. nil when it is undefined — no positives or no negatives — or when a
        /// score is NaN (a diverged model).
        public var auc: Double?
        /// Mean binary cross-entropy in nats, probabilities clamped to [ε, 1 − ε]. NaN with no
        /// samples or a NaN prediction.
        public var logLoss: Double
        /// Fraction of samples whose prediction is on the label's side of 0.5 (exactly 0.5
        /// counts as predicting 0). NaN with no samples.
        public var accuracy: Double

        public var description: String {
            let auc = auc.map { String(format: "%.4f", $0) } ?? "undefined"
            return "AUC \(auc), log-loss \(String(format: "%.4f", logLoss)), accuracy \(String(format: "%.4f", accuracy)) over \(samples) samples (\(positives) positive)"
        }
    }

    /// Exact ROC AUC of `scores` against 0/1 `labels` (above 0.5 counts as 1), ties by the
    /// average-rank rule; nil when one class is absent or a score is NaN. O(n log n).
    public static func areaUnderROC(scores: [Float], labels: [Float]) -> Double? {
        precondition(scores.count == labels.count, "one score per label")
        var positives: [Float] = [], negatives: [Float] = []
        for (score, label) in zip(scores, labels) {
            if label > 0.5 { positives.append(score) } else { negatives.append(score) }
        }
        return areaUnderROC(positives: positives, negatives: negatives)
    }

    /// AUC = (Σ over positives of 2·(negatives scored below) + (negatives scored equal)) / (2·n₊·n₋),
    /// which is the Mann–Whitney statistic with average ranks for ties. Both lists are sorted,
    /// then merged in one pass; the counts are whole numbers, so the sum is exact.
    private static func areaUnderROC(positives: [Float], negatives: [Float]) -> Double? {
        guard !positives.isEmpty, !negatives.isEmpty, !positives.contains(where: \.isNaN), !negatives.contains(where: \.isNaN)
        else { return nil }
        let positives = positives.sorted(), negatives = negatives.sorted()
        var below = 0, belowOrEqual = 0
        var twiceWins: UInt64 = 0
        for score in positives {
            while below < negatives.count && negatives[below] < score { below += 1 }
            belowOrEqual = max(belowOrEqual, below)
            while belowOrEqual < negatives.count && negatives[belowOrEqual] == score { belowOrEqual += 1 }
            twiceWins += UInt64(below + belowOrEqual)
        }
        return Double(twiceWins) / (2 * Double(positives.count) * Double(negatives.count))
    }
}
