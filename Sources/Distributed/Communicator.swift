import CMPI

/// A value type MPI can send without conversion. The conformances are the whole set; the
/// datatype handle stays inside this module so that users of it never import the C shim.
public protocol MPIScalar: Sendable {
    /// Which MPI datatype carries the type.
    static var mpiKind: MPIScalarKind { get }
}

/// The MPI datatypes the wrapper uses.
public enum MPIScalarKind: Sendable {
    case float, double, int32, int64, byte

    var datatype: MPI_Datatype {
        switch self {
        case .float: tp_mpi_float()
        case .double: tp_mpi_double()
        case .int32: tp_mpi_int32()
        case .int64: tp_mpi_int64()
        case .byte: tp_mpi_byte()
        }
    }
}

extension Float: MPIScalar { public static var mpiKind: MPIScalarKind { .float } }
extension Double: MPIScalar { public static var mpiKind: MPIScalarKind { .double } }
extension Int32: MPIScalar { public static var mpiKind: MPIScalarKind { .int32 } }
extension Int64: MPIScalar { public static var mpiKind: MPIScalarKind { .int64 } }
extension UInt8: MPIScalar { public static var mpiKind: MPIScalarKind { .byte } }

/// Element-wise reductions of `Communicator.allReduce`.
public enum MPIReduction: Sendable {
    case sum, max

    var operation: MPI_Op {
        switch self {
        case .sum: tp_mpi_sum()
        case .max: tp_mpi_max()
        }
    }
}

/// A group of ranks that run collectives together: the world, a tower domain, or the peers that
/// share a local rank (`split(color:key:)` builds the latter two).
///
/// Every method is a collective: all ranks of the communicator call it, in the same order, with
/// matching arguments (the same root, counts that agree pairwise); otherwise MPI hangs or fails.
/// Errors come back as `MPIError` (the communicator returns errors instead of aborting), with the
/// exception of a peer process dying, which `mpirun` turns into the end of the whole job.
///
/// Counts are `Int` here and checked against MPI's 32-bit counts before each call. Not `Sendable`:
/// MPI is driven from one thread (`MPI.start`).
public final class Communicator {
    /// This process's rank in the communicator, 0 ..< size.
    public let rank: Int
    public let size: Int
    let handle: MPI_Comm
    /// Whether `deinit` frees the handle (split communicators; never the world).
    private let owned: Bool

    /// Wraps `handle` (`MPI_COMM_WORLD`, not `owned`, or a split result, owned), setting it to return errors.
    init(handle: MPI_Comm, owned: Bool) throws(MPIError) {
        self.handle = handle
        self.owned = owned
        try MPI.check(MPI_Comm_set_errhandler(handle, tp_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try MPI.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try MPI.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    deinit {
        // After MPI_Finalize a free is an error; the library reclaims everything then anyway.
        guard owned, (try? MPI.flag(MPI_Finalized, "MPI_Finalized")) == false else { return }
        var handle: MPI_Comm? = handle
        MPI_Comm_free(&handle)
    }

    /// The ranks that pass the same `color` (≥ 0), ordered by `key` then by rank here. Collective.
    /// A tower domain is `split(color: domain, key: localRank)`; the peers of a local rank are
    /// `split(color: localRank, key: domain)`, so a peer's rank there is its domain.
    public func split(color: Int, key: Int) throws(MPIError) -> Communicator {
        guard color >= 0 else { throw .invalidArgument("split color must be at least 0, got \(color)") }
        var result: MPI_Comm?
        try MPI.check(MPI_Comm_split(handle, try Self.count(color, "color"), try Self.count(key, "key"), &result), "MPI_Comm_split")
        guard let result else { throw .invalidArgument("MPI_Comm_split returned no communicator for color \(color)") }
        return try Communicator(handle: result, owned: true)
    }

    /// Waits until every rank has reached it.
    public func barrier() throws(MPIError) {
        try MPI.check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Reduces `values` element-wise over all ranks, in place: afterwards every rank holds the
    /// result. All ranks pass the same count. Cost: about 2·count·size-of-T bytes per rank over the
    /// network for large buffers (Open MPI picks ring or tree by size).
    public func allReduce<T: MPIScalar>(_ values: UnsafeMutableBufferPointer<T>, _ reduction: MPIReduction) throws(MPIError) {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        try MPI.check(
            MPI_Allreduce(tp_mpi_in_place(), base, try Self.count(values.count, "all-reduce count"), T.mpiKind.datatype, reduction.operation, handle),
            "MPI_Allreduce")
    }

    /// `allReduce` on an array.
    public func allReduce<T: MPIScalar>(_ values: inout [T], _ reduction: MPIReduction) throws(MPIError) {
        try values.withUnsafeMutableBufferPointer { (buffer) throws(MPIError) in try allReduce(buffer, reduction) }
    }

    /// Sends `values[destination]` to each rank and returns what each rank sent here: the sizes
    /// that precede an `allToAllVariable` whose receive counts are not known yet.
    public func allToAll(counts: [Int]) throws(MPIError) -> [Int] {
        try requirePerRank(counts, "send counts")
        let send = counts.map(Int64.init)
        var received = [Int64](repeating: 0, count: size)
        try MPI.check(
            MPI_Alltoall(send, 1, tp_mpi_int64(), &received, 1, tp_mpi_int64(), handle), "MPI_Alltoall")
        return received.map(Int.init)
    }

    /// Personalised all-to-all: `send` holds the block for rank 0, then rank 1, …, `sendCounts[r]`
    /// values each; `receive` gets the block from rank 0, then rank 1, …, `receiveCounts[r]` each.
    /// The counts must agree pairwise (what r sends to s is what s expects from r). Cost: the
    /// blocks themselves, one message per non-empty pair.
    public func allToAllVariable<T: MPIScalar>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], receive: UnsafeMutableBufferPointer<T>, receiveCounts: [Int]
    ) throws(MPIError) {
        let (sendCounts32, sendOffsets) = try layout(sendCounts, fitting: send.count, "send")
        let (receiveCounts32, receiveOffsets) = try layout(receiveCounts, fitting: receive.count, "receive")
        try MPI.check(
            MPI_Alltoallv(
                send.baseAddress, sendCounts32, sendOffsets, T.mpiKind.datatype,
                receive.baseAddress, receiveCounts32, receiveOffsets, T.mpiKind.datatype, handle),
            "MPI_Alltoallv")
    }

    /// `allToAllVariable` on arrays, exchanging the counts first: returns what each rank sent
    /// here, concatenated in rank order, and how many values came from each. Two collectives.
    public func allToAllVariable<T: MPIScalar>(_ send: [T], sendCounts: [Int]) throws(MPIError) -> (values: [T], counts: [Int]) {
        let receiveCounts = try allToAll(counts: sendCounts)
        let received = try [T](unsafeUninitializedCapacity: receiveCounts.reduce(0, +)) { (buffer, initialized) throws(MPIError) in
            try send.withUnsafeBufferPointer { (send) throws(MPIError) in
                try allToAllVariable(send: send, sendCounts: sendCounts, receive: buffer, receiveCounts: receiveCounts)
            }
            initialized = buffer.count
        }
        return (received, receiveCounts)
    }

    /// Copies `root`'s `values` to every rank; the others pass an array of the same count.
    public func broadcast<T: MPIScalar>(_ values: inout [T], root: Int) throws(MPIError) {
        try requireRank(root)
        let count = try Self.count(values.count, "broadcast count")
        guard count > 0 else { return }
        try values.withUnsafeMutableBufferPointer { (buffer) throws(MPIError) in
            try MPI.check(MPI_Bcast(buffer.baseAddress, count, T.mpiKind.datatype, Int32(root), handle), "MPI_Bcast")
        }
    }

    /// Collects every rank's `values` (any count each) on `root`: there, one array per rank in rank
    /// order; elsewhere `[]`. Two collectives (the counts, then the values).
    public func gather<T: MPIScalar>(_ values: [T], root: Int) throws(MPIError) -> [[T]] {
        try requireRank(root)
        var counts = [Int32](repeating: 0, count: size)
        let mine = try Self.count(values.count, "gather count")
        var sent = mine
        try MPI.check(MPI_Gather(&sent, 1, tp_mpi_int32(), &counts, 1, tp_mpi_int32(), Int32(root), handle), "MPI_Gather")
        let (_, offsets) = try layout(counts.map(Int.init), fitting: Int.max, "gather")
        let total = rank == root ? counts.reduce(0) { $0 + Int($1) } : 0
        let received = try [T](unsafeUninitializedCapacity: max(total, 1)) { (buffer, initialized) throws(MPIError) in
            try values.withUnsafeBufferPointer { (send) throws(MPIError) in
                try MPI.check(
                    MPI_Gatherv(
                        send.baseAddress, mine, T.mpiKind.datatype, buffer.baseAddress, counts, offsets, T.mpiKind.datatype, Int32(root), handle),
                    "MPI_Gatherv")
            }
            initialized = total
        }
        guard rank == root else { return [] }
        return counts.indices.map { Array(received[Int(offsets[$0]) ..< Int(offsets[$0]) + Int(counts[$0])]) }
    }

    /// MPI's 32-bit counts and the block offsets of `counts`, checked to fit `capacity` values.
    private func layout(_ counts: [Int], fitting capacity: Int, _ what: String) throws(MPIError) -> (counts: [Int32], offsets: [Int32]) {
        try requirePerRank(counts, "\(what) counts")
        var offsets = [Int32](), total = 0
        offsets.reserveCapacity(counts.count)
        for count in counts {
            guard count >= 0 else { throw .invalidArgument("\(what) count \(count) is negative") }
            offsets.append(try Self.count(total, "\(what) offset"))
            total += count
        }
        guard total <= capacity else { throw .invalidArgument("\(what) counts add up to \(total) values but the buffer holds \(capacity)") }
        return (try counts.map { (count) throws(MPIError) in try Self.count(count, "\(what) count") }, offsets)
    }

    private func requirePerRank(_ counts: [Int], _ what: String) throws(MPIError) {
        guard counts.count == size else { throw .invalidArgument("\(what): \(counts.count) given for \(size) ranks") }
    }

    private func requireRank(_ root: Int) throws(MPIError) {
        guard (0 ..< size).contains(root) else { throw .invalidArgument("root \(root) is not a rank of this \(size)-rank communicator") }
    }

    /// `value` as MPI's `int`, or an error naming what overflowed.
    private static func count(_ value: Int, _ what: String) throws(MPIError) -> Int32 {
        guard let narrow = Int32(exactly: value) else {
            throw .invalidArgument("\(what) \(value) does not fit MPI's 32-bit int; use smaller batches or more ranks")
        }
        return narrow
    }
}
