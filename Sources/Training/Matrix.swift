import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// A contiguous, row-major Float32 matrix with reference semantics: the tensor of the CPU engine.
///
/// Why a class over a raw buffer rather than a `[Float]` struct: layers own their activation and
/// gradient workspaces and hand them to the next layer without copying, and the hot loops read
/// and write through `pointer` directly (BLAS and SIMD loops), with no copy-on-write checks or
/// exclusivity bookkeeping per access. Storage is 64-byte aligned (one cache line, a whole
/// SIMD16 load) and only grows: `resize(rows:)` reallocates when a bigger batch arrives, never
/// when a smaller one does, so a training loop allocates on its first step only.
///
/// A matrix made with `hugePages` (embedding tables and their optimizer state) and holding 2 MiB
/// or more is aligned to 2 MiB and, on Linux, advised for transparent huge pages. Why: an
/// embedding lookup reads one random row of a large table, and with 4 KiB pages nearly every such
/// read also misses the TLB, so page walks add to the latency of the gather and the sparse update
/// (about a fifth of their time on the DLRM benchmark). Cost: up to 2 MiB of rounding per such
/// matrix, and a slower first touch where the kernel zeroes whole huge pages (seconds per GB on a
/// VM) — which is why activations, read sequentially and allocated on the first training step,
/// do not ask for them.
///
/// A batch of B samples is a B × width matrix, one sample per row. A sample holding n vectors of
/// width D (embeddings) stores vector j at columns j·D ..< (j+1)·D.
public final class Matrix {
    /// Current row count (the batch size for activations).
    public private(set) var rows: Int
    public let columns: Int
    /// The first element; rows · columns values follow, row-major.
    public private(set) var pointer: UnsafeMutablePointer<Float>
    /// Elements the storage can hold without reallocating.
    private var capacity: Int

    private static let alignment = 64
    /// Size and alignment of a transparent huge page on x86-64 and arm64 Linux.
    private static let hugePage = 2 << 20

    /// Whether storage of 2 MiB or more goes to transparent huge pages (see the type's notes).
    private let hugePages: Bool

    /// A zero-filled rows × columns matrix; `hugePages` for randomly accessed tables.
    public init(rows: Int, columns: Int, hugePages: Bool = false) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must not be negative")
        self.rows = rows
        self.columns = columns
        self.hugePages = hugePages
        capacity = rows * columns
        pointer = Self.allocateZeroed(capacity, hugePages: hugePages)
    }

    /// A rows × columns matrix holding `values` (row-major, rows · columns of them).
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "a \(rows)×\(columns) matrix needs \(rows * columns) values, got \(values.count)")
        self.init(rows: rows, columns: columns)
        load(values)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    private static func allocateZeroed(_ count: Int, hugePages: Bool) -> UnsafeMutablePointer<Float> {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let huge = hugePages && bytes >= hugePage
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: huge ? hugePage : alignment)
        #if os(Linux)
        // Advice only: where the kernel has no huge pages to give, the storage stays in small pages.
        if huge { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
        #endif
        let typed = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        typed.initialize(repeating: 0, count: max(count, 1))
        return typed
    }

    /// Values in the matrix: rows · columns.
    public var count: Int { rows * columns }

    /// Changes the row count, keeping the column count. Storage grows (zero-filled, old contents
    /// dropped) only when the new shape does not fit; otherwise this is free and the contents are
    /// whatever the rows held before. Callers overwrite workspaces after resizing.
    public func resize(rows newRows: Int) {
        precondition(newRows >= 0, "matrix rows must not be negative")
        if newRows * columns > capacity {
            UnsafeMutableRawPointer(pointer).deallocate()
            capacity = newRows * columns
            pointer = Self.allocateZeroed(capacity, hugePages: hugePages)
        }
        rows = newRows
    }

    /// Element (row, column). Bounds are checked; hot loops use `pointer` instead.
    public subscript(row: Int, column: Int) -> Float {
        get {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "index (\(row), \(column)) outside \(rows)×\(columns)")
            return pointer[row * columns + column]
        }
        set {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "index (\(row), \(column)) outside \(rows)×\(columns)")
            pointer[row * columns + column] = newValue
        }
    }

    /// A copy of the values, row-major (allocates: for checkpoints, tests and reports, not hot paths).
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Overwrites every value from `values` (exactly `count` of them).
    public func load(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// Sets every value to `value`.
    public func fill(_ value: Float) {
        pointer.update(repeating: value, count: count)
    }

    /// Pointer to the first value of `row`.
    @inline(__always)
    func row(_ index: Int) -> UnsafeMutablePointer<Float> { pointer + index * columns }
}

/// C ← α·op(A)·op(B) + β·C on row-major operands through OpenBLAS sgemm, where op(A) is m×k,
/// op(B) is k×n and C is m×n; `lda`, `ldb`, `ldc` are the row strides of the stored matrices.
///
/// An empty product (k = 0) still honours β, which sgemm implementations disagree on, so it is
/// handled here; an empty result does nothing.
func gemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        for row in 0 ..< m {
            let target = c + row * ldc
            if beta == 0 { target.update(repeating: 0, count: n) } else { for j in 0 ..< n { target[j] *= beta } }
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Element-wise kernels over raw buffers. Plain loops over unsafe pointers: the optimizer
/// vectorises the maps; reductions that must vectorise use explicit SIMD accumulators, because
/// Swift never reassociates Float additions on its own.
enum Kernels {
    /// Σ a[i]·b[i] over `count` values, in SIMD8 lanes (a fixed order, so deterministic).
    /// Multiply then add, not `addProduct`: without FMA in the target's baseline ISA, Swift
    /// lowers a fused multiply-add to one libm `fmaf` call per lane, several times slower.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var index = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while index + 8 <= count {
            let offset = index * MemoryLayout<Float>.stride
            lanes += ra.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            index += 8
        }
        var total = lanes.sum()
        while index < count {
            total += a[index] * b[index]
            index += 1
        }
        return total
    }

    /// target[i] = gradient[i] where output[i] > 0, else 0: ReLU's backward, read from its output.
    /// Explicit SIMD8 with a lane select: the optimizer keeps the scalar ternary as a branch.
    static func reluGradient(
        output: UnsafePointer<Float>, gradient: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int
    ) {
        let ro = UnsafeRawPointer(output), rg = UnsafeRawPointer(gradient), rt = UnsafeMutableRawPointer(target)
        var index = 0
        while index + 8 <= count {
            let offset = index * MemoryLayout<Float>.stride
            let active = ro.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self) .> 0
            let passed = SIMD8<Float>.zero.replacing(with: rg.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), where: active)
            rt.storeBytes(of: passed, toByteOffset: offset, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            target[index] = output[index] > 0 ? gradient[index] : 0
            index += 1
        }
    }

    /// y[i] += α·x[i].
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        map(x, y, count: count) { x, y in y + alpha * x } scalar: { x, y in y + alpha * x }
    }

    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        map(x, y, count: count) { x, y in y + x } scalar: { x, y in y + x }
    }

    /// y[i] = x[i], for short rows (an embedding row): inline SIMD moves where `update(from:)`
    /// calls memmove, and without reading y (which `map` would).
    @inline(__always)
    static func copy(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        var index = 0
        while index + 8 <= count {
            let offset = index * MemoryLayout<Float>.stride
            ry.storeBytes(of: rx.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self), toByteOffset: offset, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            y[index] = x[index]
            index += 1
        }
    }

    /// y[i] = f(x[i], y[i]), eight lanes at a time, then the rest one by one (the same arithmetic
    /// per element either way). Why explicit SIMD for such maps: the optimizer's own
    /// vectorisation of `y[i] += x[i]` adds run-time overlap and length checks that, for the
    /// short rows of embedding lookups and updates (D = 16), make the loop body several times
    /// longer; these are the loops that wait on random table rows, and a short body keeps more of
    /// those reads in flight.
    @inline(__always)
    private static func map(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
        _ lanes: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>, scalar: (Float, Float) -> Float
    ) {
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        var index = 0
        while index + 8 <= count {
            let offset = index * MemoryLayout<Float>.stride
            let result = lanes(rx.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self),
                               ry.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            ry.storeBytes(of: result, toByteOffset: offset, as: SIMD8<Float>.self)
            index += 8
        }
        while index < count {
            y[index] = scalar(x[index], y[index])
            index += 1
        }
    }

    /// Column sums of a rows × columns matrix with row stride `stride` (default `columns`) into
    /// `sums` (overwritten): the bias gradient. Row by row, so every row is one vectorised pass
    /// and the order is fixed; a block of columns (a stride wider than `columns`) sums exactly as
    /// it does inside the whole matrix, which is what lets callers split the columns over threads.
    static func columnSums(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int? = nil, into sums: UnsafeMutablePointer<Float>) {
        sums.update(repeating: 0, count: columns)
        let stride = stride ?? columns
        for row in 0 ..< rows { add(matrix + row * stride, into: sums, count: columns) }
    }

    /// Copies a block of `width` columns of each row between matrices of different row strides.
    static func copyColumns(
        rows: Int, width: Int, from source: UnsafePointer<Float>, stride sourceStride: Int,
        to target: UnsafeMutablePointer<Float>, stride targetStride: Int
    ) {
        guard width > 0 else { return }
        for row in 0 ..< rows { (target + row * targetStride).update(from: source + row * sourceStride, count: width) }
    }
}
