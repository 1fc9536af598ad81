import COpenBLAS

/// A contiguous, row-major Float32 matrix with reference semantics: the tensor of the CPU engine.
///
/// Why a class over a raw buffer rather than a `[Float]` struct: layers own their activation and
/// gradient workspaces and hand them to the next layer without copying, and the hot loops read
/// and write through `pointer` directly (BLAS and SIMD loops), with no copy-on-write checks or
/// exclusivity bookkeeping per access. Storage is 64-byte aligned (one cache line, a whole
/// SIMD16 load) and only grows: `resize(rows:)` reallocates when a bigger batch arrives, never
/// when a smaller one does, so a training loop allocates on its first step only.
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

    /// A zero-filled rows × columns matrix.
    public init(rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must not be negative")
        self.rows = rows
        self.columns = columns
        capacity = rows * columns
        pointer = Self.allocateZeroed(capacity)
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

    private static func allocateZeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: alignment)
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
            pointer = Self.allocateZeroed(capacity)
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
        for index in 0 ..< count { y[index] += alpha * x[index] }
    }

    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0 ..< count { y[index] += x[index] }
    }

    /// Column sums of a rows × columns matrix into `sums` (overwritten): the bias gradient.
    /// Row by row, so every row is one vectorised pass and the order is fixed.
    static func columnSums(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        sums.update(repeating: 0, count: columns)
        for row in 0 ..< rows { add(matrix + row * columns, into: sums, count: columns) }
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
