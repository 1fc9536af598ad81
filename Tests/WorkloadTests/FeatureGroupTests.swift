import Foundation
import Testing

@testable import Workload

/// Group expansion and the count syntax it uses.
@Suite struct FeatureGroupTests {
    @Test func logUniformRowsAndLinearPooling() {
        let spread = FeatureGroupSpread(count: 5, rows: 1000...10_000_000, pooling: 10...50)
        #expect((0..<5).map(spread.rows(ofMember:)) == [1000, 10000, 100_000, 1_000_000, 10_000_000])
        #expect((0..<5).map(spread.pooling(ofMember:)) == [10, 20, 30, 40, 50])
        // A group of one sits at the low end.
        let single = FeatureGroupSpread(count: 1, rows: 7...70, pooling: 2...3)
        #expect(single.rows(ofMember: 0) == 7 && single.pooling(ofMember: 0) == 2)
    }

    @Test(arguments: [(2, 1, 2), (3, 1, 1_000_000_000_000), (97, 10, 11), (1000, 1_000_000, 100_000_000), (4096, 3, 3)])
    func spreadStaysWithinBounds(count: Int, low: Int, high: Int) {
        let spread = FeatureGroupSpread(count: count, rows: low...high, pooling: 1.5...99.5)
        let rows = (0..<count).map(spread.rows(ofMember:))
        let pooling = (0..<count).map(spread.pooling(ofMember:))
        #expect(rows.first == low && rows.last == high)
        #expect(rows.allSatisfy { (low...high).contains($0) })
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(pooling.first == 1.5 && pooling.last == 99.5)
        #expect(pooling.allSatisfy { (1.5...99.5).contains($0) })
    }

    @Test func expansionIsDeterministic() throws {
        let text = """
            <workload name="groups">
              <recommendation>
                <sparse dimension="8" hash-size="5M">
                  <group name="hist" count="300" min-rows="1k" max-rows="100M" min-pooling="10" max-pooling="100"/>
                  <group name="id" count="3" rows="2M" hash-size="100M"/>
                </sparse>
                <interaction kind="dot"/>
                <top-mlp widths="1"/>
              </recommendation>
              <training batch-per-gpu="1">
                <sparse-optimizer kind="rowwise-adagrad" learning-rate="0.01"/>
                <dense-optimizer kind="adam" learning-rate="0.001"/>
              </training>
            </workload>
            """
        let first = try WorkloadLoader.load(data: Data(text.utf8), name: "groups.xml").features
        let second = try WorkloadLoader.load(data: Data(text.utf8), name: "groups.xml").features
        #expect(first == second)
        #expect(first.count == 303)
        #expect(first[17].name == "hist_17" && first[17].group == "hist")
        #expect(first.prefix(300).allSatisfy { (1000...100_000_000).contains($0.rows) && (10...100).contains($0.pooling) })
        // The sparse-level hash size caps the history tables; the ids give their own.
        #expect(first.prefix(300).allSatisfy { $0.hashSize == 5_000_000 && $0.tableRows <= 5_000_000 })
        #expect(first.suffix(3).map(\.name) == ["id_0", "id_1", "id_2"])
        #expect(first.suffix(3).allSatisfy { $0.rows == 2_000_000 && $0.pooling == 1 && $0.hashSize == 100_000_000 })
        #expect(first.allSatisfy { $0.location.line == 4 || $0.location.line == 5 })
    }

    @Test func countSyntax() {
        #expect(CountSyntax.parse("1460") == .success(1460))
        #expect(CountSyntax.parse(" 40M ") == .success(40_000_000))
        #expect(CountSyntax.parse("1.5k") == .success(1500))
        #expect(CountSyntax.parse("2G") == .success(2_000_000_000))
        #expect(CountSyntax.parse("1T") == .success(1_000_000_000_000))
        #expect(CountSyntax.parse("-3") == .success(-3))
        #expect(CountSyntax.parse("1.5") == .failure(.notWhole))
        #expect(CountSyntax.parse("1e3") == .failure(.notANumber))
        #expect(CountSyntax.parse("M") == .failure(.notANumber))
        #expect(CountSyntax.parse("1Mi") == .failure(.notANumber))
        #expect(CountSyntax.parse("") == .failure(.notANumber))
        #expect(CountSyntax.parse("99999999999999999999") == .failure(.tooLarge))
        #expect(CountSyntax.parse("10000000T") == .failure(.tooLarge))
    }
}
