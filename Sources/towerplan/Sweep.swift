import ArgumentParser
import Distributed
import Foundation
import Partitioning
import Planner
import Topology
import Training
import Workload

/// `towerplan sweep --topologies a.xml,b.xml --workloads w.xml,… [--gpus 64,128,256,512]`
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run the planner over cluster sizes, hardware generations and workloads, in parallel over cores.",
        discussion: """
            Every combination of topology, GPU count and workload is one plan (the same search as `towerplan plan`, without the report), planned on its own thread: P points on C cores take about ⌈P / C⌉ plans. --gpus scales each cluster's outermost repeated level (Grand Teton: racks of 16 GPUs), so every count must be a multiple of that level's GPUs. Embeddings are not learned here: give --embeddings (one file, used for every workload whose features it names) for tp and kmeans; without it the cost-only strategies run.

            Under `mpirun` (Open MPI; detected from its environment) the same command spreads the points over the ranks: rank r plans points r, r + N, r + 2N, … on its own cores, and rank 0 gathers the rows and prints the whole result, in the same order as a single-process run; the other ranks print nothing.

            Exit codes: 0 every point planned (rows whose search failed carry an error and make the exit 1); 1 an input file is invalid or a point failed; 64 bad command-line usage.

            Examples:
              towerplan sweep --topologies topologies/zionex-a100-128.xml,topologies/grand-teton-h100-512.xml --workloads workloads/prod-128.xml
              towerplan sweep --topologies topologies/grand-teton-h100-512.xml --workloads workloads/prod-128.xml,workloads/prod-512.xml --gpus 64,128,256,512 --json
              mpirun -np 4 --hostfile hosts towerplan sweep --topologies topologies/grand-teton-h100-512.xml --workloads workloads/prod-512.xml --gpus 128,256,512,1024
            """)

    @Option(help: ArgumentHelp("Comma-separated cluster files.", valueName: "list"))
    var topologies: String

    @Option(help: ArgumentHelp("Comma-separated workload files.", valueName: "list"))
    var workloads: String

    @Option(help: ArgumentHelp("Comma-separated GPU counts to scale every cluster to. Default: each as written.", valueName: "list"))
    var gpus: String?

    @Option(help: ArgumentHelp("Embeddings file for tp/kmeans, used for the workloads whose features it names.", valueName: "file"))
    var embeddings: String?

    @Option(help: ArgumentHelp("Comma-separated strategies. Default: tp with --embeddings, greedy without.", valueName: "list"))
    var strategies: String?

    @Option(help: "Balance bound ε: every tower's cost ≤ (1 + ε) × the mean.")
    var epsilon = 0.05

    @Option(help: "Seed of every random choice.")
    var seed: UInt64 = 1

    @Option(help: "Parallel plans. Default: the machine's cores.")
    var threads = AvailableCores.count

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        _ = try list(topologies, "--topologies") { $0 }
        _ = try list(workloads, "--workloads") { $0 }
        if let gpus { _ = try list(gpus, "--gpus") { Int($0).flatMap { $0 >= 1 ? $0 : nil } } }
        if !(epsilon >= 0 && epsilon.isFinite) { throw ValidationError("--epsilon must be a number ≥ 0, got \(epsilon)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let topologyPaths = try list(topologies, "--topologies") { $0 }
        let workloadPaths = try list(workloads, "--workloads") { $0 }
        let counts = try gpus.map { try list($0, "--gpus") { Int($0).flatMap { $0 >= 1 ? $0 : nil } } }
        var specs: [String: ClusterSpec] = [:]
        for path in topologyPaths { specs[path] = try orExit { try ClusterLoader.loadSpec(path: path) } }
        var models: [String: Workload] = [:]
        for path in workloadPaths { models[path] = try orExit { try WorkloadLoader.load(path: path) } }
        var affinities: [String: FeatureAffinity] = [:]
        if let embeddings {
            let file = try orExit { try FeatureAffinityFile.read(path: embeddings) }
            for (path, model) in models {
                if let affinity = try? file.resolve(against: model, file: embeddings) { affinities[path] = affinity }
            }
            if affinities.isEmpty {
                printError("\(embeddings): names the features of none of the workloads given; tp and kmeans need embeddings made for one of them")
                throw ExitCode(1)
            }
        }
        var grid = GridEnumerator()
        grid.strategies = try strategies.map { try list($0, "--strategies") { PartitionStrategy(rawValue: $0) } } ?? [embeddings == nil ? .greedy : .tp]
        let points = Sweep.points(topologies: topologyPaths, workloads: workloadPaths, gpus: counts)
        let world = Self.launchedByMPI ? try orExit { try MPI.start() } : nil
        let mine = points.indices.filter { $0 % (world?.size ?? 1) == (world?.rank ?? 0) }
        let progress = SharedProgress(quiet: quiet || json || (world?.rank ?? 0) != 0)
        let started = ContinuousClock.now
        let planned = Sweep.run(
            mine.map { points[$0] }, specs: specs, workloads: models, affinities: affinities, enumerator: grid, epsilon: epsilon, seed: seed,
            threads: threads
        ) { done, total in progress.update("planned \(done)/\(total)", fraction: Double(done) / Double(total)) }
        progress.finish()
        var rows = planned
        if let world {
            let gathered = try orExit { try Self.gather(Array(zip(mine, planned)), count: points.count, on: world) }
            try orExit { try MPI.finish() }
            guard let gathered else { return }
            rows = gathered
        }
        if json {
            print(try jsonText(rows))
        } else {
            print(Self.table(rows, seconds: (ContinuousClock.now - started).seconds, threads: threads))
        }
        if rows.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }

    /// True when Open MPI's launcher started this process (it sets `OMPI_COMM_WORLD_SIZE`).
    static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// One planned point and its place in the full list, as ranks send it to rank 0.
    struct IndexedRow: Codable {
        let index: Int
        let row: Sweep.Row
    }

    /// Rank 0 receives every rank's rows (JSON bytes, one gather) and returns all `count` rows in
    /// point order; the other ranks get nil.
    static func gather(_ rows: [(Int, Sweep.Row)], count: Int, on world: Communicator) throws -> [Sweep.Row]? {
        let bytes = [UInt8](try JSONEncoder().encode(rows.map { IndexedRow(index: $0.0, row: $0.1) }))
        let parts = try world.gather(bytes, root: 0)
        guard world.rank == 0 else { return nil }
        var ordered = [Sweep.Row?](repeating: nil, count: count)
        for part in parts {
            for item in try JSONDecoder().decode([IndexedRow].self, from: Data(part)) { ordered[item.index] = item.row }
        }
        return ordered.compactMap { $0 }
    }

    static func table(_ rows: [Sweep.Row], seconds: Double, threads: Int) -> String {
        let duration = { (value: Double?) in value.map { Units.formatDuration($0) } ?? "—" }
        var table = [["cluster", "GPUs", "workload", "flat", "flat step", "best DMT plan", "DMT step", "speedup"]]
        for row in rows {
            table.append([
                row.cluster, row.gpus.map(String.init) ?? "—", row.workload, row.flat ?? "—", duration(row.flatSeconds),
                row.best ?? (row.error == nil ? "none feasible" : "error"), duration(row.bestSeconds), row.speedup.map { String(format: "%.2f×", $0) } ?? "—",
            ])
        }
        var lines = textTable(table, rightAligned: [1, 4, 6, 7])
        let failures = rows.filter { $0.error != nil }
        if !failures.isEmpty { lines += [""] + failures.map { "error: \($0.cluster) · \($0.workload): \($0.error ?? "")" } }
        lines.append("")
        lines.append(String(format: "%d points on %d threads in %.1f s", rows.count, threads, seconds))
        return lines.joined(separator: "\n")
    }
}
