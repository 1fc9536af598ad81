import Foundation

/// Writes a line to standard error (diagnostics never mix with results on stdout).
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
