import Foundation

/// A fresh folder under the system's temporary directory for one test's files, removed again
/// when `body` returns or throws, so that tests that write topology, measurement or log files
/// neither collide nor leave anything behind.
public func withScratchDirectory<Result>(_ prefix: String, _ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}
