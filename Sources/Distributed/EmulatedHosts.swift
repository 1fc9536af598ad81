import Foundation

/// H emulated hosts on this machine, so that a distributed job's cross-host traffic is really
/// slower than its intra-host traffic (issue 5 §3). Needs root, `ip` and `tc`.
///
/// Network: a bridge `tpb<pid>` in this namespace at 10.213.s.254/24 (where `mpirun` runs), and
/// per host k a network namespace `tpe<pid>h<k>` whose `eth0` (10.213.s.(k+1)) is one end of a
/// veth pair, the other end (`tpe<pid>h<k>`) on the bridge. Each host's egress (`eth0`) carries a
/// `tbf` rate limit and, given a delay, a `netem` delay in front of it: every cross-host message
/// crosses exactly one shaped link, the sender's — a host NIC of that rate into a non-blocking
/// switch. Ranks on one host talk through shared memory, unshaped.
///
/// Processes: Open MPI's rsh launcher is pointed at an agent script that starts each host's daemon
/// through `ip netns exec` and `unshare --uts` with the hostname h<k> and its own TMPDIR — Open MPI
/// tells nodes apart by hostname and keeps its session directories under TMPDIR, so without
/// either, ranks of different hosts collide. TCP (daemons and ranks) is restricted to the
/// emulation subnet, so traffic stays on the links created here.
///
/// Clean-up: `tearDown()` (idempotent; also on deinit, and on SIGINT/SIGTERM while the hosts
/// exist, after which the process exits) kills what still runs in the namespaces and removes
/// them, the bridge and the directory; deleting a namespace deletes its veth pair and qdiscs.
/// Should the process exit with the hosts still up, an `atexit` hook tears them down. Leftovers of
/// a process that died without any of this (killed, crashed; names carry its pid) are removed by
/// `removeLeftovers()`, which `init` runs first. One instance per process at a time.
public final class EmulatedHosts: @unchecked Sendable {
    /// Each host's link into the switch.
    public struct Uplink: Sendable, Hashable {
        public var bitsPerSecond: Double
        /// One-way delay added to every packet a host sends (0: none). Needs the kernel's netem qdisc.
        public var delaySeconds: Double

        public init(bitsPerSecond: Double, delaySeconds: Double = 0) {
            self.bitsPerSecond = bitsPerSecond
            self.delaySeconds = delaySeconds
        }
    }

    public let hosts: Int
    public let ranksPerHost: Int
    public let uplink: Uplink
    /// Holds the hostfile, the agent script and each host's TMPDIR.
    public let directory: URL
    /// The emulation network, e.g. 10.213.7.0/24.
    public let subnet: String

    private let tag: String
    private let lock = NSLock()
    private var live = true
    private var signalSources: [DispatchSourceSignal] = []
    /// The dispositions SIGINT and SIGTERM had before, restored by `tearDown`.
    private var previousHandlers: [(Int32, sighandler_t?)] = []

    private static let prefixes = ["tpe", "tpb"]

    /// Sets up `hosts` hosts of `ranksPerHost` slots each. Throws, having removed whatever it
    /// created, when a command fails (not root, no `tc`, a kernel without netem for a delay).
    public init(hosts: Int, ranksPerHost: Int, uplink: Uplink) throws(EmulationError) {
        guard (1 ... 250).contains(hosts), ranksPerHost >= 1 else { throw .invalid("emulate 1 … 250 hosts of at least one rank, not \(hosts) × \(ranksPerHost)") }
        guard uplink.bitsPerSecond >= 8_000, uplink.bitsPerSecond.isFinite, uplink.delaySeconds >= 0, uplink.delaySeconds < 10 else {
            throw .invalid("an uplink needs a rate of at least 8 kbit/s and a delay of 0 … 10 s, not \(uplink.bitsPerSecond) bit/s and \(uplink.delaySeconds) s")
        }
        Self.removeLeftovers()
        self.hosts = hosts
        self.ranksPerHost = ranksPerHost
        self.uplink = uplink
        tag = String(getpid())
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-hosts-\(tag)")
        subnet = try Self.freeSubnet()
        // Before building, so that an interrupt during set-up removes what was made so far.
        installSignalHandlers()
        ProcessExit.shared.register(self)
        do throws(EmulationError) {
            try build()
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// The `mpirun` arguments that place ranks on these hosts (ranks 0 ..< L on h0, and so on).
    public var mpirunArguments: [String] {
        [
            "--hostfile", directory.appendingPathComponent("hostfile").path,
            "--mca", "plm_rsh_agent", directory.appendingPathComponent("agent").path,
            "--mca", "btl", "self,vader,tcp",
            "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet,
        ]
    }

    /// The namespace of host k.
    func namespace(_ host: Int) -> String { "tpe\(tag)h\(host)" }
    private var bridge: String { "tpb\(tag)" }
    private var prefix: String { String(subnet.dropLast(5)) }  // "10.213.7" of "10.213.7.0/24"

    private func build() throws(EmulationError) {
        try Self.run("ip", "link", "add", bridge, "type", "bridge")
        try Self.run("ip", "addr", "add", "\(prefix).254/24", "dev", bridge)
        try Self.run("ip", "link", "set", bridge, "up")
        let rate = "\(Int(uplink.bitsPerSecond.rounded()))bit"
        // The token bucket lets `burst` bytes through at veth speed after an idle gap, so it is
        // kept small: GSO segments are capped at 16 KiB (veth hands tbf whole segments, and one
        // larger than the bucket would never leave) and the bucket holds one of them with room
        // for headers. A 1.25 MB bucket (10 ms at 1 Gb/s) carried whole pooled-embedding
        // all-to-alls at veth speed, 1.6× faster than the link they emulate; with 64 KiB the
        // tower exchanges of small batches still went through unthrottled.
        let segment = 16_384, burst = "\(segment + 4_096)b"
        for host in 0 ..< hosts {
            let ns = namespace(host)
            try Self.run("ip", "netns", "add", ns)
            try Self.run("ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
            try Self.run("ip", "link", "set", ns, "master", bridge, "up")
            try Self.run("ip", "-n", ns, "addr", "add", "\(prefix).\(host + 1)/24", "dev", "eth0")
            try Self.run("ip", "-n", ns, "link", "set", "dev", "eth0", "gso_max_size", String(segment))
            try Self.run("ip", "-n", ns, "link", "set", "eth0", "up")
            try Self.run("ip", "-n", ns, "link", "set", "lo", "up")
            if uplink.delaySeconds > 0 {
                try Self.run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "netem",
                             "delay", "\(Int((uplink.delaySeconds * 1e6).rounded()))us")
                try Self.run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "parent", "1:1", "handle", "10:", "tbf",
                             "rate", rate, "burst", burst, "latency", "100ms")
            } else {
                try Self.run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", rate, "burst", burst, "latency", "100ms")
            }
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for host in 0 ..< hosts {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent("h\(host)"), withIntermediateDirectories: true)
            }
            let hostfile = (0 ..< hosts).map { "h\($0) slots=\(ranksPerHost)\n" }.joined()
            try hostfile.write(to: directory.appendingPathComponent("hostfile"), atomically: true, encoding: .utf8)
            // $1 is the host Open MPI starts a daemon on, the rest the daemon's command line.
            let agent = """
                #!/bin/sh
                # towerplan emulated hosts: start an Open MPI daemon on emulated host $1.
                host="$1"; shift
                exec ip netns exec "tpe\(tag)$host" unshare --uts sh -c 'hostname "$0" && TMPDIR="\(directory.path)/$0" && export TMPDIR && exec sh -c "$*"' "$host" "$@"

                """
            let agentFile = directory.appendingPathComponent("agent")
            try agent.write(to: agentFile, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agentFile.path)
        } catch { throw .command("writing \(directory.path)", status: 0, output: "\(error)") }
    }

    /// Removes everything this instance made; safe to call more than once.
    public func tearDown() {
        lock.lock()
        defer { lock.unlock() }
        guard live else { return }
        live = false
        for source in signalSources { source.cancel() }
        signalSources = []
        for (signalNumber, handler) in previousHandlers { signal(signalNumber, handler) }
        previousHandlers = []
        for host in 0 ..< hosts { Self.removeNamespace(namespace(host)) }
        Self.remove("ip", "link", "del", bridge)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Removes the namespaces, bridges and directories of emulations whose process no longer runs.
    public static func removeLeftovers() {
        let namespaces = (try? run("ip", "netns", "list")) ?? ""
        for line in namespaces.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            if let pid = ownerPID(name), !isRunning(pid) { removeNamespace(name) }
        }
        let links = (try? run("ip", "-o", "link", "show", "type", "bridge")) ?? ""
        for line in links.split(separator: "\n") {
            let fields = line.split(separator: ":")
            guard fields.count > 1 else { continue }
            let name = fields[1].trimmingCharacters(in: .whitespaces)
            if let pid = ownerPID(name), !isRunning(pid) {
                remove("ip", "link", "del", name)
                try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-hosts-\(pid)"))
            }
        }
    }

    /// The pid in a name this type gives (`tpe<pid>h<k>`, `tpb<pid>`), nil for other names.
    static func ownerPID(_ name: String) -> Int32? {
        guard let prefix = prefixes.first(where: { name.hasPrefix($0) }) else { return nil }
        return Int32(name.dropFirst(prefix.count).prefix { $0.isNumber })
    }

    private static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Kills what runs in the namespace (daemons of a job that was interrupted), deletes its veth
    /// pair (named like the namespace) and the namespace. The pair goes first and explicitly: the
    /// kernel destroys a deleted namespace, and the devices in it, later, in the background.
    private static func removeNamespace(_ name: String) {
        let pids = ((try? run("ip", "netns", "pids", name)) ?? "").split(separator: "\n").compactMap { Int32($0) }
        for pid in pids { kill(pid, SIGKILL) }
        remove("ip", "link", "del", name)
        remove("ip", "netns", "del", name)
    }

    /// An unused 10.213.x.0/24: one with no route in this namespace yet.
    private static func freeSubnet() throws(EmulationError) -> String {
        let start = Int(getpid()) % 250
        for offset in 0 ..< 250 {
            let subnet = "10.213.\((start + offset) % 250).0/24"
            if try run("ip", "-o", "route", "show", "to", "match", subnet).split(separator: "\n").allSatisfy({ $0.hasPrefix("default") }) {
                return subnet
            }
        }
        throw .invalid("every 10.213.x.0/24 subnet is in use")
    }

    /// SIGINT and SIGTERM tear down, then end the process as the signal would have.
    private func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            previousHandlers.append((signalNumber, signal(signalNumber, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                self?.tearDown()
                signal(signalNumber, SIG_DFL)
                kill(getpid(), signalNumber)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Runs a removal whose failure means there was nothing left to remove.
    private static func remove(_ arguments: String...) {
        _ = try? run(arguments)
    }

    @discardableResult
    private static func run(_ arguments: String...) throws(EmulationError) -> String {
        try run(arguments)
    }

    /// Runs a command to its end and returns its output; throws with it on a failure.
    private static func run(_ arguments: [String]) throws(EmulationError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { throw .command(arguments.joined(separator: " "), status: -1, output: "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw .command(arguments.joined(separator: " "), status: process.terminationStatus, output: text) }
        return text
    }
}

/// Tears down the live `EmulatedHosts` when the process exits without having done it (a CLI that
/// calls `exit`, a test runner ending while a signal handler is still removing): `exit` runs the
/// `atexit` hook, whose `tearDown` waits for a tear-down in progress to finish.
private final class ProcessExit: @unchecked Sendable {
    static let shared = ProcessExit()
    private let lock = NSLock()
    private weak var live: EmulatedHosts?

    private init() {
        atexit { ProcessExit.shared.tearDown() }
    }

    func register(_ hosts: EmulatedHosts) {
        lock.withLock { live = hosts }
    }

    private func tearDown() {
        lock.withLock { live }?.tearDown()
    }
}

/// Why emulated hosts could not be set up.
public enum EmulationError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalid(String)
    /// A command failed: what ran, its exit status and its output.
    case command(String, status: Int32, output: String)

    public var description: String {
        switch self {
        case .invalid(let problem):
            "emulated hosts: \(problem)"
        case .command(let command, let status, let output):
            "emulated hosts: `\(command)` failed (status \(status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
                + (output.contains("qdisc kind is unknown") ? " — this kernel lacks that qdisc (netem for delays); emulate rates only" : "")
                + (status != 0 && output.contains("Operation not permitted") ? " — emulated hosts need root (CAP_NET_ADMIN)" : "")
        }
    }
}
