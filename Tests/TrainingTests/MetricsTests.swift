import Foundation
import Testing
import Workload

@testable import Training

@Suite struct MetricsTests {
    func metrics(_ probabilities: [Float], _ labels: [Float]) -> BinaryClassificationMetrics.Result {
        var metrics = BinaryClassificationMetrics()
        metrics.add(probabilities: probabilities, labels: labels)
        return metrics.result
    }

    @Test func aucOfHandCheckedRankings() {
        // scikit-learn's roc_auc_score example: 3 of the 4 positive–negative pairs are ordered.
        #expect(metrics([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]).auc == 0.75)
        #expect(metrics([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1]).auc == 1)
        #expect(metrics([0.9, 0.7, 0.2, 0.1], [0, 0, 1, 1]).auc == 0)
    }

    @Test func tiesCountHalf() {
        // Positives 0.5 and 0.9, negatives 0.2 and 0.5: pairs win, tie, win, win → 3.5 / 4.
        #expect(metrics([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]).auc == 0.875)
        #expect(metrics([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]).auc == 0.5)
        // Three negatives tied with one positive, one negative below it: (1 + 3/2) / 4.
        #expect(metrics([0.3, 0.3, 0.3, 0.3, 0.1], [1, 0, 0, 0, 0]).auc == 0.625)
    }

    @Test func aucIsUndefinedWithOneClassOrNaN() {
        #expect(metrics([0.1, 0.9], [1, 1]).auc == nil)
        #expect(metrics([0.1, 0.9], [0, 0]).auc == nil)
        #expect(metrics([0.1, .nan], [0, 1]).auc == nil)
        let empty = BinaryClassificationMetrics().result
        #expect(empty.samples == 0 && empty.auc == nil && empty.logLoss.isNaN && empty.accuracy.isNaN)
    }

    @Test func logLossIsMeanCrossEntropyClamped() {
        let result = metrics([0.9, 0.2], [1, 0])
        #expect(abs(result.logLoss - (-log(0.9) - log(0.8)) / 2) < 1e-7)
        // A certain mistake costs −log ε, not infinity.
        let certain = metrics([0, 1], [1, 0])
        #expect(abs(certain.logLoss + log(BinaryClassificationMetrics.logLossEpsilon)) < 1e-6)
        #expect(metrics([.nan], [1]).logLoss.isNaN)
    }

    @Test func accuracyThresholdsAtOneHalf() {
        // 0.9 → 1 right, 0.2 → 0 right, 0.6 → 1 wrong, 0.5 → 0 wrong.
        let result = metrics([0.9, 0.2, 0.6, 0.5], [1, 0, 0, 1])
        #expect(result.accuracy == 0.5)
        #expect(result.samples == 4 && result.positives == 2)
    }

    /// Batches accumulate to the same result as one call, and the sort-based AUC agrees with
    /// counting every pair, on scores coarse enough to tie often.
    @Test func streamingMatchesBruteForce() {
        var generator = SeededGenerator(seed: 11)
        let scores = (0..<600).map { _ in Float(generator.next() % 20) / 20 }
        let labels = scores.map { score in generator.nextUnitDouble() < Double(score) ? Float(1) : 0 }
        var streamed = BinaryClassificationMetrics()
        for start in stride(from: 0, to: scores.count, by: 97) {
            let end = min(start + 97, scores.count)
            streamed.add(probabilities: scores[start..<end], labels: labels[start..<end])
        }
        var pairs = 0.0, wins = 0.0
        for i in scores.indices where labels[i] == 1 {
            for j in scores.indices where labels[j] == 0 {
                pairs += 1
                wins += scores[i] > scores[j] ? 1 : (scores[i] == scores[j] ? 0.5 : 0)
            }
        }
        let auc = streamed.result.auc
        #expect(abs((auc ?? -1) - wins / pairs) < 1e-12)
        #expect(streamed.result == metrics(scores, labels))
        #expect(BinaryClassificationMetrics.areaUnderROC(scores: scores, labels: labels) == auc)
    }

    @Test func descriptionSaysUndefined() {
        #expect(metrics([0.1], [1]).description.contains("AUC undefined"))
    }
}
