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
