import Foundation
import Workload

/// A tower partition as a file: which sparse features form which DMT tower, and which tower
/// domain holds each tower (DESIGN.md §1.2). It is what a partitioner hands to the simulator
/// (`towerplan simulate --layout sptt --partition FILE`) and what a person writes by hand to try
/// a grouping, so it is plain JSON, names features rather than indexing them, and says which
/// format and version it is.
///
/// Format (version 1):
///
/// ```json
/// {
///   "format": "towerplan-partition",
///   "version": 1,
///   "workload": "prod-512",
///   "strategy": "manual",
///   "towers": [
///     {"tower": 0, "domain": 0, "features": ["user_history_0", "user_history_1"]},
///     {"tower": 1, "domain": 5, "features": ["item_history_0", "context_0"]}
///   ]
/// }
/// ```
///
/// - `format`: always `"towerplan-partition"`, so another JSON file passed by mistake is named as such.
/// - `version`: 1. A later towerplan that changes the shape bumps it; this one refuses other versions
///   rather than misreading them.
/// - `workload`: the name of the workload the partition was made for. Features are matched by name,
///   so a partition may be applied to another workload with the same feature names.
/// - `strategy`: what produced it (`manual`, a partitioner's name), for the reader.
/// - `towers`: T towers with ids 0 … T−1, each listed once. The id is the tower's position in the
///   fixed order tower outputs are concatenated in. `domain` is the index, in the tower level's
///   domain order, of the domain (host, rack, …) that holds the tower: one tower per domain, T at
///   most the number of domains. `features` are named as the workload names them, groups expanded
///   (`<group name="hist" count="3">` gives `hist_0`, `hist_1`, `hist_2`); every feature is in
///   exactly one tower and no tower is empty.
///
/// `read(path:)` checks the syntax, the format tag and the version; `resolve(against:)` checks the
/// towers against a workload. The cluster (enough domains) is the caller's to check, since this
/// module knows no clusters.
public struct PartitionFile: Sendable, Hashable, Codable {
    /// The value of `format` in every partition file.
    public static let formatTag = "towerplan-partition"
    /// The version this towerplan writes and the only one it reads.
    public static let currentVersion = 1

    /// One tower: its id, the domain index holding it, and its features by name.
    public struct Tower: Sendable, Hashable, Codable {
        public var tower: Int
        public var domain: Int
        public var features: [String]

        public init(tower: Int, domain: Int, features: [String]) {
            self.tower = tower
            self.domain = domain
            self.features = features
        }

        enum CodingKeys: String, CodingKey {
            case tower, domain, features
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            tower = try container.decodeWholeNumber(forKey: .tower)
            domain = try container.decodeWholeNumber(forKey: .domain)
            features = try container.decode([String].self, forKey: .features)
        }
    }

    /// Name of the workload the partition was made for.
    public var workload: String
    /// What produced the partition (`manual`, a partitioner's name).
    public var strategy: String
    public var towers: [Tower]
    /// Where the value was read from, named in `resolve`'s errors. Neither encoded nor part of
    /// equality: the same partition read from two paths is the same partition.
    public var file: String

    public init(workload: String, strategy: String, towers: [Tower], file: String = "") {
        self.workload = workload
        self.strategy = strategy
        self.towers = towers
        self.file = file
    }

    enum CodingKeys: String, CodingKey {
        case format, version, workload, strategy, towers
    }

    /// Checks the format tag before the version and the version before anything else, so a
    /// foreign JSON file or a newer format is reported as such, not as a missing key.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try JSONFile.checkHeader(
            container, format: .format, version: .version, tag: Self.formatTag, version: Self.currentVersion, what: "a towerplan partition file")
        workload = try container.decode(String.self, forKey: .workload)
        strategy = try container.decode(String.self, forKey: .strategy)
        towers = try container.decode([Tower].self, forKey: .towers)
        file = ""
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.formatTag, forKey: .format)
        try container.encode(Self.currentVersion, forKey: .version)
        try container.encode(workload, forKey: .workload)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(towers, forKey: .towers)
    }

    public static func == (lhs: PartitionFile, rhs: PartitionFile) -> Bool {
        (lhs.workload, lhs.strategy, lhs.towers) == (rhs.workload, rhs.strategy, rhs.towers)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(workload)
        hasher.combine(strategy)
        hasher.combine(towers)
    }

    /// Reads and decodes a partition file; `file` of the result is `path`.
    public static func read(path: String) throws(PartitionError) -> PartitionFile {
        try decode(JSONFile.bytes(at: path), file: path)
    }

    /// Decodes the bytes of a partition file; `file` names it in errors and becomes the result's
    /// `file`. Syntax errors say where the JSON breaks (`JSONFile.decode`).
    public static func decode(_ data: Data, file: String) throws(PartitionError) -> PartitionFile {
        var value = try JSONFile.decode(
            PartitionFile.self, from: data, file: file, kind: "a partition file is one JSON object, see README.md, 'Partition files'",
            keys: "a partition has \"format\", \"version\", \"workload\", \"strategy\" and \"towers\", each tower \"tower\", \"domain\" and \"features\"")
        value.file = file
        return value
    }

    /// The file's bytes: indented JSON with sorted keys, so the same partition always gives the
    /// same bytes (and diffs between partitions stay small), ending in a newline.
    public func encoded() throws(PartitionError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(self) + Data("\n".utf8)
        } catch {
            throw PartitionError(file: file.isEmpty ? "partition" : file, "cannot be encoded (\(error.localizedDescription))")
        }
    }

    /// Writes the file atomically (`JSONFile.write`): a reader never sees half a partition and a
    /// failed write leaves the old file in place.
    public func write(to path: String) throws(PartitionError) {
        try JSONFile.write(encoded(), to: path)
    }

    /// Matches the towers against `workload`'s features and checks them: tower ids 0 … T−1 each
    /// once, non-negative domains each holding one tower, no empty tower, every feature known and
    /// in exactly one tower. The first problem found is thrown, naming `file`.
    public func resolve(against workload: Workload) throws(PartitionError) -> ResolvedPartition {
        let source = file.isEmpty ? "partition" : file
        let fail = { (message: String) in PartitionError(file: source, message) }
        let features = workload.features
        guard !features.isEmpty else {
            throw fail("workload '\(workload.name)' has no sparse features to partition; use a recommendation workload")
        }
        guard !towers.isEmpty else {
            throw fail("lists no towers; add at least one {\"tower\": 0, \"domain\": 0, \"features\": [...]}")
        }

        var entryOfTower: [Int: Int] = [:]
        var towerOfDomain: [Int: Int] = [:]
        for (entry, tower) in towers.enumerated() {
            guard tower.tower >= 0 else {
                throw fail("towers[\(entry)] has tower id \(tower.tower); tower ids run 0 to T−1")
            }
            if entryOfTower[tower.tower] != nil {
                throw fail("tower id \(tower.tower) is listed twice; give each tower its own id, 0 to T−1")
            }
            entryOfTower[tower.tower] = entry
            guard tower.domain >= 0 else {
                throw fail("tower \(tower.tower) is placed on domain \(tower.domain); domain indices start at 0")
            }
            if let other = towerOfDomain[tower.domain] {
                throw fail(
                    "towers \(other) and \(tower.tower) are both placed on domain \(tower.domain); SPTT holds one tower per domain, so move one or merge them")
            }
            towerOfDomain[tower.domain] = tower.tower
            guard !tower.features.isEmpty else {
                throw fail("tower \(tower.tower) has no features; give it some or drop it and renumber the towers")
            }
        }
        let towerCount = towers.count
        let missingIds = (0..<towerCount).filter { entryOfTower[$0] == nil }
        if !missingIds.isEmpty {
            let extra = entryOfTower.keys.filter { $0 >= towerCount }.sorted()
            throw fail(
                "tower ids must run 0 to \(towerCount - 1) (they fix the order tower outputs are concatenated in); \(JSONFile.list(missingIds.map(String.init))) missing, \(JSONFile.list(extra.map(String.init))) out of range")
        }

        var indexOfName: [String: Int] = [:]
        for (index, feature) in features.enumerated() where indexOfName[feature.name] == nil { indexOfName[feature.name] = index }
        var towerOfFeature = [Int?](repeating: nil, count: features.count)
        var unknown: [(name: String, tower: Int)] = []
        for tower in towers {
            for name in tower.features {
                guard let index = indexOfName[name] else {
                    unknown.append((name, tower.tower))
                    continue
                }
                if let other = towerOfFeature[index] {
                    throw fail(
                        other == tower.tower
                            ? "feature '\(name)' is listed twice in tower \(other); list it once"
                            : "feature '\(name)' is in towers \(other) and \(tower.tower); a feature belongs to exactly one tower, so remove it from one")
                }
                towerOfFeature[index] = tower.tower
            }
        }
        if let first = unknown.first {
            let suggestion = Self.closest(to: first.name, among: features.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
            let more = unknown.count > 1 ? " and \(unknown.count - 1) more unknown names" : ""
            throw fail(
                "tower \(first.tower) names feature '\(first.name)'\(suggestion)\(more), but workload '\(workload.name)' has no such feature; its \(features.count) features include \(features.prefix(3).map { "'\($0.name)'" }.joined(separator: ", ")), and group members are named NAME_0 … NAME_{n−1}")
        }
        let missing = towerOfFeature.indices.filter { towerOfFeature[$0] == nil }
        if !missing.isEmpty {
            let shown = missing.prefix(5).map { "'\(features[$0].name)'" }
            throw fail(
                "\(missing.count) of the \(features.count) features of workload '\(workload.name)' are in no tower (\(JSONFile.list(shown))\(missing.count > 5 ? ", …" : "")); every feature must be in exactly one tower, so add them")
        }
        var domainOfTower = [Int](repeating: 0, count: towerCount)
        for tower in towers { domainOfTower[tower.tower] = tower.domain }
        return ResolvedPartition(towerOfFeature: towerOfFeature.map { $0 ?? 0 }, domainOfTower: domainOfTower)
    }

    /// The candidate nearest to `name` by edit distance, when near enough to be a likely typo
    /// (at most a third of the name's characters differ).
    static func closest(to name: String, among candidates: [String]) -> String? {
        let target = Array(name)
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate))
            if distance < best?.distance ?? Int.max { best = (candidate, distance) }
        }
        guard let best, best.distance <= max(1, target.count / 3) else { return nil }
        return best.name
    }

    /// Levenshtein distance, O(|a|·|b|) time, O(|b|) memory.
    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        var current = previous
        for (i, x) in a.enumerated() {
            current[0] = i + 1
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

}

/// A partition matched against a workload: indices instead of names, checked complete.
public struct ResolvedPartition: Sendable, Hashable {
    /// Tower of each feature, indexed like the workload's features.
    public let towerOfFeature: [Int]
    /// Domain index of each tower, indexed by tower id.
    public let domainOfTower: [Int]

    public init(towerOfFeature: [Int], domainOfTower: [Int]) {
        self.towerOfFeature = towerOfFeature
        self.domainOfTower = domainOfTower
    }

    /// T.
    public var towerCount: Int { domainOfTower.count }
}

/// A partitioner file (a partition file, an embeddings file) that cannot be read, written or used:
/// what is wrong, in which file, and what to do.
public struct PartitionError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

extension KeyedDecodingContainer {
    /// Decodes a whole number, reporting a fractional or out-of-range one at its key: Foundation's
    /// `JSONDecoder` on Linux throws an internal error for it, which surfaces as "not valid JSON"
    /// with no location. A `DecodingError` (wrong type, missing, null) already has its location.
    func decodeWholeNumber(forKey key: Key) throws -> Int {
        do {
            return try decode(Int.self, forKey: key)
        } catch let error as DecodingError {
            throw error
        } catch {
            guard let value = try? decode(Double.self, forKey: key) else { throw error }
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "is \(value); it must be a whole number")
        }
    }
}
