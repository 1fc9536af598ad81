import Training
import Workload

/// The table-wise sharded embedding lookup over a group of ranks — all N for the flat layout, a
/// tower domain's L for SPTT. Each rank holds some of the group's tables and a batch of samples
/// with ids for all of them; the lookup returns every rank its samples' pooled embeddings.
///
/// Forward: an all-to-all of ids to the table owners (`IdRouting`), the owner's lookup of every
/// group member's samples, an all-to-all of the pooled rows back. Backward: the reverse
/// all-to-all of pooled gradients, then the owner's sparse update (which sees the gradients of
/// all the group's samples at once, as the single-process model sees its whole batch).
/// The owner's rows arrive sender after sender, so every block sent back is a contiguous run of
/// the owner's output rows and needs no packing; only the sender side reorders columns.
final class TableWiseLookup {
    /// The tables this rank owns.
    let tables: EmbeddingBagCollection
    private let group: Communicator
    private let clock: PhaseClock
    private let dimension: Int
    /// For each group member, the indices (into the caller's features) of the tables it owns.
    private let slotsOfMember: [[Int]]
    private let featureCount: Int

    /// Samples each member sent in the current step (owner side), and this rank's own count.
    private var samplesOfMember: [Int] = []
    private var count = 0
    /// This rank's samples' pooled embeddings, count × (features · D), the caller's feature order.
    private let pooled: Matrix
    /// Pooled rows (forward) or their gradients (backward) in member-major blocks, as one flat
    /// buffer (a one-column matrix, so it only grows).
    private let blocks = Matrix(rows: 0, columns: 1)
    /// ∂loss/∂(owner's pooled output) for every sample the owner served.
    private let ownerGradient: Matrix

    /// `features` are the global indices the caller's batches hold, in its order; `owner` maps a
    /// global feature to the group rank that holds its table. The owned tables are built from
    /// `seed` exactly as `RecommendationNetwork` builds them (`RecommendationNetwork.embeddingSeed`).
    init(
        group: Communicator, features: [Int], owner: (Int) -> Int, model: RecommendationModel, optimizer: SparseOptimizer, seed: UInt64,
        threads: ComputeThreads, clock: PhaseClock
    ) {
        self.group = group
        self.clock = clock
        dimension = model.embeddingDimension
        featureCount = features.count
        slotsOfMember = (0 ..< group.size).map { member in features.indices.filter { owner(features[$0]) == member } }
        let owned = slotsOfMember[group.rank].map { features[$0] }
        tables = EmbeddingBagCollection(
            features: owned.map { (index: $0, rows: model.features[$0].tableRows) }, dimension: dimension,
            optimizer: optimizer, seed: RecommendationNetwork.embeddingSeed(seed), threads: threads)
        pooled = Matrix(rows: 0, columns: features.count * dimension)
        ownerGradient = Matrix(rows: 0, columns: owned.count * dimension)
    }

    /// Pooled embeddings (count × features·D, the workspace of this lookup) of this rank's `count`
    /// samples, whose ids `columns` holds in the caller's feature order. Every member of the group
    /// must have `count` samples too; throws otherwise.
    func forward(columns: [SparseColumn], count: Int) throws(DistributedError) -> Matrix {
        self.count = count
        let routed = IdRouting.pack(columns: columns, count: count, slots: slotsOfMember)
        let arrived = try clock.collective(.idsAllToAll) { () throws(MPIError) in
            try group.allToAllVariable(routed.payload, sendCounts: routed.counts)
        }
        let (owned, samples) = try IdRouting.unpack(arrived.values, counts: arrived.counts, featureCount: tables.features.count)
        if let member = samples.firstIndex(where: { $0 != count }) {
            throw .batch("group rank \(member) has \(samples[member]) samples, this rank \(count); every rank must take the same batch size")
        }
        samplesOfMember = samples
        let output = clock.measure(.lookup) { tables.forward(columns: owned, count: samples.reduce(0, +)) }

        let width = tables.outputWidth, d = dimension
        blocks.resize(rows: count * featureCount * d)
        try clock.collective(.pooledAllToAll) { () throws(MPIError) in
            try group.allToAllVariable(
                send: UnsafeBufferPointer(start: output.pointer, count: output.count), sendCounts: samples.map { $0 * width },
                receive: UnsafeMutableBufferPointer(start: blocks.pointer, count: blocks.count),
                receiveCounts: slotsOfMember.map { count * $0.count * d })
        }
        pooled.resize(rows: count)
        moveBlocks(pooled.pointer, intoMatrix: true)
        return pooled
    }

    /// Sends `gradient` (count × features·D, ∂loss/∂ the pooled embeddings `forward` returned) to
    /// the owners, which apply their sparse optimizer with the 1-based global `step`.
    func backward(_ gradient: Matrix, step: Int) throws(DistributedError) {
        precondition(gradient.rows == count && gradient.columns == pooled.columns, "pooled gradient shape mismatch")
        let d = dimension
        moveBlocks(gradient.pointer, intoMatrix: false)
        ownerGradient.resize(rows: samplesOfMember.reduce(0, +))
        try clock.collective(.embeddingGradientsAllToAll) { () throws(MPIError) in
            try group.allToAllVariable(
                send: UnsafeBufferPointer(start: blocks.pointer, count: blocks.count), sendCounts: slotsOfMember.map { count * $0.count * d },
                receive: UnsafeMutableBufferPointer(start: ownerGradient.pointer, count: ownerGradient.count),
                receiveCounts: samplesOfMember.map { $0 * tables.outputWidth })
        }
        clock.measure(.embeddingUpdate) { tables.backward(ownerGradient, step: step) }
    }

    /// Moves values between `matrix` (count × features·D, the caller's order) and `blocks` (one
    /// count × F_m·D block per member m, in its owned order): into the matrix after the forward
    /// exchange, out of it before the backward one. D-wide copies, one pass.
    private func moveBlocks(_ matrix: UnsafeMutablePointer<Float>, intoMatrix: Bool) {
        let d = dimension, rowWidth = featureCount * d
        var base = blocks.pointer
        for slots in slotsOfMember {
            let width = slots.count * d
            for sample in 0 ..< count {
                for (position, slot) in slots.enumerated() {
                    let block = base + sample * width + position * d, cell = matrix + sample * rowWidth + slot * d
                    if intoMatrix { cell.update(from: block, count: d) } else { block.update(from: cell, count: d) }
                }
            }
            base += count * width
        }
    }
}
