import SchemaXML

/// Where training samples come from when the workload is trained for real (the Training
/// module's concern). The planner and simulator ignore it.
public enum DataSource: Sendable, Hashable {
    case synthetic(SyntheticData)
    case dataset(DatasetFile)
}

/// Generated samples. Attributes the file leaves out are nil, and the generator picks its defaults.
public struct SyntheticData: Sendable, Hashable {
    /// Seed of the generator; the same seed gives the same samples.
    public var seed: UInt64
    /// Samples to generate.
    public var samples: Int?
    /// Exponent of the Zipf law ids are drawn from (0 is uniform; ≥ 0).
    public var zipfExponent: Double?
    /// Number of latent feature groups that interact in the label (≥ 1).
    public var groups: Int?
    /// Label noise level (≥ 0).
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
