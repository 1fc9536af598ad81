/// One of the four ways a transformer step is split over GPUs, innermost first.
public enum ParallelDimension: String, Sendable, Hashable, CaseIterable, Codable {
    /// Tensor parallelism: each layer's matrices split over `tp` GPUs (Megatron-LM, with sequence
    /// parallelism for the element-wise parts).
    case tp
    /// Context parallelism: each sequence split over `cp` GPUs, K and V all-gathered for attention.
    case cp
    /// Pipeline parallelism: the layers split into `pp` stages.
    case pp
    /// Data parallelism, fully sharded (FSDP): `dp` model replicas, each on its share of the batch.
    case dp
}

/// A 4D factorization of the GPUs of one job and where each GPU sits in it.
///
/// Ranks are laid out with TP fastest, as in the Llama 3 paper (§3.3.2, order [TP, CP, PP, DP]):
/// rank = tp + TP·(cp + CP·(pp + PP·dp)), and rank r runs on the cluster's r-th accelerator. On a
/// cluster numbered host by host, a TP group of at most one host's GPUs therefore stays on NVLink,
/// and DP, the outermost dimension, is the only one whose groups reach across pods.
public struct TransformerParallelism: Sendable, Hashable, Codable, CustomStringConvertible {
    public var tp: Int
    public var cp: Int
    public var pp: Int
    public var dp: Int

    public init(tp: Int = 1, cp: Int = 1, pp: Int = 1, dp: Int = 1) {
        self.tp = tp
        self.cp = cp
        self.pp = pp
        self.dp = dp
    }

    /// GPUs the job uses: tp·cp·pp·dp.
    public var gpus: Int { tp * cp * pp * dp }

    /// The size of one dimension.
    public subscript(_ dimension: ParallelDimension) -> Int {
        switch dimension {
        case .tp: tp
        case .cp: cp
        case .pp: pp
        case .dp: dp
        }
    }

    /// "tp=8,cp=1,pp=16,dp=64": the form `--parallel` takes.
    public var description: String { ParallelDimension.allCases.map { "\($0.rawValue)=\(self[$0])" }.joined(separator: ",") }

    /// The rank of the GPU at these coordinates: tp + TP·(cp + CP·(pp + PP·dp)).
    public func rank(tp t: Int, cp c: Int, pp p: Int, dp d: Int) -> Int32 {
        Int32(t + tp * (c + cp * (p + pp * d)))
    }

    /// The coordinates of `rank`, the inverse of `rank(tp:cp:pp:dp:)`.
    public func coordinates(of rank: Int32) -> (tp: Int, cp: Int, pp: Int, dp: Int) {
        let r = Int(rank)
        return (r % tp, (r / tp) % cp, (r / (tp * cp)) % pp, r / (tp * cp * pp))
    }

    /// Every group of `dimension`: the ranks that differ only in that coordinate, in ascending order
    /// (which is also their ring order). The groups of one dimension are disjoint and cover all ranks.
    public func groups(_ dimension: ParallelDimension) -> [[Int32]] {
        groups(varying: [dimension])
    }

    /// Groups of ranks that differ only in the `varying` coordinates, each in ascending rank order.
    /// FSDP shards over CP and DP together (`groups(varying: [.cp, .dp])`), since the CP ranks of a
    /// replica hold the same weights.
    public func groups(varying: Set<ParallelDimension>) -> [[Int32]] {
        var byKey: [Int: [Int32]] = [:]
        var order: [Int] = []
        for rank in 0..<Int32(gpus) {
            let c = coordinates(of: rank)
            // The fixed coordinates in mixed radix: distinct per group, below `gpus`.
            var key = 0
            for (dimension, coordinate) in [(ParallelDimension.dp, c.dp), (.pp, c.pp), (.cp, c.cp), (.tp, c.tp)]
            where !varying.contains(dimension) {
                key = key * self[dimension] + coordinate
            }
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(rank)
        }
        return order.map { byKey[$0]! }
    }

    /// A problem with the text given to `--parallel`.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Reads "tp=8,cp=1,pp=16,dp=64". Keys may come in any order; an absent key is 1. With `gpus`,
    /// the product must equal it, and an absent `dp` is derived from it.
    public static func parse(_ text: String, gpus: Int? = nil) throws(ParseError) -> TransformerParallelism {
        let known = ParallelDimension.allCases.map(\.rawValue).joined(separator: ", ")
        var sizes: [ParallelDimension: Int] = [:]
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
            guard parts.count == 2 else {
                throw ParseError(description: "'\(item)' is not key=value; write e.g. tp=8,cp=1,pp=16,dp=64")
            }
            guard let dimension = ParallelDimension(rawValue: key) else {
                throw ParseError(description: "unknown key '\(key)' in '\(text)' (known: \(known))")
            }
            guard sizes[dimension] == nil else { throw ParseError(description: "\(key) is given twice in '\(text)'") }
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            guard let size = Int(value), size >= 1 else {
                throw ParseError(description: "\(key)=\(value): a size must be a whole number of at least 1")
            }
            sizes[dimension] = size
        }
        var result = TransformerParallelism(tp: sizes[.tp] ?? 1, cp: sizes[.cp] ?? 1, pp: sizes[.pp] ?? 1, dp: sizes[.dp] ?? 1)
        guard sizes.values.reduce(1.0, { $0 * Double($1) }) <= Double(1 << 30) else {
            throw ParseError(description: "'\(text)' asks for more than 2³⁰ GPUs")
        }
        if let gpus {
            let inner = result.tp * result.cp * result.pp
            if sizes[.dp] == nil {
                guard gpus % inner == 0 else {
                    throw ParseError(description: "\(gpus) GPUs are not a multiple of tp·cp·pp = \(inner), so dp cannot be derived; give dp or change the GPU count")
                }
                result.dp = gpus / inner
            } else if result.gpus != gpus {
                throw ParseError(description: "tp·cp·pp·dp = \(result.gpus) GPUs, but \(gpus) GPUs are to be used; change a size, or drop dp to have it derived")
            }
        }
        return result
    }
}
