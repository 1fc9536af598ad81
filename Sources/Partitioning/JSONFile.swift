import Foundation

/// Reading and writing the partitioner's JSON files (partition files, embeddings files) the same
/// way: located errors, atomic writes. One place, so both formats explain a bad file alike.
enum JSONFile {
    /// Reads the bytes at `path`, or says the path cannot be read.
    static func bytes(at path: String) throws(PartitionError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PartitionError(file: path, "cannot be read (\(error.localizedDescription)); check the path")
        }
    }

    /// Decodes `data` as `T`; `file` names it in errors, `kind` says what it should have been
    /// ("a partition file is one JSON object, see …"), `keys` lists the keys it needs.
    ///
    /// The bytes are parsed twice: `JSONSerialization` first, because on Linux it is the one that
    /// says where the syntax breaks ("Invalid value around character 5"), where `JSONDecoder` only
    /// says the data is not valid JSON; then `JSONDecoder` for the shape, with key paths. Cost: two
    /// parses, O(bytes) each.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String, kind: String, keys: String) throws(PartitionError) -> T {
        do {
            _ = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            throw PartitionError(file: file, "is not JSON (\(detail)); \(kind)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw PartitionError(file: file, explain(error, keys: keys))
        } catch {
            throw PartitionError(file: file, "cannot be decoded (\(error.localizedDescription))")
        }
    }

    /// Writes `data` atomically: the bytes go to a temporary file next to `path`, which is then
    /// renamed over it (`Data.WritingOptions.atomic`), so a reader never sees half a file and a
    /// failed write leaves the old file in place.
    static func write(_ data: Data, to path: String) throws(PartitionError) {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw PartitionError(file: path, "cannot be written (\(error.localizedDescription)); check that its folder exists and is writable")
        }
    }

    /// A `DecodingError` as one line: where in the file (`towers[2].domain`) and what is wrong;
    /// a missing key comes with `keys`, the list of what the format needs.
    private static func explain(_ error: DecodingError, keys: String) -> String {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "cannot be decoded (\(context.debugDescription))"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)) \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing; \(keys)"
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "holds no JSON object at the top; \(keys)" }
            return "\(path(context.codingPath)) must be \(describe(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)) is null; it must be \(describe(type))"
        @unknown default:
            return "cannot be decoded (\(error.localizedDescription))"
        }
    }

    /// `towers[2].domain` for a coding path; "the top level" for none.
    private static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "the top level" : text
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }

    /// "a, b and c"; "none" when empty.
    static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: "none"
        case 1: items[0]
        default: items.dropLast().joined(separator: ", ") + " and " + (items.last ?? "")
        }
    }

    /// Checks the format tag before the version and the version before anything else, so a
    /// foreign JSON file or a newer format is reported as such, not as a missing key. `what`
    /// names the format ("a towerplan partition file").
    static func checkHeader<Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>, format formatKey: Key, version versionKey: Key, tag: String, version current: Int, what: String
    ) throws {
        let format = try? container.decodeIfPresent(String.self, forKey: formatKey)
        guard format == tag else {
            let found = format.map { "\"\($0)\"" } ?? "missing or not a string"
            throw DecodingError.dataCorruptedError(
                forKey: formatKey, in: container, debugDescription: "is \(found), expected \"\(tag)\": this is not \(what)")
        }
        let version = try? container.decodeIfPresent(Int.self, forKey: versionKey)
        guard let version else {
            throw DecodingError.dataCorruptedError(
                forKey: versionKey, in: container, debugDescription: "is missing or not a whole number; this towerplan reads version \(current)")
        }
        guard version == current else {
            throw DecodingError.dataCorruptedError(
                forKey: versionKey, in: container,
                debugDescription:
                    "is \(version), which is not supported: this towerplan reads version \(current); write the file again with this towerplan, or use the towerplan that wrote it")
        }
    }
}
