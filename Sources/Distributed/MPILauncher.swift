import Foundation
import Training

/// Starts an N-rank MPI job on this machine through Open MPI's `mpirun`, with the flags a
/// single-host run needs here, and waits for it with a deadline.
///
/// Flags, and why: `--allow-run-as-root` when running as root (containers; Open MPI refuses root
/// otherwise), `--oversubscribe` (more ranks than cores is the point of a small-machine check),
/// `--bind-to none` (binding oversubscribed ranks to cores serialises them), `--mca btl
/// self,vader` (loopback and shared memory: no TCP transport probing interfaces on one host), and
/// with more ranks than this machine has cores `--mca mpi_yield_when_idle 1`: a rank waiting in a
/// collective then yields its core instead of spinning on it, so the rank it waits for gets to
/// run. Open MPI turns this on by itself only when it sees more ranks than slots, which emulated
/// hosts (each with the whole machine's cores) hide; without it every collective of 4 ranks on 2
/// cores waited out scheduler time slices (a 4-rank SPTT step: 97 ms spinning, 19 ms yielding).
/// With `emulatedHosts` the ranks run on those instead, over TCP between hosts. Open MPI already
/// ends every rank when one dies and returns its status; the deadline bounds a job that hangs anyway.
public struct MPILauncher: Sendable {
    /// Path of `mpirun`.
    public var mpirun: String
    public var ranks: Int
    /// Open MPI byte-transfer layers (`--mca btl`) on one host.
    public var transports: [String] = ["self", "vader"]
    /// Run on these emulated hosts instead (ranks must be their hosts × ranks per host).
    public var emulatedHosts: EmulatedHosts?

    public init(mpirun: String, ranks: Int) {
        self.mpirun = mpirun
        self.ranks = ranks
    }

    /// `mpirun` on `PATH`, or nil when Open MPI is not installed.
    public static func findMPIRun(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        (path ?? "").split(separator: ":").map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The arguments after `mpirun` that start `program arguments…` on every rank.
    public func arguments(program: String, arguments: [String]) -> [String] {
        let placement = emulatedHosts?.mpirunArguments ?? ["--mca", "btl", transports.joined(separator: ",")]
        let yielding = ranks > AvailableCores.count ? ["--mca", "mpi_yield_when_idle", "1"] : []
        return (geteuid() == 0 ? ["--allow-run-as-root"] : []) + ["--oversubscribe", "--bind-to", "none"] + yielding + placement
            + ["-np", String(ranks), program] + arguments
    }

    /// Runs the job to its end, every rank's output going to the file `log` (nil: to this
    /// process's stdout and stderr). Throws when it cannot start, exits with a failure (the error
    /// carries the log's tail) or outlives `timeout` (then it is terminated, which makes `mpirun`
    /// end the ranks).
    public func run(program: String, arguments: [String], log: URL?, timeout: Duration) throws(LaunchError) {
        if let hosts = emulatedHosts, hosts.hosts * hosts.ranksPerHost != ranks {
            throw .couldNotStart("\(ranks) ranks do not fill \(hosts.hosts) emulated hosts of \(hosts.ranksPerHost) ranks")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = self.arguments(program: program, arguments: arguments)
        if let log {
            guard FileManager.default.createFile(atPath: log.path, contents: nil), let output = FileHandle(forWritingAtPath: log.path) else {
                throw .couldNotStart("cannot write the log \(log.path)")
            }
            process.standardOutput = output
            process.standardError = output
        }
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { throw .couldNotStart("\(mpirun): \(error)") }
        let (seconds, attoseconds) = timeout.components
        if finished.wait(timeout: .now() + Double(seconds) + Double(attoseconds) * 1e-18) == .timedOut {
            process.terminate()
            finished.wait()
            throw .timedOut(timeout, log: Self.tail(of: log))
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw .failed(status: process.terminationStatus, log: Self.tail(of: log))
        }
    }

    /// The last 4 KB of the log, where the failing rank's message is.
    private static func tail(of log: URL?) -> String {
        guard let log else { return "(the ranks' output went to this process's output)" }
        guard let data = try? Data(contentsOf: log) else { return "(no log at \(log.path))" }
        return String(decoding: data.suffix(4096), as: UTF8.self)
    }
}

/// Why an MPI job did not complete.
public enum LaunchError: Error, Sendable, Hashable, CustomStringConvertible {
    case couldNotStart(String)
    /// `mpirun` exited with `status`; `log` is the end of the ranks' output.
    case failed(status: Int32, log: String)
    case timedOut(Duration, log: String)

    public var description: String {
        switch self {
        case .couldNotStart(let problem): "could not start mpirun: \(problem)"
        case .failed(let status, let log): "the MPI job failed with status \(status):\n\(log)"
        case .timedOut(let timeout, let log): "the MPI job did not finish within \(timeout) and was stopped:\n\(log)"
        }
    }
}
