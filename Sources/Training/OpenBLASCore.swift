import COpenBLAS

/// The kernels OpenBLAS runs in this process, as it names them ("Haswell", "SkylakeX",
/// "Cooperlake", …): chosen once when the library loads, from the CPU or from the environment's
/// `OPENBLAS_CORETYPE`. Reported with training throughput because the choice moves GEMM speed by
/// 1.3–1.5× on an AVX-512 machine pinned to the AVX2 (Haswell) kernels.
public enum OpenBLASCore {
    public static var name: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
