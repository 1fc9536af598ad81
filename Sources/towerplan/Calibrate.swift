import ArgumentParser
import Distributed
import Foundation
import Topology
import Workload

/// `towerplan calibrate [--ranks N --ranks-per-host L] [--emulate-hosts] [--workload W [--batch B]] [-o FILE]`
struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine's ranks (compute, memory, MPI links) and write a topology file of it for `train --predict`.",
        discussion: """
            Starts mpirun with N ranks of this very binary (`towerplan calibrate --rank-program`), which measure at once on one thread each (as `train --ranks` runs them), each rank running the training's own kernels, timed in CPU seconds (a rate while the rank holds a core; when all ranks run on this machine the topology says how many cores they share, shared-cores, and the simulator shares them): MLP FLOP/s (forward and backward through its MLP layers), interaction FLOP/s (its interaction layers and tower modules), streaming bandwidth (its dense optimizer step) and embedding bandwidth (the lookup, then apart the sparse-optimizer backward, of the tables the run puts on that rank, from memory), each counted as the simulator counts that work; and the links as collectives see them while every rank trains: every host's ranks at once (inside hosts) and every group of peers at once (across hosts) alternate compute with all-to-alls of 4 bytes and of 256 KB per pair — latency from the small ones, bandwidth from the large ones less that, the faster of back-to-back and 10 ms-spaced exchanges — scheduling waits included when ranks outnumber cores. With --workload the kernels take that workload's shapes (its MLPs at --batch, its interaction and, with several hosts, a tower module of F/H features on --batch × H samples, its tables on the global batch of its data, --batch × --ranks samples, its optimizers), so the rates are the ones its training reaches; without, generic DLRM-like shapes. --emulate-hosts puts each host of L ranks in its own network namespace behind a link of --uplink-bits-per-second (needs root), as `train --emulate-hosts` does.

            The file has N / L hosts of L CPU accelerators whose fp32 peak, interaction rate, memory bandwidth and gather and scatter bandwidths are the measured rates, so `train --predict` simulates them with efficiencies 1.

            Examples:
              towerplan calibrate --ranks 4 --ranks-per-host 2 -o calibrated.xml
              sudo towerplan calibrate --ranks 4 --ranks-per-host 2 --emulate-hosts --uplink-bits-per-second 1e9 --workload workloads/synthetic-planted.xml -o calibrated.xml
            """)

    @Option(help: "MPI ranks to measure with (N).")
    var ranks = 2

    @Option(help: "Ranks per host (L); --ranks must be a multiple. Default: all on one host.")
    var ranksPerHost: Int?

    @Flag(help: "Run each host in its own network namespace behind a rate-limited link (needs root, ip, tc).")
    var emulateHosts = false

    @Option(help: "Emulated hosts: each host's link rate in bit/s.")
    var uplinkBitsPerSecond = 1e9

    @Option(help: "Time the kernels at this workload's shapes (default: generic DLRM-like shapes).")
    var workload: String?

    @Option(help: "With --workload: samples per rank the MLPs and the table run on (default: the workload's batch per GPU).")
    var batch: Int?

    @Option(help: "Cluster name in the file.")
    var name = "calibrated-local"

    @Option(name: [.short, .customLong("output")], help: "Topology file to write (default: stdout).")
    var output: String?

    @Flag(help: "Print the measurement as JSON too (on stdout; the file goes to -o).")
    var json = false

    @Option(help: .hidden)
    var measurement: String?

    @Flag(help: .hidden)
    var rankProgram = false

    func validate() throws {
        guard ranks >= 1 else { throw ValidationError("--ranks must be at least 1") }
        let perHost = ranksPerHost ?? ranks
        guard perHost >= 1, ranks % perHost == 0 else {
            throw ValidationError("--ranks \(ranks) is not a multiple of --ranks-per-host \(perHost): every host holds the same number of ranks")
        }
        if emulateHosts && ranks == perHost { throw ValidationError("--emulate-hosts needs at least two hosts: give --ranks-per-host below --ranks") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if batch != nil && workload == nil { throw ValidationError("--batch sets the workload's kernel shapes: add --workload W") }
    }

    func run() throws {
        if rankProgram { return try measureOnThisRank() }
        let measured: CalibrationMeasurement
        if let measurement {
            // Tests inject a measurement here, as --json prints it, so the file's numbers can be checked exactly.
            measured = try orExit { try Self.readMeasurement(measurement) }
        } else {
            _ = try kernels()  // a workload that does not load fails here, before mpirun starts
            let job = LocalMPIJob(
                program: LocalMPIJob.currentExecutable, ranks: ranks, ranksPerHost: ranksPerHost ?? ranks,
                emulatedUplink: emulateHosts ? EmulatedHosts.Uplink(bitsPerSecond: uplinkBitsPerSecond) : nil, timeout: .seconds(600))
            let arguments = ["calibrate", "--rank-program", "--ranks", String(ranks), "--ranks-per-host", String(ranksPerHost ?? ranks)]
                + (workload.map { ["--workload", $0] } ?? []) + (batch.map { ["--batch", String($0)] } ?? [])
            measured = try orExit { try JSONDecoder().decode(CalibrationMeasurement.self, from: try job.run(arguments: arguments)) }
        }
        let xml = measured.topologyXML(name: name)
        if let output {
            try orExit { try Data(xml.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) }
            printError("wrote \(output): \(summary(measured))")
        } else if !json {
            print(xml, terminator: "")
        }
        if json { print(try jsonText(measured)) }
    }

    /// One line of what was measured.
    private func summary(_ m: CalibrationMeasurement) -> String {
        var parts = [
            String(
                format: "%.2f GFLOP/s MLPs, %.2f GFLOP/s interactions, %.2f GB/s streamed, %.2f GB/s embedding lookups and %.2f GB/s backward per rank",
                m.gemmFlopsPerSecond / 1e9, m.interactionFlopsPerSecond / 1e9, m.streamBytesPerSecond / 1e9, m.gatherBytesPerSecond / 1e9,
                m.scatterBytesPerSecond / 1e9)
        ]
        for (name, link) in [("within a host", m.intraHost), ("across hosts", m.interHost)] {
            if let link { parts.append("\(name) \(Units.formatBits(perSecond: link.bandwidthBytesPerSecond)), \(Units.formatDuration(link.latencySeconds))") }
        }
        return parts.joined(separator: "; ")
    }

    /// A measurement as `--json` prints it, read from `path`. A field that is missing (a file an
    /// older towerplan wrote lacks the newer rates) or malformed is named in the error.
    static func readMeasurement(_ path: String) throws -> CalibrationMeasurement {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ValidationError("cannot read the measurement \(path): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(CalibrationMeasurement.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            let field = key.stringValue.reduce(into: "") { name, character in
                name += character.isUppercase ? "_" + character.lowercased() : String(character)
            }
            throw ValidationError("the measurement \(path) has no \(field) (written by an older towerplan calibrate?): measure again")
        } catch {
            throw ValidationError("the measurement \(path) is not what calibrate --json writes: \(error)")
        }
    }

    /// The kernels' shapes: --workload's at --batch, or the generic ones.
    private func kernels() throws -> CalibrationKernels {
        guard let workload else { return .generic }
        let model = try orExit { try WorkloadLoader.load(path: workload) }
        return try orExit { try CalibrationKernels(workload: model, batch: batch ?? model.training.batchPerGPU, ranks: ranks, ranksPerHost: ranksPerHost ?? ranks) }
    }

    /// The rank program: measure with the other ranks; rank 0 writes the JSON to --output.
    private func measureOnThisRank() throws {
        let world = try MPI.start()
        do {
            if let result = try Calibration.measure(world: world, ranksPerHost: ranksPerHost ?? world.size, kernels: try kernels()) {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let data = try encoder.encode(result)
                if let output { try data.write(to: URL(fileURLWithPath: output), options: .atomic) } else { FileHandle.standardOutput.write(data) }
            }
        } catch {
            printError("towerplan calibrate rank \(world.rank): \(error)")
            MPI.abort(code: 1)
        }
        try MPI.finish()
    }
}
