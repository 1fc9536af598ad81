import CMPI

/// The process's MPI library: start, finish, abort. Everything else goes through a `Communicator`.
///
/// MPI may be started once per process and never again after `finish()` (the standard forbids it),
/// so the state lives in the library itself (`MPI_Initialized`, `MPI_Finalized`), not in Swift
/// globals. Call from the main thread: the engine's worker threads compute but never call MPI
/// (`MPI_THREAD_FUNNELED`).
public enum MPI {
    /// Starts MPI (once; later calls return the world again) and returns `MPI_COMM_WORLD`, set to
    /// return errors instead of aborting, so that a failed call becomes a thrown `MPIError`.
    /// Costs what `MPI_Init_thread` costs under the launcher: tens of milliseconds with shared memory.
    public static func start() throws(MPIError) -> Communicator {
        if try flag(MPI_Finalized, "MPI_Finalized") { throw .finished }
        if try !flag(MPI_Initialized, "MPI_Initialized") {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        }
        return try Communicator(handle: tp_mpi_comm_world(), owned: false)
    }

    /// Finishes MPI for this process. Every rank must call it after its last collective; the
    /// communicators split from the world must not be used afterwards.
    public static func finish() throws(MPIError) {
        guard try flag(MPI_Initialized, "MPI_Initialized"), try !flag(MPI_Finalized, "MPI_Finalized") else { return }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// Ends every rank of the job with `code`: what a rank that cannot go on must do, since the
    /// others would otherwise wait for it forever in their next collective.
    public static func abort(code: Int32) -> Never {
        MPI_Abort(tp_mpi_comm_world(), code)
        fatalError("MPI_Abort returned")
    }

    /// Reads one of MPI's yes/no queries (`MPI_Initialized`, `MPI_Finalized`; both legal at any time).
    static func flag(_ query: (UnsafeMutablePointer<Int32>?) -> Int32, _ name: String) throws(MPIError) -> Bool {
        var value: Int32 = 0
        try check(query(&value), name)
        return value != 0
    }

    /// Throws `MPIError.call` unless `code` is `MPI_SUCCESS`.
    static func check(_ code: Int32, _ function: String) throws(MPIError) {
        guard code != MPI_SUCCESS else { return }
        throw .call(function: function, code: code, message: errorString(code))
    }

    /// The library's text for an error code.
    private static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(tp_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error \(code)" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why an MPI operation failed.
public enum MPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An MPI call returned an error: the call, the code and Open MPI's text for it.
    case call(function: String, code: Int32, message: String)
    /// MPI was already finished in this process and cannot start again.
    case finished
    /// The arguments do not fit the call (counts that do not add up, a root outside the
    /// communicator, a count beyond MPI's 32-bit limit); says which and what was given.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .call(let function, let code, let message):
            "\(function) failed (MPI error \(code)): \(message)"
        case .finished:
            "MPI was already finished in this process; start it only once"
        case .invalidArgument(let problem):
            "invalid MPI call: \(problem)"
        }
    }
}
