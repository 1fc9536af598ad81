import ArgumentParser
import Foundation
import Topology

/// `towerplan topo import-nccl FILE.xml -o host.xml [--name NAME]`
struct TopoImportNCCL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-nccl",
        abstract: "Turn an NCCL topology dump of one host into a cluster file with a reusable host template.",
        discussion: """
            Reads the XML that NCCL writes with NCCL_TOPO_DUMP_FILE (or an NCCL_TOPO_FILE hint file) and writes a valid single-host cluster file: accelerator model(s) chosen from each GPU's sm, a <template> with CPUs, PCIe switches, GPUs, NICs, NVLink and PCIe links, and a <fabric> holding one host.

            Whatever the dump leaves out is filled with a stated default; each such assumption is printed to stderr as a note and kept in the file's header comment.

            Example:
              towerplan topo import-nccl topo.xml -o topologies/my-host.xml --name my-host
            then, in a larger cluster file:
              <import href="my-host.xml"/>
              <host template="my-host" count="16"/>
              <link a="host/nic" b="tor" bandwidth="400Gb/s"/>
            """)

    @Argument(help: "NCCL topology XML file (a <system> root).")
    var input: String

    @Option(name: [.short, .customLong("output")], help: "Cluster file to write; replaced atomically if it exists.")
    var output: String

    @Option(help: "Name of the cluster and of its host template (default: the input file's name).")
    var name: String?

    func run() throws {
        if Self.sameFile(input, output) {
            printError("\(output): this is the input file; choose another output path so the NCCL dump is kept")
            throw ExitCode(1)
        }
        var isDirectory: ObjCBool = false
        let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            printError("\(output): the directory \(directory) does not exist; create it first")
            throw ExitCode(1)
        }
        let result: NCCLImportResult
        do {
            result = try NCCLImporter.importHost(path: input, name: name)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        for note in result.notes { printError("note: \(note)") }
        do {
            try Self.writeAtomically(Data(result.xml.utf8), to: output)
        } catch {
            printError("\(output): cannot write the cluster file: \(error.localizedDescription)")
            throw ExitCode(1)
        }
        let cluster = result.cluster
        print("\(output): host template '\(result.name)': accelerators \(cluster.accelerators.count), devices \(cluster.devices.count), links \(cluster.links.count)")
    }

    /// Whether two paths name one file: the same path after resolving symbolic links, or (for hard
    /// links) the same inode on the same device.
    static func sameFile(_ first: String, _ second: String) -> Bool {
        let resolved = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
        if resolved(first) == resolved(second) { return true }
        var a = stat()
        var b = stat()
        guard stat(first, &a) == 0, stat(second, &b) == 0 else { return false }
        return a.st_ino == b.st_ino && a.st_dev == b.st_dev
    }

    /// Writes to a temporary file in the destination's directory, then renames it over the
    /// destination, so readers see the old file or the whole new one, never a half-written one.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let destination = URL(fileURLWithPath: path)
        let directory = destination.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary, options: .withoutOverwriting)
            guard rename(temporary.path, destination.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
