import Foundation
import Simulation
import Training
import Workload

/// What `towerplan calibrate` measured on this machine's ranks: the per-rank rates of the three
/// kinds of work the simulator's compute model knows (GEMM FLOPs, streamed bytes, gathered bytes)
/// with every rank busy at once, and MPI's bandwidth and latency between two ranks of one host
/// (shared memory) and of two (emulated) hosts. Rank 0 writes it as JSON; `topologyXML` turns it
/// into a cluster file.
public struct CalibrationMeasurement: Sendable, Hashable, Codable {
    /// One kind of link between two ranks, per direction.
    public struct Link: Sendable, Hashable, Codable {
        public var bandwidthBytesPerSecond: Double
        /// One all-to-all of 4 bytes per pair, run by every group of such ranks at once (see
        /// `Calibration.link`): the fixed cost one collective pays on this link.
        public var latencySeconds: Double

        public init(bandwidthBytesPerSecond: Double, latencySeconds: Double) {
            self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
            self.latencySeconds = latencySeconds
        }
    }

    public var ranks: Int
    public var ranksPerHost: Int
    /// The kernels' shapes, in words (`CalibrationKernels.description`).
    public var kernels: String
    /// MLP FLOP/s of one rank (mean over ranks, all running at once): forward and backward through
    /// the trainer's `MLPNetwork`, FLOPs counted as the simulator counts them, over the time left
    /// once the simulator's streamed bytes for those layers are charged at `streamBytesPerSecond`
    /// (its CPU model adds the two; see `Calibration.mlpRate`).
    public var gemmFlopsPerSecond: Double
    /// Streamed bytes per second of one rank: the trainer's dense optimizer step, bytes counted as
    /// the simulator counts them (`StepPlan.denseOptimizerWork`).
    public var streamBytesPerSecond: Double
    /// Interaction FLOP/s of one rank: the trainer's feature-interaction layers (the over-arch's
    /// interaction, the tower modules) forward and backward at the kernels' shapes, FLOPs and
    /// streamed bytes counted as the simulator counts them (`ComputeWork.interactionFlops`), over
    /// the time left once the streamed bytes are charged, as for the MLPs.
    public var interactionFlopsPerSecond: Double
    /// Lookup bandwidth of one rank (mean over the ranks that hold tables): the forward of its
    /// share of the tables through `EmbeddingBagCollection`, started with the tables out of every
    /// cache level, bytes counted as the simulator counts them (rows gathered).
    public var gatherBytesPerSecond: Double
    /// Backward bandwidth of one rank, likewise: the same tables' backward with the sparse
    /// optimizer, bytes counted as the simulator counts them (gradient rows read, touched rows
    /// read and written with their optimizer state).
    public var scatterBytesPerSecond: Double
    /// This host's memory divided among its ranks.
    public var memoryBytesPerRank: Double
    /// The cores the ranks time-share when all of them ran on this one machine (as emulated hosts
    /// do), which the simulator shares among them (`Cluster.sharedCores`); nil when they ran on
    /// several machines, and in files written before towerplan measured it.
    public var sharedCores: Int?
    /// Inside a host (shared memory); nil with one rank per host.
    public var intraHost: Link?
    /// Between hosts; nil with one host.
    public var interHost: Link?

    public init(
        ranks: Int, ranksPerHost: Int, kernels: String, gemmFlopsPerSecond: Double, streamBytesPerSecond: Double, interactionFlopsPerSecond: Double,
        gatherBytesPerSecond: Double, scatterBytesPerSecond: Double, memoryBytesPerRank: Double, sharedCores: Int?, intraHost: Link?, interHost: Link?
    ) {
        self.sharedCores = sharedCores
        self.ranks = ranks
        self.ranksPerHost = ranksPerHost
        self.kernels = kernels
        self.gemmFlopsPerSecond = gemmFlopsPerSecond
        self.streamBytesPerSecond = streamBytesPerSecond
        self.interactionFlopsPerSecond = interactionFlopsPerSecond
        self.gatherBytesPerSecond = gatherBytesPerSecond
        self.scatterBytesPerSecond = scatterBytesPerSecond
        self.memoryBytesPerRank = memoryBytesPerRank
        self.intraHost = intraHost
        self.interHost = interHost
    }

    public var hosts: Int { ranks / ranksPerHost }

    /// A cluster file of this machine as measured: H hosts of L CPU "accelerators" (one per rank)
    /// whose fp32 peak is the measured MLP rate, whose memory bandwidth is the measured streaming
    /// rate, whose gather and scatter bandwidths the measured lookup and backward rates and whose
    /// interaction rate the measured interaction-layer rate — so the simulator's
    /// efficiencies for them are 1. The rates are per CPU second; with `sharedCores` the cluster
    /// says how many cores the ranks share. Each rank links to its host's shared-memory switch at the
    /// intra-host bandwidth with half the intra-host latency (two links per rank-to-rank path);
    /// each host's NIC links to one switch at the inter-host bandwidth, with latency such that a
    /// cross-host path adds up to the measured one. The training computes in fp32 whatever the
    /// workload's precision, so bf16, fp16 and tf32 list the same rate. Numbers are written in
    /// B/s, FLOP/s, bytes and ns.
    public func topologyXML(name: String) -> String {
        let intra = intraHost ?? interHost ?? Link(bandwidthBytesPerSecond: streamBytesPerSecond, latencySeconds: 0)
        let peaks = ["fp32", "tf32", "bf16", "fp16"].map { #"    <peak precision="\#($0)" flops="\#(Self.number(gemmFlopsPerSecond))FLOP/s"/>"# }
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<!-- Written by towerplan calibrate: \(ranks) ranks, \(ranksPerHost) per host, measured on this machine with \(kernels). -->",
            #"<cluster name="\#(name)" description="\#(hosts) hosts x \#(ranksPerHost) CPU ranks, calibrated"\#(sharedCores.map { #" shared-cores="\#($0)""# } ?? "")>"#,
            #"  <accelerator-model id="cpu-rank" vendor="calibrated" memory="\#(Self.number(memoryBytesPerRank))" memory-bandwidth="\#(Self.number(streamBytesPerSecond))B/s" gather-bandwidth="\#(Self.number(gatherBytesPerSecond))B/s" scatter-bandwidth="\#(Self.number(scatterBytesPerSecond))B/s" interaction-flops="\#(Self.number(interactionFlopsPerSecond))FLOP/s">"#,
        ] + peaks + [
            "  </accelerator-model>",
            #"  <template id="node">"#,
            #"    <accelerator id="rank" model="cpu-rank" count="\#(ranksPerHost)"/>"#,
            #"    <switch id="shm" role="shared-memory"/>"#,
            #"    <link a="rank" b="shm" bandwidth="\#(Self.number(intra.bandwidthBytesPerSecond))B/s" latency="\#(Self.nanoseconds(intra.latencySeconds / 2))" medium="shared-memory"/>"#,
        ]
        if let interHost {
            lines += [
                #"    <nic id="nic" role="ethernet"/>"#,
                #"    <link a="shm" b="nic" bandwidth="\#(Self.number(intra.bandwidthBytesPerSecond))B/s" medium="shared-memory"/>"#,
                "  </template>",
                "  <fabric>",
                #"    <switch id="switch" role="tor"/>"#,
                #"    <host template="node" count="\#(hosts)"/>"#,
                #"    <link a="host/nic" b="switch" bandwidth="\#(Self.number(interHost.bandwidthBytesPerSecond))B/s" latency="\#(Self.nanoseconds(max(0, interHost.latencySeconds - intra.latencySeconds) / 2))" medium="ethernet"/>"#,
                "  </fabric>",
            ]
        } else {
            lines += ["  </template>", "  <fabric>", #"    <host template="node" count="1"/>"#, "  </fabric>"]
        }
        return (lines + ["</cluster>", ""]).joined(separator: "\n")
    }

    /// A whole number without exponent, as the topology units parser reads it.
    static func number(_ value: Double) -> String { String(format: "%.0f", value.rounded()) }

    /// A duration in ns with three decimals.
    static func nanoseconds(_ seconds: Double) -> String { String(format: "%.3fns", seconds * 1e9) }
}

/// The shapes `Calibration` times its kernels at: a workload's own (its MLPs at its batch, its
/// embedding tables on a batch of its data, its optimizers), so that the rates are the ones its
/// training reaches, or generic DLRM-like ones.
public struct CalibrationKernels: Sendable, CustomStringConvertible {
    /// The MLPs timed forward and backward, each on `batch` samples.
    public var mlps: [MLP]
    /// One feature-interaction layer, timed forward and backward as the trainer builds it.
    public struct InteractionKernel: Sendable, Hashable, CustomStringConvertible {
        public enum Layer: Sendable, Hashable {
            /// The global interaction on `input`.
            case overArch(Interaction, InteractionInput)
            /// One tower's module on `features` pooled embeddings of width `dimension`.
            case towerModule(TowerModule, features: Int, dimension: Int)
        }

        public var layer: Layer
        public var batch: Int

        public init(_ layer: Layer, batch: Int) {
            self.layer = layer
            self.batch = batch
        }

        /// Forward plus backward, counted as the simulator counts them (fp32 values).
        public var work: ComputeWork {
            PassDirection.allCases.reduce(ComputeWork.zero) { sum, direction in
                switch layer {
                case .overArch(let interaction, let input):
                    sum + DenseArchitecture.interactionWork(interaction, input, batch: batch, valueBytes: 4, direction)
                case .towerModule(let module, let features, let dimension):
                    sum + SPTTLayout.moduleWork(module, features: features, dimension: dimension, batch: batch, valueBytes: 4, direction)
                }
            }
        }

        /// The trainer's layer (`Interaction.makeLayer`, `TowerModule.makeLayer`), one thread.
        func make(seed: UInt64) throws(RecommendationNetworkError) -> any Training.Layer {
            switch layer {
            case .overArch(let interaction, let input):
                try interaction.makeLayer(input, seed: seed, threads: .single)
            case .towerModule(let module, let features, let dimension):
                try module.makeLayer(features: features, dimension: dimension, seed: seed, threads: .single)
            }
        }

        public var description: String {
            switch layer {
            case .overArch(let interaction, let input): "\(interaction.kind) interaction of \(input.vectors) vectors at batch \(batch)"
            case .towerModule(let module, let features, _): "\(module.kindName) tower module of \(features) features at batch \(batch)"
            }
        }
    }
    /// The interaction layers timed for the interaction rate.
    public var interactions: [InteractionKernel]
    public var batch: Int
    /// Rows of each embedding table.
    public var tableRows: [Int]
    public var dimension: Int
    /// Samples each table serves per step: the global batch, since a table-wise table (flat, or
    /// inside an SPTT tower's domain) sees every sample's ids.
    public var tableSamples: Int
    /// Each table's ids for `tableSamples` samples.
    public var ids: [SparseColumn]
    /// The tables (indices into `tableRows`) each rank holds in the run, or nil for all tables on
    /// every rank. Each rank times only its own: a rank's working set, and so how much of it the
    /// caches hold, is its share of the tables, not the model's.
    public var tablesOfRank: [[Int]]?
    public var sparseOptimizer: SparseOptimizer
    public var denseOptimizer: DenseOptimizer
    /// Parameters the dense optimizer step updates.
    public var denseParameters: Int

    /// Generic shapes: one 512 → 512 layer at batch 1024; DLRM's dot interaction of 27 vectors of
    /// 64 at batch 1024; a 100k × 64 table with 8 ids per sample drawn uniformly, row-wise
    /// Adagrad; Adam over 1M parameters.
    public static var generic: CalibrationKernels {
        CalibrationKernels(
            mlps: [MLP(inputWidth: 512, layerWidths: [512])], batch: 1024,
            interactions: [InteractionKernel(.overArch(.dot, InteractionInput(embeddings: 26, dimension: 64, denseWidth: 64)), batch: 1024)],
            tableRows: [100_000], dimension: 64, tableSamples: 1024,
            ids: [uniformIds(rows: 100_000, samples: 1024, pooling: 8, seed: 1)], tablesOfRank: nil,
            sparseOptimizer: SparseOptimizer(kind: .rowwiseAdagrad, learningRate: 0.01), denseOptimizer: DenseOptimizer(kind: .adam, learningRate: 0.001),
            denseParameters: 1 << 20)
    }

    public init(
        mlps: [MLP], batch: Int, interactions: [InteractionKernel], tableRows: [Int], dimension: Int, tableSamples: Int, ids: [SparseColumn],
        tablesOfRank: [[Int]]?, sparseOptimizer: SparseOptimizer, denseOptimizer: DenseOptimizer, denseParameters: Int
    ) {
        self.mlps = mlps
        self.batch = batch
        self.interactions = interactions
        self.tableRows = tableRows
        self.dimension = dimension
        self.tableSamples = tableSamples
        self.ids = ids
        self.tablesOfRank = tablesOfRank
        self.sparseOptimizer = sparseOptimizer
        self.denseOptimizer = denseOptimizer
        self.denseParameters = denseParameters
    }

    /// `workload`'s shapes at `batch` samples per rank on `ranks` ranks in hosts of `ranksPerHost`:
    /// its bottom and top MLPs (flat layout) on `batch` samples, its interaction layers (the flat
    /// over-arch's on `batch` samples; with a tower module and H = ranks / ranksPerHost ≥ 2 hosts,
    /// the module on a tower of ⌈F/H⌉ features serving the B·H samples an SPTT tower rank serves,
    /// and the SPTT over-arch on H such towers' outputs), its tables with the ids of the first
    /// `batch` × `ranks` samples of its synthetic data (or, for a dataset workload, ids drawn
    /// uniformly at each feature's mean pooling, rounded, at least 1), each rank timing the tables the flat layout
    /// places on it (an SPTT domain places its tower's tables the same way, so a rank holds about
    /// F/N tables either way), its optimizers and dense parameter count.
    public init(workload: Workload, batch: Int, ranks: Int, ranksPerHost: Int) throws(DistributedError) {
        let samples = batch * ranks
        guard let model = workload.recommendation else { throw .model(.notRecommendation(workload.name)) }
        let ids: [SparseColumn]
        if case .synthetic = workload.data {
            let first: SampleBatch?
            do throws(SyntheticDataError) {
                var source = try SyntheticDataset(workload: workload).training()
                first = try source.next(size: samples)
            } catch { throw .data("\(error)") }
            guard let first else { throw .data("the synthetic stream of \(workload.name) has fewer than \(samples) samples") }
            ids = first.sparse
        } else {
            ids = model.features.enumerated().map { index, feature in
                Self.uniformIds(rows: feature.tableRows, samples: samples, pooling: max(1, Int(feature.pooling.rounded())), seed: UInt64(index))
            }
        }
        let placement = try DistributedPlan(workload: workload, layout: .flat, ranks: ranks)
        var interactions = [InteractionKernel(.overArch(model.interaction, model.interactionInput), batch: batch)]
        let hosts = ranks / max(1, ranksPerHost), dimension = model.embeddingDimension
        if model.towerModule.kindName != TowerModule.identity.kindName, hosts >= 2 {
            let features = (model.features.count + hosts - 1) / hosts
            let towerOutputs = hosts * model.towerModule.outputWidth(features: features, dimension: dimension)
            interactions += [
                InteractionKernel(.towerModule(model.towerModule, features: features, dimension: dimension), batch: batch * hosts),
                InteractionKernel(
                    .overArch(
                        model.interaction,
                        InteractionInput(embeddings: (towerOutputs + dimension - 1) / dimension, dimension: dimension, denseWidth: model.denseWidth)),
                    batch: batch),
            ]
        }
        for kernel in interactions {
            do throws(RecommendationNetworkError) { _ = try kernel.make(seed: 0) } catch { throw .model(error) }
        }
        self.init(
            mlps: [model.bottomMLP, model.topMLP].compactMap { $0 }, batch: batch, interactions: interactions, tableRows: model.features.map(\.tableRows),
            dimension: model.embeddingDimension, tableSamples: samples, ids: ids,
            tablesOfRank: (0 ..< ranks).map { placement.ownedFeatures(ofRank: $0) }, sparseOptimizer: workload.training.sparseOptimizer,
            denseOptimizer: workload.training.denseOptimizer, denseParameters: max(1, Int(model.denseParameterCount)))
    }

    /// `pooling` ids per sample for `samples` samples, uniform over `rows`.
    static func uniformIds(rows: Int, samples: Int, pooling: Int, seed: UInt64) -> SparseColumn {
        var generator = SeededGenerator(seed: seed)
        return SparseColumn(
            offsets: (0 ... samples).map { Int32($0 * pooling) }, ids: (0 ..< samples * pooling).map { _ in Int32(generator.next() % UInt64(rows)) })
    }

    public var description: String {
        let layers = mlps.map { ([$0.inputWidth] + $0.layerWidths).map(String.init).joined(separator: "-") }.joined(separator: " and ")
        let products = interactions.map(\.description).joined(separator: ", ")
        let ids = self.ids.reduce(0) { $0 + $1.ids.count }
        let shared = tablesOfRank.map { " (each rank its \($0.map(\.count).min() ?? 0)–\($0.map(\.count).max() ?? 0))" } ?? ""
        return "MLPs \(layers) at batch \(batch); \(products); \(tableRows.count) tables\(shared) of dimension \(dimension) serving \(tableSamples) samples, \(ids) ids, \(sparseOptimizer.kind.rawValue); \(denseOptimizer.kind.rawValue) over \(denseParameters) parameters"
    }
}

/// The measurements behind `CalibrationMeasurement`, run on every rank of `world` under `mpirun`.
public enum Calibration {
    /// Each kernel runs at least this long per rank.
    static let kernelSeconds = 0.5

    /// Measures on every rank at once (collective) and returns the result on rank 0, nil elsewhere.
    /// Ranks 0 … L−1 are host 0, L … 2L−1 host 1 (as `EmulatedHosts` and `mpirun` fill slots).
    /// Each rank computes on one thread (OpenBLAS set to one), as `train --ranks` runs its ranks.
    public static func measure(
        world: Communicator, ranksPerHost: Int, kernels: CalibrationKernels = .generic, seed: UInt64 = 1
    ) throws(MPIError) -> CalibrationMeasurement? {
        guard ranksPerHost >= 1, world.size % ranksPerHost == 0 else {
            throw .invalidArgument("\(world.size) ranks do not fill hosts of \(ranksPerHost) ranks")
        }
        // One thread per rank, BLAS included, as `train --ranks` runs its ranks by default: without
        // this OpenBLAS would start a thread per core in every rank.
        _ = ComputeThreads(1)
        // Every rank times the same kernel at the same time (a barrier before each), as the ranks
        // of a training step run the same phase together: a rank timing its MLPs while another
        // streams its optimizer state would see neither's contention.
        try world.barrier()
        let stream = streamRate(kernels, seed: seed)
        try world.barrier()
        let mlp = mlpRate(kernels, streamBytesPerSecond: stream, seed: seed)
        try world.barrier()
        let interaction = interactionRate(kernels, streamBytesPerSecond: stream, seed: seed)
        try world.barrier()
        let tables = kernels.tablesOfRank.map { $0.indices.contains(world.rank) ? $0[world.rank] : [] } ?? Array(kernels.tableRows.indices)
        let embedding = try embeddingRates(world, kernels, tables: tables, seed: seed)
        // Ranks without tables (fewer tables than ranks) time none; the embedding rates are the
        // means over the ranks that hold some.
        var rates = [mlp, stream, interaction, embedding?.gather ?? 0, embedding?.scatter ?? 0, embedding == nil ? 0 : 1]
        try world.allReduce(&rates, .sum)
        // One machine when every rank read the same boot id; the fewest cores any rank may use.
        let machine = machineIdentity(rank: world.rank)
        var identity = [machine, -machine, -Double(AvailableCores.count)]
        try world.allReduce(&identity, .max)
        let sharedCores = identity[0] == -identity[1] ? Int(-identity[2]) : nil
        let bursts = computeBursts(kernels, seed: seed)
        let hosts = world.size / ranksPerHost
        // Inside a host each rank's link to the shared-memory switch carries its bytes to the L − 1
        // others; across hosts each host's uplink carries its L ranks' bytes to H − 1 peers each.
        let intra = ranksPerHost >= 2
            ? try link(world, groupOf: { $0 / ranksPerHost }, busiestLinkPairs: Double(ranksPerHost - 1), bursts: bursts) : nil
        let inter = hosts >= 2
            ? try link(world, groupOf: { $0 % ranksPerHost }, busiestLinkPairs: Double(ranksPerHost * (hosts - 1)), bursts: bursts) : nil
        guard world.rank == 0 else { return nil }
        return CalibrationMeasurement(
            ranks: world.size, ranksPerHost: ranksPerHost, kernels: kernels.description, gemmFlopsPerSecond: rates[0] / Double(world.size),
            streamBytesPerSecond: rates[1] / Double(world.size), interactionFlopsPerSecond: rates[2] / Double(world.size),
            gatherBytesPerSecond: rates[3] / max(rates[5], 1), scatterBytesPerSecond: rates[4] / max(rates[5], 1),
            memoryBytesPerRank: Double(ProcessInfo.processInfo.physicalMemory) / Double(ranksPerHost), sharedCores: sharedCores,
            intraHost: intra, interHost: inter)
    }

    /// This machine's boot id (the kernel's, the same in every network and UTS namespace) as a
    /// whole number below 2⁵² (exact in a Double), so that an all-reduce can tell whether all ranks
    /// share one machine. A rank that cannot read it gets a value of its own.
    static func machineIdentity(rank: Int) -> Double {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "rank \(rank)"
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Double(hash & ((1 << 52) - 1))
    }

    /// Repeats `body` (one unit of `amount`) for at least `kernelSeconds` after one warm-up run
    /// and returns amount per CPU second over all runs. `body` times itself: it runs its parts
    /// through the closure it is given, and only those count (so that untimed set-up between them
    /// is left out).
    ///
    /// CPU seconds of the process, not wall-clock seconds: the rate of a rank while it holds a
    /// core. With more ranks than cores a rank holds one only part of the time, and how much
    /// depends on what the others do — in a training step they wait in collectives and leave it
    /// their core, which lock-step calibration never does (the wall-clock rates at 4 and 8 ranks
    /// on 2 cores came out 1.7× and 3× below what the same ranks reached in training). The
    /// simulator shares the cores itself (`Cluster.sharedCores`). With a core per rank the two
    /// clocks agree; CPU time still counts cache misses and the cache pollution of the ranks that
    /// share the core.
    static func rate(amount: Double, _ body: (_ timed: (() -> Void) -> Void) -> Void) -> Double {
        let clock = ContinuousClock()
        var timedSeconds = 0.0
        let timed = { (part: () -> Void) in
            let start = PhaseClock.processCPUSeconds()
            part()
            timedSeconds += PhaseClock.processCPUSeconds() - start
        }
        body(timed)
        timedSeconds = 0
        let start = clock.now
        var runs = 0
        repeat {
            body(timed)
            runs += 1
        } while PhaseClock.seconds(clock.now - start) < kernelSeconds
        return Double(runs) * amount / timedSeconds
    }

    /// Writes over a buffer twice the size of the last-level cache (and at least four L2s and
    /// 4 MiB), so that what a kernel touched before comes from memory — as in a training step,
    /// whose activations and exchanges (and the other ranks' work, in the shared L3) push the
    /// tables out of every cache level between one lookup and the next: a rank's lookup measured
    /// 3× slower inside a step than right after a pass that flushed only its L2. Cost: one pass
    /// over the buffer (64 MiB for a 32 MiB L3, a few ms).
    final class CacheEvictor {
        private var buffer: [UInt8]

        init() {
            let l2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE)), l3 = sysconf(Int32(_SC_LEVEL3_CACHE_SIZE))
            buffer = [UInt8](repeating: 0, count: max(4 << 20, 4 * max(l2, 0), 2 * max(l3, 0)))
        }

        func evict() {
            buffer.withUnsafeMutableBytes { bytes in
                var value = bytes[0] &+ 1
                for offset in stride(from: 0, to: bytes.count, by: 64) {
                    bytes[offset] = value
                    value &+= 1
                }
            }
        }
    }

    /// FLOP/s of the kernels' MLPs, forward and backward (`MLP.forwardFLOPs` + `backwardFLOPs`).
    /// The simulator's CPU model charges a layer's streamed bytes (weights and activations,
    /// `DenseArchitecture.work`) at the streaming rate on top of its FLOPs at this rate, so the
    /// rate is the FLOPs over the measured time less that streamed time — the rate at which the
    /// model reproduces the measured MLPs (never more than 10× the plain FLOPs over time).
    static func mlpRate(_ kernels: CalibrationKernels, streamBytesPerSecond: Double, seed: UInt64) -> Double {
        let networks = kernels.mlps.enumerated().map { index, shape in
            MLPNetwork(shape, finalReLU: false, seed: SeededGenerator.mix(seed, UInt64(index)))
        }
        var generator = SeededGenerator(seed: seed)
        let inputs = kernels.mlps.map { shape in
            Matrix(rows: kernels.batch, columns: shape.inputWidth, values: (0 ..< kernels.batch * shape.inputWidth).map { _ in generator.nextFloat() })
        }
        let gradients = kernels.mlps.map { shape in
            Matrix(rows: kernels.batch, columns: shape.outputWidth, values: (0 ..< kernels.batch * shape.outputWidth).map { _ in generator.nextFloat() - 0.5 })
        }
        let flops = kernels.mlps.reduce(0.0) { $0 + $1.forwardFLOPs(batch: kernels.batch) + $1.backwardFLOPs(batch: kernels.batch) }
        let streamed = kernels.mlps.reduce(0.0) { sum, mlp in
            sum + [PassDirection.forward, .backward].reduce(0.0) { $0 + DenseArchitecture.work(mlp, batch: kernels.batch, valueBytes: 4, $1).streamedBytes }
        }
        let plain = rate(amount: flops) { timed in
            timed {
                for (network, (input, gradient)) in zip(networks, zip(inputs, gradients)) {
                    _ = network.forward(input)
                    _ = network.backward(gradient)
                }
            }
        }
        return rateLessStreamed(flops: flops, plainRate: plain, streamedBytes: streamed, streamBytesPerSecond: streamBytesPerSecond)
    }

    /// FLOPs over the measured time less `streamedBytes` at the streaming rate: the rate at which
    /// the simulator's CPU model (FLOP time plus streamed time) reproduces the measurement, never
    /// more than 10× the plain rate (`flops` over the whole measured time).
    static func rateLessStreamed(flops: Double, plainRate: Double, streamedBytes: Double, streamBytesPerSecond: Double) -> Double {
        let seconds = flops / plainRate
        return flops / max(seconds - streamedBytes / streamBytesPerSecond, seconds / 10)
    }

    /// Interaction FLOP/s of the kernels' interaction layers, forward and backward through the
    /// trainer's layers, FLOPs and streamed bytes as the simulator counts them
    /// (`InteractionKernel.work`), over the measured time less the streamed time (as `mlpRate`).
    /// Kernels whose layer cannot be built were rejected by `CalibrationKernels.init`; one that
    /// still fails here is left out. Zero without kernels.
    static func interactionRate(_ kernels: CalibrationKernels, streamBytesPerSecond: Double, seed: UInt64) -> Double {
        var generator = SeededGenerator(seed: seed)
        let timedKernels = kernels.interactions.compactMap { kernel -> (any Layer, Matrix, Matrix, ComputeWork)? in
            guard let layer = try? kernel.make(seed: seed) else { return nil }
            let input = Matrix(
                rows: kernel.batch, columns: layer.inputWidth, values: (0 ..< kernel.batch * layer.inputWidth).map { _ in generator.nextFloat() - 0.5 })
            let gradient = Matrix(
                rows: kernel.batch, columns: layer.outputWidth, values: (0 ..< kernel.batch * layer.outputWidth).map { _ in generator.nextFloat() - 0.5 })
            return (layer, input, gradient, kernel.work)
        }
        let work = timedKernels.reduce(ComputeWork.zero) { $0 + $1.3 }
        guard work.interactionFlops > 0 else { return 0 }
        let plain = rate(amount: work.interactionFlops) { timed in
            timed {
                for (layer, input, gradient, _) in timedKernels {
                    _ = layer.forward(input)
                    _ = layer.backward(gradient)
                }
            }
        }
        return rateLessStreamed(flops: work.interactionFlops, plainRate: plain, streamedBytes: work.streamedBytes, streamBytesPerSecond: streamBytesPerSecond)
    }

    /// Streamed bytes per second of the dense optimizer's step over the kernels' dense parameters.
    static func streamRate(_ kernels: CalibrationKernels, seed: UInt64) -> Double {
        let layer = Linear(inputWidth: kernels.denseParameters, outputWidth: 1, relu: false, seed: seed)
        let optimizer = DenseParameterOptimizer(kernels.denseOptimizer, parameters: layer.parameters)
        let bytes = StepPlan.denseOptimizerWork(parameters: Double(kernels.denseParameters), optimizer: kernels.denseOptimizer).streamedBytes
        var step = 0
        return rate(amount: bytes) { timed in
            step += 1
            timed { optimizer.apply(step: step) }
        }
    }

    /// Bytes per second of the lookup (gather) and of the backward with the sparse optimizer
    /// (scatter) of `tables` (indices into the kernels' tables), counted as the simulator counts
    /// them (`ShardingPlan.lookupWorkPerRank` and `updateWorkPerRank`): per table, ids × row bytes
    /// forward; ids × row bytes (the gradient rows) plus min(rows, ids) × the optimizer's update
    /// bytes per row backward. Each pass starts with the tables out of the caches
    /// (`CacheEvictor`), every rank's at once (`synchronizedRate`). Collective over `world`; nil
    /// on a rank without tables, which still takes part.
    static func embeddingRates(
        _ world: Communicator, _ kernels: CalibrationKernels, tables indices: [Int], seed: UInt64
    ) throws(MPIError) -> (gather: Double, scatter: Double)? {
        let tables = EmbeddingBagCollection(
            features: indices.map { (index: $0, rows: kernels.tableRows[$0]) }, dimension: kernels.dimension, optimizer: kernels.sparseOptimizer,
            seed: seed)
        let ids = indices.map { kernels.ids[$0] }
        var generator = SeededGenerator(seed: seed)
        let samples = kernels.tableSamples, width = kernels.dimension * indices.count
        let gradient = Matrix(rows: samples, columns: width, values: (0 ..< samples * width).map { _ in (generator.nextFloat() - 0.5) * 1e-3 })
        let storage = NumericFormat.fp32
        let rowBytes = storage.embeddingRowBytes(dimension: kernels.dimension)
        let gathered = ids.reduce(0.0) { $0 + Double($1.ids.count) * rowBytes }
        let scattered = zip(indices.map { kernels.tableRows[$0] }, ids).reduce(gathered) { sum, table in
            sum + Double(min(table.0, table.1.ids.count)) * kernels.sparseOptimizer.updateBytesPerRow(dimension: kernels.dimension, storage: storage)
        }
        var step = 0
        let evictor = CacheEvictor()
        let holds = !indices.isEmpty
        let gather = try synchronizedRate(world, amount: gathered, prepare: evictor.evict) {
            if holds { _ = tables.forward(columns: ids, count: samples) }
        }
        let scatter = try synchronizedRate(
            world, amount: scattered,
            prepare: {
                step += 1
                if holds { _ = tables.forward(columns: ids, count: samples) }
                evictor.evict()
            },
            { if holds { tables.backward(gradient, step: step) } })
        return holds ? (gather, scatter) : nil
    }

    /// Amount per CPU second (as `rate`) over `runs` timed runs of `part` (after one untimed
    /// warm-up), each started after `prepare` (untimed) and a barrier of `world`, so that every
    /// rank's timed part starts together: the ranks then contend for memory bandwidth and the
    /// shared cache as in a step's lookup, and no rank's lookup runs beside another's cache flush.
    /// Collective.
    static func synchronizedRate(
        _ world: Communicator, amount: Double, runs: Int = 21, prepare: () -> Void, _ part: () -> Void
    ) throws(MPIError) -> Double {
        var seconds = 0.0
        for run in 0 ... runs {
            prepare()
            try world.barrier()
            let start = PhaseClock.processCPUSeconds()
            part()
            if run > 0 { seconds += PhaseClock.processCPUSeconds() - start }
        }
        return Double(runs) * amount / seconds
    }

    /// Work a link measurement puts between two collectives, as training does: one forward pass of
    /// the kernels' first MLP (`short`), and as many as fill about 10 ms (`gap`; see `link`).
    static func computeBursts(_ kernels: CalibrationKernels, seed: UInt64) -> (short: () -> Void, gap: () -> Void) {
        guard let shape = kernels.mlps.first else { return ({}, {}) }
        let network = MLPNetwork(shape, finalReLU: false, seed: seed)
        var generator = SeededGenerator(seed: seed)
        let input = Matrix(rows: kernels.batch, columns: shape.inputWidth, values: (0 ..< kernels.batch * shape.inputWidth).map { _ in generator.nextFloat() })
        let clock = ContinuousClock()
        let start = clock.now
        var passes = 0
        repeat {
            _ = network.forward(input)
            passes += 1
        } while PhaseClock.seconds(clock.now - start) < 0.01
        return ({ _ = network.forward(input) }, { for _ in 0 ..< passes { _ = network.forward(input) } })
    }

    /// Bandwidth and latency of one kind of link, as collectives get them while every rank trains.
    /// Every rank at once, in the groups `groupOf` forms (the hosts for the intra-host link, the
    /// peers across hosts for the inter-host one), runs all-to-alls with compute between them.
    /// Latency: the mean time of 100 all-to-alls of one float per pair, a short burst of compute
    /// between them. Bandwidth: the bytes the busiest link carries in an all-to-all of 64k floats
    /// (256 KB) per pair (`busiestLinkPairs` × 256 KB) over its mean time less the latency — the
    /// simulator's all-to-all cost (latency + busiest link's bytes / bandwidth) inverted — timed
    /// twice, 30 calls with the short burst between them and 30 with 10 ms of compute, and the
    /// faster taken: each way has an artifact that only slows it. Back to back, emulated TCP links
    /// at times fall into a regime where every other exchange stalls ~4 ms (a 1 Gb/s link measured
    /// 530 instead of 960 Mb/s in one calibration of four; the runs, compute between exchanges,
    /// never showed it); after 10 ms of compute on an oversubscribed machine the ranks arrive
    /// milliseconds apart, and the wait counts as transfer. Measured this way, and not by a
    /// ping-pong between two ranks while the others wait, the figures include what concurrency
    /// costs: the senders sharing the link and, on an oversubscribed machine, the waits for the
    /// other ranks to be scheduled and for the transfer to progress. Each figure is the mean over
    /// ranks. Collective over `world`; the link on rank 0.
    static func link(
        _ world: Communicator, groupOf: (Int) -> Int, busiestLinkPairs: Double, bursts: (short: () -> Void, gap: () -> Void)
    ) throws(MPIError) -> CalibrationMeasurement.Link? {
        let group = try world.split(color: groupOf(world.rank), key: world.rank)
        let largeFloats = 65_536
        let latency = try allToAllSeconds(group, world: world, floatsPerPair: 1, calls: 100, between: bursts.short)
        let backToBack = try allToAllSeconds(group, world: world, floatsPerPair: largeFloats, calls: 30, between: bursts.short)
        let spaced = try allToAllSeconds(group, world: world, floatsPerPair: largeFloats, calls: 30, between: bursts.gap)
        let bytes = busiestLinkPairs * Double(largeFloats * MemoryLayout<Float>.size)
        let bandwidth = bytes / max(min(backToBack, spaced) - latency, 1e-9)
        return world.rank == 0 ? CalibrationMeasurement.Link(bandwidthBytesPerSecond: bandwidth, latencySeconds: latency) : nil
    }

    /// Mean seconds of `calls` all-to-alls of `floatsPerPair` floats per pair in `group`, each
    /// preceded by `compute` (untimed), averaged over all ranks of `world`.
    static func allToAllSeconds(
        _ group: Communicator, world: Communicator, floatsPerPair: Int, calls: Int, between compute: () -> Void
    ) throws(MPIError) -> Double {
        let send = [Float](repeating: 1, count: group.size * floatsPerPair)
        var received = [Float](repeating: 0, count: group.size * floatsPerPair)
        let counts = [Int](repeating: floatsPerPair, count: group.size)
        func exchange() throws(MPIError) {
            try send.withUnsafeBufferPointer { (send) throws(MPIError) in
                try received.withUnsafeMutableBufferPointer { (receive) throws(MPIError) in
                    try group.allToAllVariable(send: send, sendCounts: counts, receive: receive, receiveCounts: counts)
                }
            }
        }
        try exchange()
        try world.barrier()
        let clock = ContinuousClock()
        var seconds = 0.0
        for _ in 0 ..< calls {
            compute()
            let start = clock.now
            try exchange()
            seconds += PhaseClock.seconds(clock.now - start)
        }
        var mean = [seconds / Double(calls)]
        try world.allReduce(&mean, .sum)
        return mean[0] / Double(world.size)
    }

}
