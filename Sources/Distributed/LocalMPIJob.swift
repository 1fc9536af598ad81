import Foundation

/// An N-rank job on this machine whose rank 0 writes one result file: what `towerplan train
/// --ranks N` and `towerplan calibrate` run. It checks the shape before anything starts (N a
/// multiple of L, `mpirun` and the rank program present), optionally sets up emulated hosts of L
/// ranks each (torn down afterwards, also on failure), starts `mpirun` through `MPILauncher` with
/// the ranks' output in a log (whose tail a failure carries), and returns the result file's bytes.
public struct LocalMPIJob: Sendable {
    /// The executable every rank runs.
    public var program: String
    public var ranks: Int
    /// L: ranks per (emulated) host; the job has N / L hosts.
    public var ranksPerHost: Int
    /// Run the hosts as emulated hosts joined by links of this rate (nil: all ranks on this host,
    /// over shared memory).
    public var emulatedUplink: EmulatedHosts.Uplink?
    /// Stop the job after this long.
    public var timeout: Duration

    public init(program: String, ranks: Int, ranksPerHost: Int, emulatedUplink: EmulatedHosts.Uplink? = nil, timeout: Duration = .seconds(3600)) {
        self.program = program
        self.ranks = ranks
        self.ranksPerHost = ranksPerHost
        self.emulatedUplink = emulatedUplink
        self.timeout = timeout
    }

    /// H: hosts of L ranks.
    public var hosts: Int { ranks / ranksPerHost }

    /// Why the job cannot start as described, or nil: checked before any process starts.
    public var problem: String? {
        guard ranks >= 1, ranksPerHost >= 1 else { return "--ranks and --ranks-per-host must be at least 1 (got \(ranks) and \(ranksPerHost))" }
        guard ranks % ranksPerHost == 0 else {
            return "\(ranks) ranks do not fill hosts of \(ranksPerHost) ranks: --ranks must be a multiple of --ranks-per-host"
        }
        guard FileManager.default.isExecutableFile(atPath: program) else { return "the rank program \(program) does not exist or is not executable (build it: swift build)" }
        return nil
    }

    /// Runs `program arguments… <resultOption> FILE` on every rank and returns what rank 0 wrote
    /// to FILE. `mpirun`: the one on `PATH` unless given.
    public func run(arguments: [String], resultOption: String = "--output", mpirun: String? = MPILauncher.findMPIRun()) throws(LaunchError) -> Data {
        if let problem { throw .couldNotStart(problem) }
        guard let mpirun else { throw .couldNotStart("mpirun is not on PATH; install Open MPI (apt install openmpi-bin libopenmpi-dev)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-job-\(getpid())-\(UUID().uuidString)")
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw .couldNotStart("cannot create \(directory.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = directory.appendingPathComponent("result.json"), log = directory.appendingPathComponent("ranks.log")

        var launcher = MPILauncher(mpirun: mpirun, ranks: ranks)
        let hosts: EmulatedHosts?
        if let emulatedUplink {
            do throws(EmulationError) { hosts = try EmulatedHosts(hosts: self.hosts, ranksPerHost: ranksPerHost, uplink: emulatedUplink) } catch {
                throw .couldNotStart("emulated hosts: \(error)")
            }
        } else {
            hosts = nil
        }
        defer { hosts?.tearDown() }
        launcher.emulatedHosts = hosts
        try launcher.run(program: program, arguments: arguments + [resultOption, result.path], log: log, timeout: timeout)
        guard let data = try? Data(contentsOf: result) else {
            throw .failed(status: 0, log: "rank 0 wrote no result to \(result.path); the ranks' output:\n" + ((try? String(contentsOf: log, encoding: .utf8)) ?? ""))
        }
        return data
    }

    /// `name` in the directory of the running executable (where SwiftPM and installs put sibling
    /// executables, e.g. `towerplan-mpi-worker` next to `towerplan`).
    public static func siblingExecutable(_ name: String) -> String {
        let me = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// The running executable itself, for a program that is its own rank program.
    public static var currentExecutable: String {
        (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath().path
    }
}

extension DistributedLayout {
    /// SPTT's default towers, as `towerplan-mpi-worker train --layout sptt` forms them without
    /// `--towers`: `domains` contiguous blocks of the `features` feature indices, sized as evenly
    /// as possible (block d is [F·d/H, F·(d+1)/H)).
    public static func contiguousTowers(features: Int, domains: Int) -> [[Int]] {
        (0 ..< domains).map { Array(features * $0 / domains ..< features * ($0 + 1) / domains) }
    }
}
