import ArgumentParser
import Distributed
import Foundation
import Training
import Workload

/// One rank of a distributed job: `mpirun -np N towerplan-mpi-worker train …` trains a workload
/// across the ranks (`DistributedTraining.run`) and rank 0 writes the report as JSON;
/// `… check` runs `MPISelfCheck`. A rank that fails prints why and aborts the whole job, so that
/// no rank waits forever in a collective. `towerplan-mpi-worker launch --ranks N [--emulate-hosts H]
/// -- train …` starts that `mpirun` itself (`MPILauncher`), on emulated hosts if asked.
@main
struct MPIWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "towerplan-mpi-worker",
        abstract: "One rank of a distributed towerplan job; start N of them with mpirun.",
        subcommands: [Train.self, Check.self, Launch.self], defaultSubcommand: Train.self)

    /// Starts MPI, runs `body` with the world, and finishes MPI; on an error prints it with the
    /// rank and aborts every rank.
    static func onEveryRank(_ body: (Communicator) throws -> Void) throws {
        let world = try MPI.start()
        do {
            try body(world)
        } catch {
            FileHandle.standardError.write(Data("towerplan-mpi-worker rank \(world.rank): \(error)\n".utf8))
            MPI.abort(code: 1)
        }
        try MPI.finish()
    }
}

/// Starts `mpirun` on this program with the flags this machine needs, on emulated hosts if asked.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run this program's subcommand on N MPI ranks of this machine, optionally on emulated hosts.",
        discussion: "Example: towerplan-mpi-worker launch --ranks 4 --emulate-hosts 2 --uplink-bits-per-second 2e8 -- train --workload w.xml --layout sptt --ranks-per-host 2")

    @Option(help: "MPI ranks (N).")
    var ranks: Int

    @Option(help: "Run the ranks on this many emulated hosts (network namespaces joined by rate-limited links; needs root), N / hosts ranks each.")
    var emulateHosts: Int?

    @Option(help: "Emulated hosts: each host's uplink rate in bit/s.")
    var uplinkBitsPerSecond = 1e9

    @Option(help: "Emulated hosts: one-way delay of each uplink in seconds (needs the kernel's netem).")
    var uplinkDelaySeconds = 0.0

    @Option(help: "Stop the job after this many seconds.")
    var timeout = 3600

    @Argument(parsing: .postTerminator, help: "The subcommand and options every rank runs, after --.")
    var rankArguments: [String]

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        if let hosts = emulateHosts, hosts < 1 || ranks % hosts != 0 {
            throw ValidationError("\(ranks) ranks do not split evenly over \(hosts) emulated hosts")
        }
        guard !rankArguments.isEmpty else { throw ValidationError("give the ranks' subcommand after --, e.g. -- check") }
    }

    func run() throws {
        guard let mpirun = MPILauncher.findMPIRun() else { throw ValidationError("mpirun is not on PATH; install Open MPI (openmpi-bin)") }
        var launcher = MPILauncher(mpirun: mpirun, ranks: ranks)
        let hosts = try emulateHosts.map { hosts in
            try EmulatedHosts(
                hosts: hosts, ranksPerHost: ranks / hosts, uplink: EmulatedHosts.Uplink(bitsPerSecond: uplinkBitsPerSecond, delaySeconds: uplinkDelaySeconds))
        }
        defer { hosts?.tearDown() }
        launcher.emulatedHosts = hosts
        let program = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath().path
        try launcher.run(program: program, arguments: rankArguments, log: nil, timeout: .seconds(timeout))
    }
}

/// Exercises every collective and fails when any result is wrong.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that every MPI collective returns what it should on these ranks.")

    func run() throws {
        try MPIWorker.onEveryRank { world in
            let problems = try MPISelfCheck.run(world: world)
            guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "\n")) }
            // Which host each rank runs on: emulated hosts show h0, h1, … here.
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, name.count - 1)
            let hosts = try world.gather(name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, root: 0).map { String(decoding: $0, as: UTF8.self) }
            guard world.rank == 0 else { return }
            print("MPI check: every collective agrees on \(world.size) ranks")
            let ranksOfHost = Dictionary(grouping: hosts.indices) { hosts[$0] }
            print("hosts: " + ranksOfHost.keys.sorted().map { "\($0) (ranks \(ranksOfHost[$0]!.map(String.init).joined(separator: ", ")))" }.joined(separator: "; "))
        }
    }
}

/// Trains and reports.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a workload on its synthetic data across the ranks.")

    enum Layout: String, ExpressibleByArgument, CaseIterable {
        case flat, sptt
    }

    @Option(help: "Workload file with a <data><synthetic …/> section.")
    var workload: String

    @Option(help: "flat (tables spread over all ranks) or sptt (one tower per domain of --ranks-per-host ranks).")
    var layout: Layout = .flat

    @Option(help: "SPTT: ranks per tower domain (L); the run has N / L domains and as many towers.")
    var ranksPerHost: Int?

    @Option(help: "SPTT: the towers as feature indices, towers separated by '/', e.g. 0,1,2/3,4,5 (default: contiguous blocks, sized as evenly as possible).")
    var towers: String?

    @Option(help: "Samples per rank and step (default: the workload's batch per GPU).")
    var batch: Int?

    @Option(help: "Training steps.")
    var steps = 1

    @Option(help: "Parameter seed.")
    var seed: UInt64 = 1

    @Option(help: "CPU threads per rank.")
    var threads = 1

    @Flag(help: "Record every step's global-batch logits in the report.")
    var recordLogits = false

    @Flag(help: "Gather the final training state into the report.")
    var exportState = false

    @Option(help: ArgumentHelp("Training data: synthetic (the workload's generator), or criteo:PATH (a Criteo TSV file every rank reads). Default: the workload's data section.", valueName: "source"))
    var data: String?

    @Option(name: .customLong("held-out-every"), help: "Criteo data: hold out every n-th line for evaluation.")
    var heldOutEvery = 10

    @Option(name: .customLong("eval-samples"), help: "Held-out samples to evaluate the final model on (AUC, log-loss), a multiple of the ranks; 0: none.")
    var evalSamples = 0

    @Option(help: "Where rank 0 writes the JSON report (default: stdout).")
    var output: String?

    @Option(help: .hidden)
    var killRankAfterStep: [Int] = []

    func run() throws {
        try MPIWorker.onEveryRank { world in
            let workload = try WorkloadLoader.load(path: self.workload)
            var options = DistributedTrainingOptions(
                layout: try distributedLayout(features: workload.features.count, ranks: world.size),
                batchPerRank: batch ?? workload.training.batchPerGPU, steps: steps, seed: seed, threads: threads,
                recordLogits: recordLogits, exportState: exportState, evaluationSamples: evalSamples,
                data: try TrainingData(option: data, workload: workload, heldOutEvery: heldOutEvery))
            // Fault injection for the tests: `--kill-rank-after-step R --kill-rank-after-step S`
            // makes rank R die by SIGKILL after step S, as a crashed or killed rank would.
            if killRankAfterStep.count == 2, killRankAfterStep[0] == world.rank {
                let dyingStep = killRankAfterStep[1]
                options.afterStep = { step, _ in if step == dyingStep { kill(getpid(), SIGKILL) } }
            }
            guard let report = try DistributedTraining.run(workload: workload, options: options, world: world) else { return }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let json = try encoder.encode(report)
            if let output {
                try json.write(to: URL(fileURLWithPath: output), options: .atomic)
            } else {
                FileHandle.standardOutput.write(json)
            }
        }
    }

    /// The layout the options name; SPTT's default towers are contiguous blocks of features.
    private func distributedLayout(features: Int, ranks: Int) throws -> DistributedLayout {
        switch layout {
        case .flat:
            guard ranksPerHost == nil, towers == nil else { throw ValidationError("--ranks-per-host and --towers apply to --layout sptt only") }
            return .flat
        case .sptt:
            guard let perHost = ranksPerHost else { throw ValidationError("--layout sptt needs --ranks-per-host") }
            guard perHost >= 1, ranks % perHost == 0 else { throw ValidationError("\(ranks) ranks do not split into hosts of \(perHost)") }
            let domains = ranks / perHost
            guard let towers else {
                return .sptt(ranksPerDomain: perHost, towers: DistributedLayout.contiguousTowers(features: features, domains: domains))
            }
            let parsed = towers.split(separator: "/", omittingEmptySubsequences: false).map { tower in
                tower.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            }
            guard parsed.allSatisfy({ $0.allSatisfy { $0 != nil } }) else {
                throw ValidationError("--towers '\(towers)' is not a list of feature indices like 0,1,2/3,4,5")
            }
            return .sptt(ranksPerDomain: perHost, towers: parsed.map { $0.compactMap { $0 } })
        }
    }
}
