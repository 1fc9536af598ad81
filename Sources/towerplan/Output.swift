import ArgumentParser
import Foundation
import Topology

/// Writes a line to standard error (diagnostics never mix with results on stdout).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Loads a cluster file for a command; on failure prints every problem (file:line: message) and
/// exits with status 1.
func loadClusterOrExit(_ path: String) throws -> Cluster {
    do {
        return try ClusterLoader.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
}

/// JSON the way every `--json` output is written: snake_case keys, sorted, indented.
func jsonText(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Rows of cells as lines, each column padded to its widest cell (left-aligned unless listed).
func textTable(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
    guard let first = rows.first else { return [] }
    let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            return rightAligned.contains(column) ? pad + cell : cell + pad
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}
