import Foundation
import SchemaXML

/// One categorical feature and its embedding table.
///
/// Every cost here is per sample and per feature; a caller multiplies by the samples a GPU
/// serves (B for the flat model, B·H for a tower GPU under SPTT).
public struct SparseFeature: Sendable, Hashable {
    public var name: String
    /// Distinct ids the feature takes (its cardinality).
    public var rows: Int
    /// When set, ids are taken modulo this many buckets (DLRM's `--max-ind-range`), which bounds the table.
    public var hashSize: Int?
    /// Embedding width D.
    public var dimension: Int
    /// Mean ids per sample (the pooling factor): 1 for a one-hot feature, more for a multi-hot one.
    /// Real-valued because production pooling factors are averages over samples.
    public var pooling: Double
    /// Bytes per id in the input batch and on the wire: 4 (int32) or 8 (int64).
    public var idBytes: Int
    /// The `<group>` this feature was expanded from, or nil for a `<feature>`.
    public var group: String?
    public var location: SourceLocation

    public init(
        name: String, rows: Int, hashSize: Int? = nil, dimension: Int, pooling: Double = 1, idBytes: Int = 8,
        group: String? = nil, location: SourceLocation = SourceLocation(file: "", line: 0)
    ) {
        self.name = name
        self.rows = rows
        self.hashSize = hashSize
        self.dimension = dimension
        self.pooling = pooling
        self.idBytes = idBytes
        self.group = group
        self.location = location
    }

    /// Rows the table really has: min(rows, hash size).
    public var tableRows: Int { min(rows, hashSize ?? rows) }

    /// Embedding parameters: tableRows · D.
    public var parameterCount: Double { Double(tableRows) * Double(dimension) }

    /// Bytes of the table's weights (optimizer state not included; see `SparseOptimizer.stateBytesPerRow`).
    /// - Formula: tableRows · (D · bytes(storage) + 8 if int8).
    public func tableBytes(storage: NumericFormat) -> Double {
        Double(tableRows) * storage.embeddingRowBytes(dimension: dimension)
    }

    /// Memory read by the lookup for one sample: every id reads one row.
    /// - Formula: pooling · (D · bytes(storage) + 8 if int8).
    public func lookupBytesPerSample(storage: NumericFormat) -> Double {
        pooling * storage.embeddingRowBytes(dimension: dimension)
    }

    /// Bytes of this feature's ids for one sample, as sent by the input all-to-all.
    /// - Formula: pooling · idBytes (DESIGN §1.2's p·s). The per-sample lengths a KJT also carries
    ///   are not counted here: the layouts add `idLengthBytes` per sample where asked to.
    public var idBytesPerSample: Double { pooling * Double(idBytes) }

    /// Bytes of one sample's id count for one feature in a KeyedJaggedTensor's lengths (int32), sent
    /// with the ids by TorchRec's input distribution and by towerplan's own trainer. DESIGN §1.2's
    /// p·s leaves them out, so the layouts count them only when told to (`train --predict` does:
    /// for one-hot features they double the ids' bytes).
    public static let idLengthBytes = 4

    /// Bytes of one sample's pooled embedding (forward) or its gradient (backward) on the wire.
    /// - Formula: D · bytes(precisions.communication(direction)).
    public func communicationBytesPerSample(_ direction: PassDirection, precisions: Precisions) -> Double {
        Double(dimension) * precisions.communication(direction).bytes
    }
}

/// How a `<group>` of `count` features spreads its rows and pooling over its members.
///
/// Deterministic, no randomness: member i of n gets position t = i/(n−1) (t = 0 when n = 1) and
/// - rows = round(minRows · (maxRows/minRows)^t): log-uniform, because table sizes in real models
///   span orders of magnitude and a linear spread would make nearly all tables huge;
/// - pooling = minPooling + (maxPooling − minPooling) · t: linear.
///
/// Both grow with the member index, so inside one group the largest tables are also the most
/// pooled. To model another mix, declare several groups.
public struct FeatureGroupSpread: Sendable, Hashable {
    public var count: Int
    public var rows: ClosedRange<Int>
    public var pooling: ClosedRange<Double>

    public init(count: Int, rows: ClosedRange<Int>, pooling: ClosedRange<Double>) {
        self.count = count
        self.rows = rows
        self.pooling = pooling
    }

    /// Position of member `index` in [0, 1].
    private func position(_ index: Int) -> Double {
        count > 1 ? Double(index) / Double(count - 1) : 0
    }

    /// Rows of member `index`, always within `rows`.
    public func rows(ofMember index: Int) -> Int {
        let low = Double(rows.lowerBound), high = Double(rows.upperBound)
        let value = (low * pow(high / low, position(index))).rounded()
        return min(max(Int(value), rows.lowerBound), rows.upperBound)
    }

    /// Pooling factor of member `index`, always within `pooling`.
    public func pooling(ofMember index: Int) -> Double {
        min(max(pooling.lowerBound + (pooling.upperBound - pooling.lowerBound) * position(index), pooling.lowerBound), pooling.upperBound)
    }

    /// Member names: `name_0` … `name_{count−1}`.
    public static func memberName(group: String, index: Int) -> String { "\(group)_\(index)" }
}
