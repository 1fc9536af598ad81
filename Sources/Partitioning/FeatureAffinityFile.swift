import Foundation
import Workload

/// Learned embeddings as a file: what the training engine exports after training a baseline and
/// what the tower partitioner reads (DESIGN.md §1.2, TP). Per feature, a representation vector
/// (for `kmeans`) and, for synthetic data, the planted group (ground truth for the adjusted Rand
/// index); between features, a symmetric non-negative affinity matrix (for `tp`).
///
/// Format (version 1):
///
/// ```json
/// {"format": "towerplan-embeddings", "version": 1, "workload": "synthetic-planted",
///  "trained": {"layout": "flat", "data": "synthetic", "seed": 1, "steps": 400, "auc": 0.81},
///  "representation_method": "mean pooled embedding over 64 batches",
///  "affinity_method": "mean |<e_f, e_g>| of pooled embeddings over 64 batches",
///  "features": [{"name": "f_0", "representation": [0.1, -0.3], "planted_group": 0}, …],
///  "affinity": [[0, 0.3, …], …]}
/// ```
///
/// - `format` is `"towerplan-embeddings"`; `version` is 1 (other versions are refused).
/// - `workload`: the workload trained. Features are matched by name, so the file may serve another
///   workload with the same feature names.
/// - `trained`: how the embeddings were learned. `layout` is required; `data`, `seed`, `steps`
///   and `auc` are optional.
/// - `representation_method`, `affinity_method`: free text saying how the vectors and the
///   affinity were derived, for the reader.
/// - `features`: F features, names unique; `representation` vectors all of one length ≥ 1;
///   `planted_group` (a whole number ≥ 0) on every feature or on none.
/// - `affinity`: F rows of F finite, non-negative numbers in the order of `features`, symmetric
///   within 1e-6 relative (|a_fg − a_gf| ≤ 1e-6 · max(a_fg, a_gf)); the diagonal is ignored.
///
/// `read(path:)` and `decode(_:file:)` check all of this; `resolve(against:file:)` matches the features
/// to a workload's. The writer puts one feature and one affinity row per line.
public struct FeatureAffinityFile: Sendable, Hashable, Decodable {
    /// The value of `format` in every embeddings file.
    public static let formatTag = "towerplan-embeddings"
    /// The version this towerplan writes and the only one it reads.
    public static let currentVersion = 1
    /// Relative tolerance of the symmetry check.
    public static let symmetryTolerance = 1e-6

    /// How the embeddings were learned.
    public struct Training: Sendable, Hashable, Codable {
        /// The layout trained (`flat`, `dmt`).
        public var layout: String
        /// The data trained on (`synthetic`, `criteo:PATH`).
        public var data: String?
        public var seed: Int?
        public var steps: Int?
        /// Held-out AUC of the trained model.
        public var auc: Double?

        public init(layout: String, data: String? = nil, seed: Int? = nil, steps: Int? = nil, auc: Double? = nil) {
            self.layout = layout
            self.data = data
            self.seed = seed
            self.steps = steps
            self.auc = auc
        }
    }

    /// One feature's learned representation, and its planted group when the data is synthetic.
    public struct Feature: Sendable, Hashable, Codable {
        public var name: String
        public var representation: [Double]
        public var plantedGroup: Int?

        public init(name: String, representation: [Double], plantedGroup: Int? = nil) {
            self.name = name
            self.representation = representation
            self.plantedGroup = plantedGroup
        }

        enum CodingKeys: String, CodingKey {
            case name, representation
            case plantedGroup = "planted_group"
        }
    }

    public var workload: String
    public var trained: Training
    public var representationMethod: String
    public var affinityMethod: String
    public var features: [Feature]
    /// F rows of F values, in the order of `features`.
    public var affinity: [[Double]]

    public init(
        workload: String, trained: Training, representationMethod: String, affinityMethod: String, features: [Feature], affinity: [[Double]]
    ) {
        self.workload = workload
        self.trained = trained
        self.representationMethod = representationMethod
        self.affinityMethod = affinityMethod
        self.features = features
        self.affinity = affinity
    }

    enum CodingKeys: String, CodingKey {
        case format, version, workload, trained, features, affinity
        case representationMethod = "representation_method"
        case affinityMethod = "affinity_method"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try JSONFile.checkHeader(
            container, format: .format, version: .version, tag: Self.formatTag, version: Self.currentVersion, what: "a towerplan embeddings file")
        workload = try container.decode(String.self, forKey: .workload)
        trained = try container.decode(Training.self, forKey: .trained)
        representationMethod = try container.decode(String.self, forKey: .representationMethod)
        affinityMethod = try container.decode(String.self, forKey: .affinityMethod)
        features = try container.decode([Feature].self, forKey: .features)
        affinity = try container.decode([[Double]].self, forKey: .affinity)
    }

    /// Reads, decodes and validates an embeddings file.
    public static func read(path: String) throws(PartitionError) -> FeatureAffinityFile {
        try decode(JSONFile.bytes(at: path), file: path)
    }

    /// Decodes and validates the bytes of an embeddings file; `file` names it in errors.
    /// Cost: O(bytes) to parse, O(F²) to validate.
    public static func decode(_ data: Data, file: String) throws(PartitionError) -> FeatureAffinityFile {
        let value = try JSONFile.decode(
            FeatureAffinityFile.self, from: data, file: file,
            kind: "an embeddings file is one JSON object, see FeatureAffinityFile (Sources/Partitioning/FeatureAffinityFile.swift)",
            keys:
                "an embeddings file has \"format\", \"version\", \"workload\", \"trained\" (with \"layout\"), \"representation_method\", \"affinity_method\", \"features\" (each with \"name\" and \"representation\") and \"affinity\""
        )
        try value.validate(file: file)
        return value
    }

    /// Checks what the types cannot: unique names, representation lengths, planted groups on all
    /// features or none, and an F×F finite, non-negative, symmetric affinity. Throws the first
    /// problem, located (`affinity[2][5]`), naming `file`. Cost: O(F² + F·dim).
    public func validate(file: String = "embeddings") throws(PartitionError) {
        let fail = { (message: String) in PartitionError(file: file, message) }
        guard let first = features.first else {
            throw fail("lists no features; export one entry per sparse feature of the workload")
        }
        var seen: [String: Int] = [:]
        for (index, feature) in features.enumerated() {
            if let other = seen[feature.name] {
                throw fail("features[\(other)] and features[\(index)] are both named '\(feature.name)'; every feature appears once")
            }
            seen[feature.name] = index
        }
        let width = first.representation.count
        guard width >= 1 else {
            throw fail("features[0].representation is empty; representations have at least one value")
        }
        for (index, feature) in features.enumerated() {
            guard feature.representation.count == width else {
                throw fail(
                    "features[\(index)].representation ('\(feature.name)') has \(feature.representation.count) values, features[0] has \(width); all representations have the same length")
            }
            if let bad = feature.representation.firstIndex(where: { !$0.isFinite }) {
                throw fail("features[\(index)].representation[\(bad)] is \(feature.representation[bad]); values must be finite")
            }
            if (feature.plantedGroup == nil) != (first.plantedGroup == nil) {
                throw fail(
                    "features[\(index)] ('\(feature.name)') \(feature.plantedGroup == nil ? "has no" : "has a") planted_group but features[0] \(first.plantedGroup == nil ? "has none" : "has one"); give every feature a planted group (synthetic data) or none")
            }
            if let group = feature.plantedGroup, group < 0 {
                throw fail("features[\(index)].planted_group is \(group); groups are numbered from 0")
            }
        }
        let count = features.count
        guard affinity.count == count else {
            throw fail("affinity has \(affinity.count) rows for \(count) features; it is F×F in the order of \"features\"")
        }
        for (row, values) in affinity.enumerated() {
            guard values.count == count else {
                throw fail("affinity[\(row)] has \(values.count) values for \(count) features; it is F×F in the order of \"features\"")
            }
            for (column, value) in values.enumerated() where !(value.isFinite && value >= 0) {
                throw fail("affinity[\(row)][\(column)] is \(value); affinities are finite and non-negative")
            }
        }
        for row in 0..<count {
            for column in (row + 1)..<count {
                let a = affinity[row][column], b = affinity[column][row]
                guard abs(a - b) <= Self.symmetryTolerance * max(a, b) else {
                    throw fail(
                        "affinity[\(row)][\(column)] is \(a) but affinity[\(column)][\(row)] is \(b) ('\(features[row].name)', '\(features[column].name)'); the matrix must be symmetric within \(Self.symmetryTolerance) relative, e.g. export (A + Aᵀ)/2")
                }
            }
        }
    }

    /// Matches the features to `workload`'s by name and reorders everything into the workload's
    /// feature order. Every workload feature must be in the file and the file may name no other;
    /// errors name `file`. Cost: O(F²).
    public func resolve(against workload: Workload, file: String = "embeddings") throws(PartitionError) -> FeatureAffinity {
        let names = workload.features.map(\.name)
        var index: [String: Int] = [:]
        for (position, feature) in features.enumerated() { index[feature.name] = position }
        let missing = names.filter { index[$0] == nil }
        let known = Set(names)
        let extra = features.map(\.name).filter { !known.contains($0) }
        if !missing.isEmpty || !extra.isEmpty {
            let show = { (list: [String]) in
                list.count > 8
                    ? list.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + " and \(list.count - 8) more"
                    : JSONFile.list(list.map { "'\($0)'" })
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("lacks \(missing.count) of the \(names.count) features of workload '\(workload.name)' (\(show(missing)))") }
            if !extra.isEmpty { parts.append("names \(extra.count) features the workload does not have (\(show(extra)))") }
            throw PartitionError(
                file: file,
                parts.joined(separator: " and ")
                    + "; export the embeddings from a model of workload '\(workload.name)' (file made for '\(self.workload)')")
        }
        let order = names.map { index[$0] ?? 0 }
        let count = order.count
        var matrix = [Double](repeating: 0, count: count * count)
        for (f, source) in order.enumerated() {
            for (g, target) in order.enumerated() where f != g {
                matrix[f * count + g] = (affinity[source][target] + affinity[target][source]) / 2
            }
        }
        let groups = features[order[0]].plantedGroup == nil ? nil : order.map { features[$0].plantedGroup ?? 0 }
        return FeatureAffinity(
            matrix: matrix, representations: order.map { features[$0].representation }, plantedGroups: groups, madeFor: self.workload)
    }

    /// The file's bytes: the header keys first, then one feature and one affinity row per line
    /// (a 1,000-feature file stays readable and diffable), ending in a newline.
    public func encoded() throws(PartitionError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            let json = { (value: any Encodable) throws -> String in String(decoding: try encoder.encode(value), as: UTF8.self) }
            var lines = [
                "{",
                "  \"format\": \(try json(Self.formatTag)),",
                "  \"version\": \(Self.currentVersion),",
                "  \"workload\": \(try json(workload)),",
                "  \"trained\": \(try json(trained)),",
                "  \"representation_method\": \(try json(representationMethod)),",
                "  \"affinity_method\": \(try json(affinityMethod)),",
                "  \"features\": [",
            ]
            lines += try features.enumerated().map { "    " + (try json($1)) + ($0 < features.count - 1 ? "," : "") }
            lines.append("  ],")
            lines.append("  \"affinity\": [")
            lines += try affinity.enumerated().map { "    " + (try json($1)) + ($0 < affinity.count - 1 ? "," : "") }
            lines += ["  ]", "}", ""]
            return Data(lines.joined(separator: "\n").utf8)
        } catch {
            throw PartitionError(file: "embeddings", "cannot be encoded (\(error.localizedDescription))")
        }
    }

    /// Validates, then writes the file atomically (`JSONFile.write`), so an invalid file is never
    /// written and a reader never sees half of one.
    public func write(to path: String) throws(PartitionError) {
        try validate(file: path)
        try JSONFile.write(encoded(), to: path)
    }
}

/// An embeddings file matched to a workload: everything indexed like the workload's features.
public struct FeatureAffinity: Sendable, Hashable {
    /// The symmetric affinity, F×F row-major, diagonal zero.
    public let matrix: [Double]
    /// Representation vector of each feature.
    public let representations: [[Double]]
    /// Planted group of each feature, when the embeddings come from synthetic data.
    public let plantedGroups: [Int]?
    /// The workload the embeddings file was made for.
    public let madeFor: String

    public init(matrix: [Double], representations: [[Double]], plantedGroups: [Int]?, madeFor: String) {
        self.matrix = matrix
        self.representations = representations
        self.plantedGroups = plantedGroups
        self.madeFor = madeFor
    }

    /// F.
    public var count: Int { representations.count }

    /// The full affinity graph (every positive entry an edge). Cost: O(F²).
    public var graph: AffinityGraph { AffinityGraph(dense: matrix, count: count) }
}
