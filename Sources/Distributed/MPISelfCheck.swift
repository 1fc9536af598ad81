/// Runs every collective of `Communicator` on values each rank can predict, and reports where the
/// results differ: the check that an MPI installation — or a set of emulated hosts — carries a
/// distributed run correctly before one is timed on it. Collective over the world; a few
/// kilobytes of traffic, milliseconds.
public enum MPISelfCheck {
    /// The problems this rank saw (empty when every collective returned what it should).
    public static func run(world: Communicator) throws(MPIError) -> [String] {
        let n = world.size, me = world.rank
        var problems: [String] = []
        func expect(_ condition: Bool, _ what: @autoclosure () -> String) {
            if !condition { problems.append("rank \(me): \(what())") }
        }
        try world.barrier()

        var sum: [Int64] = [Int64(me + 1), 1]
        try world.allReduce(&sum, .sum)
        expect(sum == [Int64(n * (n + 1) / 2), Int64(n)], "all-reduce sum gave \(sum)")
        var largest: [Double] = [Double(me), -Double(me)]
        try world.allReduce(&largest, .max)
        expect(largest == [Double(n - 1), 0], "all-reduce max gave \(largest)")

        var broadcast: [Float] = me == n - 1 ? [42, Float(n)] : [0, 0]
        try world.broadcast(&broadcast, root: n - 1)
        expect(broadcast == [42, Float(n)], "broadcast from rank \(n - 1) gave \(broadcast)")

        // To rank r: r + me + 1 copies of 100·me + r, as Int32 (arrays) and as Float (buffers).
        let counts = (0 ..< n).map { $0 + me + 1 }
        let payload = (0 ..< n).flatMap { r in [Int32](repeating: Int32(100 * me + r), count: r + me + 1) }
        let expected = (0 ..< n).flatMap { s in [Int32](repeating: Int32(100 * s + me), count: s + me + 1) }
        let received = try world.allToAllVariable(payload, sendCounts: counts)
        expect(received.counts == (0 ..< n).map { $0 + me + 1 }, "all-to-all counts gave \(received.counts)")
        expect(received.values == expected, "all-to-allv of Int32 gave \(received.values)")
        var floats = [Float](repeating: -1, count: expected.count)
        try payload.map(Float.init).withUnsafeBufferPointer { (send) throws(MPIError) in
            try floats.withUnsafeMutableBufferPointer { (receive) throws(MPIError) in
                try world.allToAllVariable(send: send, sendCounts: counts, receive: receive, receiveCounts: received.counts)
            }
        }
        expect(floats == expected.map(Float.init), "all-to-allv of Float gave \(floats)")

        // Pairs of consecutive ranks, as tower domains are split, and the peers across them.
        let pair = try world.split(color: me / 2, key: me)
        expect(pair.rank == me % 2 && pair.size == min(2, n - me / 2 * 2), "split into pairs gave rank \(pair.rank) of \(pair.size)")
        var members: [Int32] = [Int32(me)]
        try pair.allReduce(&members, .sum)
        let first = me / 2 * 2
        expect(Int(members[0]) == (first ..< min(first + 2, n)).reduce(0, +), "all-reduce inside the pair gave \(members)")

        let gathered = try world.gather([Int32](repeating: Int32(me), count: me + 1), root: 0)
        expect(me != 0 || gathered == (0 ..< n).map { [Int32](repeating: Int32($0), count: $0 + 1) }, "gather gave \(gathered)")
        expect(me == 0 || gathered.isEmpty, "gather returned values on a rank that is not the root")
        try world.barrier()
        return problems
    }
}
