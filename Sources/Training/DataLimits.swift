import Workload

/// What the CPU training data path can hold, shared by the synthetic generator and the Criteo reader.
enum DataLimits {
    /// Most rows a table may have: a `SampleBatch` carries ids as Int32.
    static let maximumTableRows = Int(Int32.max)

    /// The first feature whose table is too large for 32-bit ids, if any.
    static func firstOversizedTable(in features: [SparseFeature]) -> SparseFeature? {
        features.first { $0.tableRows > maximumTableRows }
    }

    /// The message for such a feature: where it is, and what to do.
    static func oversizedTableMessage(feature: String, rows: Int, location: String) -> String {
        "\(location): feature \(feature) has \(rows) table rows, but training on CPU takes 32-bit ids (at most \(maximumTableRows) rows); set a hash-size"
    }
}
