import Training

/// Sparse ids on the wire: how a rank sends some features' ids of its samples to other ranks and
/// how the receiver turns what arrived into CSR columns again. Both SPTT exchanges of ids (to the
/// tower's peer, then to the table owner inside the domain) and the flat global one use it.
///
/// The block for one destination is Int32s: [n, lengths of feature 1 for the n samples, …, lengths
/// of the last feature, ids of feature 1, …, ids of the last feature] — the sample count first, so
/// that a receiver that owns nothing still learns every sender's batch (it must send rows back),
/// then lengths rather than offsets, so blocks concatenate without rebasing. Cost: n·(features) +
/// ids values per destination, one pass to pack and one to unpack.
enum IdRouting {
    /// The blocks for each destination: `slots[d]` are the indices into `columns` of the features
    /// destination d gets, in the order it wants them; every column holds `count` samples.
    static func pack(columns: [SparseColumn], count: Int, slots: [[Int]]) -> (payload: [Int32], counts: [Int]) {
        var payload: [Int32] = []
        payload.reserveCapacity(slots.reduce(0) { $0 + 1 + $1.reduce(0) { $0 + count + columns[$1].ids.count } })
        var counts: [Int] = []
        for destination in slots {
            let start = payload.count
            payload.append(Int32(count))
            for slot in destination {
                let offsets = columns[slot].offsets
                for sample in 0 ..< count { payload.append(offsets[sample + 1] - offsets[sample]) }
            }
            for slot in destination { payload.append(contentsOf: columns[slot].ids) }
            counts.append(payload.count - start)
        }
        return (payload, counts)
    }

    /// The columns of `featureCount` features over every sender's samples, senders in rank order,
    /// and how many samples each sender had. Throws when a block does not parse, which means the
    /// ranks disagree about the plan.
    static func unpack(_ payload: [Int32], counts: [Int], featureCount: Int) throws(DistributedError) -> (columns: [SparseColumn], samples: [Int]) {
        var offsets = [[Int32]](repeating: [0], count: featureCount)
        var ids = [[Int32]](repeating: [], count: featureCount)
        var samples: [Int] = []
        var start = 0
        for (source, length) in counts.enumerated() {
            let end = start + length
            guard length >= 1, payload[start] >= 0, start + 1 + featureCount * Int(payload[start]) <= end else {
                throw .batch("the ids from rank \(source) of this group do not parse (\(length) values); the ranks disagree about the plan")
            }
            let n = Int(payload[start])
            var cursor = start + 1 + featureCount * n
            for feature in 0 ..< featureCount {
                let lengths = payload[(start + 1 + feature * n) ..< (start + 1 + (feature + 1) * n)]
                var total = 0
                for length in lengths {
                    total += Int(length)
                    offsets[feature].append(Int32(ids[feature].count + total))
                }
                guard lengths.allSatisfy({ $0 >= 0 }), cursor + total <= end else {
                    throw .batch("the ids from rank \(source) of this group are shorter than their lengths say")
                }
                ids[feature].append(contentsOf: payload[cursor ..< cursor + total])
                cursor += total
            }
            guard cursor == end else { throw .batch("the ids from rank \(source) of this group are longer than their lengths say") }
            samples.append(n)
            start = end
        }
        return (zip(offsets, ids).map { SparseColumn(offsets: $0, ids: $1) }, samples)
    }
}
