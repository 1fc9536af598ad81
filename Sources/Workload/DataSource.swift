import SchemaXML

/// Where training samples come from when the workload is trained for real (the Training
/// module's concern). The planner and simulator ignore it.
public enum DataSource: Sendable, Hashable {
    case synthetic(SyntheticData)
    case dataset(DatasetFile)
}

/// Generated samples with planted feature interactions (the Training module's `SyntheticDataset`;
/// its `SyntheticTeacher` defines the labels exactly). Attributes the file leaves out are nil, and
/// the generator picks its defaults (workloads/README.md lists them).
public struct SyntheticData: Sendable, Hashable {
    /// Seed of the generator; the same seed gives the same samples.
    public var seed: UInt64
    /// Samples in the training stream (held-out samples come from a separate stream).
    public var samples: Int?
    /// Exponent of the Zipf law ids are drawn from (0 is uniform; ≥ 0).
    public var zipfExponent: Double?
    /// Number of planted feature groups (1 to the feature count): the label's logit sums pairwise
    /// interactions of features inside each group and none across groups.
    public var groups: Int?
    /// Standard deviation of the Gaussian noise added to the label's logit, relative to the
    /// signal's (≥ 0; 0 for none).
    public var noise: Double?
    public var location: SourceLocation

    public init(
        seed: UInt64, samples: Int? = nil, zipfExponent: Double? = nil, groups: Int? = nil, noise: Double? = nil,
        location: SourceLocation = SourceLocation(file: "", line: 0)
    ) {
        self.seed = seed
        self.samples = samples
        self.zipfExponent = zipfExponent
        self.groups = groups
        self.noise = noise
        self.location = location
    }
}

/// A dataset on disk.
public struct DatasetFile: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable, CaseIterable {
        /// Criteo Kaggle / Terabyte text: label, 13 integer columns, 26 hex categorical columns, tab-separated.
        case criteoTSV = "criteo-tsv"
    }

    public var format: Format
    /// The path as resolved against the workload file's directory (absolute paths unchanged).
    public var path: String
    public var location: SourceLocation

    public init(format: Format, path: String, location: SourceLocation = SourceLocation(file: "", line: 0)) {
        self.format = format
        self.path = path
        self.location = location
    }
}
