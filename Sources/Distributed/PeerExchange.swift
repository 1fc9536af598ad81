import Training

/// SPTT's cross-domain traffic (DESIGN §1.2 steps 2 and 5, and the backward of 5): all-to-alls
/// among the H peers — the ranks with this rank's local rank, one per domain, whose rank in the
/// peer communicator is their domain and so the tower they serve.
///
/// Forward, ids: tower t's ids of this rank's B samples go to peer t; this rank gets its own
/// tower's ids of every peer's B samples, B·H in all, peers in order. Forward, tower outputs: row
/// block p of this rank's B·H × d_t module output goes back to peer p (contiguous rows, no
/// packing); this rank gets B × d_t from each tower t. Backward reverses the second exchange.
final class PeerExchange {
    private let peers: Communicator
    private let clock: PhaseClock
    /// Global feature indices per tower (= per peer).
    private let towerFeatures: [[Int]]
    /// d_t per tower.
    private let outputWidths: [Int]
    /// The tower this rank's domain serves.
    private var tower: Int { peers.rank }

    /// Samples this rank has (B) and each peer sent in the current step.
    private var localCount = 0
    private var samplesOfPeer: [Int] = []
    /// Tower t's outputs for this rank's samples (B × d_t each).
    private let outputs: [Matrix]
    /// Every tower's rows for this rank's samples, tower after tower: the outputs received
    /// forward, the gradients sent backward (a one-column matrix used as a flat buffer).
    private let towerBlocks = Matrix(rows: 0, columns: 1)
    /// ∂loss/∂(this tower's outputs) for the B·H samples this rank served.
    private let towerGradient: Matrix

    init(peers: Communicator, towerFeatures: [[Int]], outputWidths: [Int], clock: PhaseClock) {
        self.peers = peers
        self.clock = clock
        self.towerFeatures = towerFeatures
        self.outputWidths = outputWidths
        outputs = outputWidths.map { Matrix(rows: 0, columns: $0) }
        towerGradient = Matrix(rows: 0, columns: outputWidths[peers.rank])
    }

    /// This domain's tower ids of every peer's samples (peers in order): columns in the tower's
    /// feature order, and their sample count B·H. Throws unless every peer has B samples.
    func ids(of batch: SampleBatch) throws(DistributedError) -> (columns: [SparseColumn], count: Int) {
        localCount = batch.count
        let routed = IdRouting.pack(columns: batch.sparse, count: batch.count, slots: towerFeatures)
        let arrived = try clock.collective(.idsPeerAllToAll) { () throws(MPIError) in
            try peers.allToAllVariable(routed.payload, sendCounts: routed.counts)
        }
        let (columns, samples) = try IdRouting.unpack(arrived.values, counts: arrived.counts, featureCount: towerFeatures[tower].count)
        if let peer = samples.firstIndex(where: { $0 != batch.count }) {
            throw .batch("the peer in domain \(peer) has \(samples[peer]) samples, this rank \(batch.count); every rank must take the same batch size")
        }
        samplesOfPeer = samples
        return (columns, samples.reduce(0, +))
    }

    /// Sends each peer its rows of `output` (this tower's module output for the samples `ids`
    /// returned) and returns every tower's output for this rank's samples, in tower order.
    func outputs(_ output: Matrix) throws(DistributedError) -> [Matrix] {
        let width = outputWidths[tower]
        precondition(output.columns == width && output.rows == samplesOfPeer.reduce(0, +), "tower output shape mismatch")
        for matrix in outputs { matrix.resize(rows: localCount) }
        towerBlocks.resize(rows: localCount * outputWidths.reduce(0, +))
        // Received into one buffer (MPI's offsets are into one allocation), then split per tower.
        try clock.collective(.towerOutputsPeerAllToAll) { () throws(MPIError) in
            try peers.allToAllVariable(
                send: UnsafeBufferPointer(start: output.pointer, count: output.count), sendCounts: samplesOfPeer.map { $0 * width },
                receive: UnsafeMutableBufferPointer(start: towerBlocks.pointer, count: towerBlocks.count),
                receiveCounts: outputWidths.map { localCount * $0 })
        }
        var offset = 0
        for matrix in outputs {
            matrix.pointer.update(from: towerBlocks.pointer + offset, count: matrix.count)
            offset += matrix.count
        }
        return outputs
    }

    /// Sends tower t's slice of `gradients` (∂loss/∂ each tower's output for this rank's samples)
    /// to peer t and returns ∂loss/∂ this tower's output for the samples this rank served.
    func gradients(_ gradients: [Matrix]) throws(DistributedError) -> Matrix {
        var offset = 0
        for gradient in gradients {
            (towerBlocks.pointer + offset).update(from: gradient.pointer, count: gradient.count)
            offset += gradient.count
        }
        let width = outputWidths[tower]
        towerGradient.resize(rows: samplesOfPeer.reduce(0, +))
        try clock.collective(.towerGradientsPeerAllToAll) { () throws(MPIError) in
            try peers.allToAllVariable(
                send: UnsafeBufferPointer(start: towerBlocks.pointer, count: towerBlocks.count),
                sendCounts: outputWidths.map { localCount * $0 },
                receive: UnsafeMutableBufferPointer(start: towerGradient.pointer, count: towerGradient.count),
                receiveCounts: samplesOfPeer.map { $0 * width })
        }
        return towerGradient
    }
}
