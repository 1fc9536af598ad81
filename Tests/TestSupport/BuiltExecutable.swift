import Foundation

/// Finds the products `swift build --build-tests` built next to the running test bundle, for the
/// test suites that run the real binaries (the CLI end to end, MPI jobs of the worker).
public enum BuiltExecutable {
    /// The path of the executable `name` in the test bundle's folder or up to three folders above
    /// it (SwiftPM's layouts differ between platforms and configurations); throws `NotBuilt`,
    /// which says how to build it, when there is none.
    public static func path(_ name: String, build: String) throws -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw NotBuilt(name: name, searchedFrom: CommandLine.arguments[0], build: build)
    }

    public struct NotBuilt: Error, CustomStringConvertible {
        public var name: String
        public var searchedFrom: String
        /// The command that builds it.
        public var build: String
        public var description: String { "\(name) is not built next to \(searchedFrom); run `\(build)` first" }
    }
}
