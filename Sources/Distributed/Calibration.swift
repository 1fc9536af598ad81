import Foundation
import Training
import Workload

/// What `towerplan calibrate` measured on this machine's ranks: the per-rank compute rates the
/// training kernels reach with every rank busy at once, and MPI's bandwidth and latency between
/// two ranks of one host (shared memory) and of two (emulated) hosts. Rank 0 writes it as JSON;
/// `topologyXML` turns it into a cluster file.
public struct CalibrationMeasurement: Sendable, Hashable, Codable {
    /// One kind of link between two ranks, per direction.
    public struct Link: Sendable, Hashable, Codable {
        public var bandwidthBytesPerSecond: Double
        /// One-way: half a ping-pong's round trip of a 4-byte message.
        public var latencySeconds: Double

        public init(bandwidthBytesPerSecond: Double, latencySeconds: Double) {
            self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
            self.latencySeconds = latencySeconds
        }
    }

    public var ranks: Int
    public var ranksPerHost: Int
    /// sgemm FLOP/s of one rank (mean over ranks, all running at once) through `Linear.forward`.
    public var gemmFlopsPerSecond: Double
    /// Embedding-gather bandwidth of one rank: bytes of the rows pooled per second through
    /// `EmbeddingBagCollection.forward` (mean over ranks, all running at once).
    public var gatherBytesPerSecond: Double
    /// This host's memory divided among its ranks.
    public var memoryBytesPerRank: Double
    /// Between ranks 0 and 1 (one host, shared memory); nil with one rank per host.
    public var intraHost: Link?
    /// Between ranks 0 and L (two hosts); nil with one host.
    public var interHost: Link?

    public init(
        ranks: Int, ranksPerHost: Int, gemmFlopsPerSecond: Double, gatherBytesPerSecond: Double, memoryBytesPerRank: Double, intraHost: Link?,
        interHost: Link?
    ) {
        self.ranks = ranks
        self.ranksPerHost = ranksPerHost
        self.gemmFlopsPerSecond = gemmFlopsPerSecond
        self.gatherBytesPerSecond = gatherBytesPerSecond
        self.memoryBytesPerRank = memoryBytesPerRank
        self.intraHost = intraHost
        self.interHost = interHost
    }

    public var hosts: Int { ranks / ranksPerHost }

    /// A cluster file of this machine as measured: H hosts of L CPU "accelerators" (one per rank)
    /// whose fp32 peak is the measured sgemm rate and whose memory bandwidth is the measured
    /// gather bandwidth — so the simulator's efficiencies for them are 1. Each rank links to its
    /// host's shared-memory switch at the intra-host bandwidth with half the intra-host latency
    /// (two links per rank-to-rank path); each host's NIC links to one switch at the inter-host
    /// bandwidth, with latency such that a cross-host path adds up to the measured one. The
    /// training computes in fp32 whatever the workload's precision, so bf16, fp16 and tf32 list
    /// the same rate. Numbers are written in B/s, FLOP/s, bytes and ns.
    public func topologyXML(name: String) -> String {
        let intra = intraHost ?? interHost ?? Link(bandwidthBytesPerSecond: gatherBytesPerSecond, latencySeconds: 0)
        let peaks = ["fp32", "tf32", "bf16", "fp16"].map { #"    <peak precision="\#($0)" flops="\#(Self.number(gemmFlopsPerSecond))FLOP/s"/>"# }
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<!-- Written by towerplan calibrate: \(ranks) ranks, \(ranksPerHost) per host, measured on this machine. -->",
            #"<cluster name="\#(name)" description="\#(hosts) hosts x \#(ranksPerHost) CPU ranks, calibrated">"#,
            #"  <accelerator-model id="cpu-rank" vendor="calibrated" memory="\#(Self.number(memoryBytesPerRank))" memory-bandwidth="\#(Self.number(gatherBytesPerSecond))B/s">"#,
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

/// The measurements behind `CalibrationMeasurement`, run on every rank of `world` under `mpirun`.
public enum Calibration {
    /// Shapes of the measured kernels: a DLRM MLP layer (batch 1024, 512 → 512) and a table of
    /// 100k rows of 64 floats gathered 8 ids per sample for 1024 samples.
    static let gemmShape = (batch: 1024, inputs: 512, outputs: 512)
    static let gather = (rows: 100_000, dimension: 64, samples: 1024, pooling: 8)
    /// Each kernel runs at least this long per rank.
    static let kernelSeconds = 0.5

    /// Measures on every rank at once (collective) and returns the result on rank 0, nil elsewhere.
    /// Ranks 0 … L−1 are host 0, L … 2L−1 host 1 (as `EmulatedHosts` and `mpirun` fill slots).
    public static func measure(world: Communicator, ranksPerHost: Int, seed: UInt64 = 1) throws(MPIError) -> CalibrationMeasurement? {
        guard ranksPerHost >= 1, world.size % ranksPerHost == 0 else {
            throw .invalidArgument("\(world.size) ranks do not fill hosts of \(ranksPerHost) ranks")
        }
        try world.barrier()
        var rates = [gemmRate(seed: seed), gatherRate(seed: seed)]
        try world.allReduce(&rates, .sum)
        let intra = ranksPerHost >= 2 ? try link(world, between: 0, and: 1) : nil
        let inter = world.size > ranksPerHost ? try link(world, between: 0, and: ranksPerHost) : nil
        guard world.rank == 0 else { return nil }
        return CalibrationMeasurement(
            ranks: world.size, ranksPerHost: ranksPerHost, gemmFlopsPerSecond: rates[0] / Double(world.size),
            gatherBytesPerSecond: rates[1] / Double(world.size), memoryBytesPerRank: Double(ProcessInfo.processInfo.physicalMemory) / Double(ranksPerHost),
            intraHost: intra, interHost: inter)
    }

    /// Repeats `body` (one unit of `amount`) for at least `kernelSeconds` after one warm-up run
    /// and returns amount per second.
    static func rate(amount: Double, _ body: () -> Void) -> Double {
        body()
        let clock = ContinuousClock(), start = clock.now
        var runs = 0
        repeat {
            body()
            runs += 1
        } while PhaseClock.seconds(clock.now - start) < kernelSeconds
        return Double(runs) * amount / PhaseClock.seconds(clock.now - start)
    }

    /// FLOP/s of `Linear.forward` (sgemm plus bias) at `gemmShape`.
    static func gemmRate(seed: UInt64) -> Double {
        let shape = gemmShape
        let layer = Linear(inputWidth: shape.inputs, outputWidth: shape.outputs, relu: false, seed: seed)
        var generator = SeededGenerator(seed: seed)
        let input = Matrix(rows: shape.batch, columns: shape.inputs, values: (0 ..< shape.batch * shape.inputs).map { _ in generator.nextFloat() })
        return rate(amount: 2 * Double(shape.batch * shape.inputs * shape.outputs)) { _ = layer.forward(input) }
    }

    /// Bytes of table rows pooled per second by `EmbeddingBagCollection.forward` at `gather`'s shape,
    /// ids uniform over the table.
    static func gatherRate(seed: UInt64) -> Double {
        let shape = gather
        let table = EmbeddingBagCollection(
            features: [(index: 0, rows: shape.rows)], dimension: shape.dimension, optimizer: SparseOptimizer(kind: .sgd, learningRate: 0.01), seed: seed)
        var generator = SeededGenerator(seed: seed)
        let ids = (0 ..< shape.samples * shape.pooling).map { _ in Int32(generator.next() % UInt64(shape.rows)) }
        let column = SparseColumn(offsets: (0 ... shape.samples).map { Int32($0 * shape.pooling) }, ids: ids)
        return rate(amount: Double(ids.count * shape.dimension * MemoryLayout<Float>.size)) { _ = table.forward(columns: [column], count: shape.samples) }
    }

    /// Bandwidth and latency between ranks `a` and `b`: ping-pongs (an all-to-all of the pair in
    /// which one side sends, alternately) of 1 and of 2M floats. Latency: half a round trip of 4
    /// bytes; bandwidth: 8 MB over the one-way time of the large message less that latency.
    /// Collective over `world` (the other ranks wait at a barrier). Returns the link on rank 0.
    static func link(_ world: Communicator, between a: Int, and b: Int) throws(MPIError) -> CalibrationMeasurement.Link? {
        let inPair = world.rank == a || world.rank == b
        let pair = try world.split(color: inPair ? 0 : 1, key: world.rank)
        var result: CalibrationMeasurement.Link?
        if inPair {
            let small = try oneWaySeconds(pair, floats: 1, roundTrips: 200)
            let large = try oneWaySeconds(pair, floats: 2_000_000, roundTrips: 4)
            let bytes = 2_000_000.0 * Double(MemoryLayout<Float>.size)
            result = CalibrationMeasurement.Link(bandwidthBytesPerSecond: bytes / max(large - small, 1e-9), latencySeconds: small)
        }
        try world.barrier()
        return world.rank == 0 ? result : nil
    }

    /// Mean one-way seconds of a `floats`-value message between the two ranks of `pair`.
    static func oneWaySeconds(_ pair: Communicator, floats: Int, roundTrips: Int) throws(MPIError) -> Double {
        let message = [Float](repeating: 1, count: floats)
        var received = [Float](repeating: 0, count: floats)
        let me = pair.rank, other = 1 - pair.rank
        func send(from sender: Int) throws(MPIError) {
            var counts = [0, 0], receiveCounts = [0, 0]
            if me == sender { counts[other] = floats } else { receiveCounts[other] = floats }
            try message.withUnsafeBufferPointer { (send) throws(MPIError) in
                try received.withUnsafeMutableBufferPointer { (receive) throws(MPIError) in
                    try pair.allToAllVariable(send: send, sendCounts: counts, receive: receive, receiveCounts: receiveCounts)
                }
            }
        }
        try send(from: 0)
        try send(from: 1)
        try pair.barrier()
        let clock = ContinuousClock(), start = clock.now
        for _ in 0 ..< roundTrips {
            try send(from: 0)
            try send(from: 1)
        }
        return PhaseClock.seconds(clock.now - start) / Double(2 * roundTrips)
    }
}
