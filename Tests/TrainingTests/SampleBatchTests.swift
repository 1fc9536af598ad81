import Testing
@testable import Training

@Suite struct SampleBatchTests {
    @Test func csrColumnsGiveEachSampleItsIds() {
        let column = SparseColumn(offsets: [0, 2, 2, 5], ids: [7, 1, 3, 3, 9])
        #expect(Array(column.ids(ofSample: 0)) == [7, 1])
        #expect(column.ids(ofSample: 1).isEmpty)
        #expect(Array(column.ids(ofSample: 2)) == [3, 3, 9])
    }
}
