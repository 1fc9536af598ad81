import Workload

/// How good a partition is, on both of TP's goals (DESIGN §1.2): balance (throughput) and kept
/// affinity (model quality), plus the traffic it sends across domains and, on synthetic data, how
/// well it recovers the planted groups. The simulated step time is the CLI's to add: it has the
/// simulator, this module does not.
public struct PartitionMetrics: Sendable, Hashable, Codable {
    /// Max tower cost / mean tower cost (1 is perfect).
    public var imbalance: Double
    /// Affinity weight inside towers / total off-diagonal weight; nil without an affinity.
    public var capturedAffinity: Double?
    /// Bytes each GPU sends across tower domains per step (`CrossDomainTraffic.sptt`).
    public var crossDomainBytesPerGPU: Double
    /// Adjusted Rand index against the planted groups; nil without ground truth.
    public var adjustedRandIndex: Double?

    public init(imbalance: Double, capturedAffinity: Double?, crossDomainBytesPerGPU: Double, adjustedRandIndex: Double?) {
        self.imbalance = imbalance
        self.capturedAffinity = capturedAffinity
        self.crossDomainBytesPerGPU = crossDomainBytesPerGPU
        self.adjustedRandIndex = adjustedRandIndex
    }

    /// Every metric of `towerOfFeature` (T towers) for `workload`, whose features cost `costs`,
    /// with towers spread over `domains` tower domains. Cost: O(F + E).
    public init(
        towerOfFeature: [Int], towerCount: Int, costs: [Double], affinity: AffinityGraph?, plantedGroups: [Int]?, workload: Workload,
        domains: Int
    ) {
        self.init(
            imbalance: TowerLoads.imbalance(towerOfFeature, costs: costs, towers: towerCount),
            capturedAffinity: affinity.map { Self.capturedAffinity(towerOfFeature, graph: $0) },
            crossDomainBytesPerGPU: CrossDomainTraffic.sptt(
                workload: workload, towerOfFeature: towerOfFeature, towerCount: towerCount, domains: domains,
                batch: workload.training.batchPerGPU),
            adjustedRandIndex: plantedGroups.map { Self.adjustedRandIndex(towerOfFeature, $0) })
    }

    /// Share of the total affinity kept inside towers; 1 when the graph has no weight at all
    /// (nothing can be cut). Cost: O(E).
    public static func capturedAffinity(_ part: [Int], graph: AffinityGraph) -> Double {
        let total = graph.totalWeight
        return total > 0 ? graph.internalWeight(part) / total : 1
    }

    /// Adjusted Rand index (Hubert & Arabie 1985) of two labelings of the same items: 1 when they
    /// group the items identically, about 0 for independent random ones, negative when they agree
    /// less than chance. With n_ij the contingency table, a_i and b_j its row and column sums:
    /// ARI = (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E), E = Σ C(a_i,2) · Σ C(b_j,2) / C(n,2).
    /// When the denominator is 0 (both labelings one group, or both all singletons) they agree
    /// perfectly and the index is 1, as scikit-learn defines it. Cost: O(n).
    public static func adjustedRandIndex(_ a: [Int], _ b: [Int]) -> Double {
        precondition(a.count == b.count, "labelings of different lengths")
        let pairs = { (n: Int) in Double(n) * Double(n - 1) / 2 }
        var cells: [SIMD2<Int>: Int] = [:]
        var rows: [Int: Int] = [:]
        var columns: [Int: Int] = [:]
        for (x, y) in zip(a, b) {
            cells[SIMD2(x, y), default: 0] += 1
            rows[x, default: 0] += 1
            columns[y, default: 0] += 1
        }
        let index = cells.values.reduce(0) { $0 + pairs($1) }
        let rowPairs = rows.values.reduce(0) { $0 + pairs($1) }
        let columnPairs = columns.values.reduce(0) { $0 + pairs($1) }
        let expected = a.count > 1 ? rowPairs * columnPairs / pairs(a.count) : 0
        let maximum = (rowPairs + columnPairs) / 2
        guard maximum != expected else { return 1 }
        return (index - expected) / (maximum - expected)
    }
}

/// Embedding traffic across tower domains per GPU and step, by DESIGN §1.2's table: ids forward,
/// pooled embeddings (flat) or tower outputs (SPTT) forward and their gradients backward. Dense
/// all-reduces are left out: they are the same whatever the partition.
public enum CrossDomainTraffic {
    /// SPTT with T towers on T of H domains: B · (H−1)/H · Σ_t (ids_t + d_t · (b_fwd + b_bwd)),
    /// ids_t = Σ_{f∈t} p_f·s_f and d_t the tower module's output width for F_t features. Each GPU
    /// sends tower t's share of its B samples to t's domain unless it is there itself, which
    /// holds for 1 of H domains, whatever T. With identity towers d_t = F_t·D and this is the
    /// table's B·F·(p·s + D·b)·(H−1)/H; a module compressing by c divides the embedding term by c.
    public static func sptt(workload: Workload, towerOfFeature: [Int], towerCount: Int, domains: Int, batch: Int) -> Double {
        guard let model = workload.recommendation, domains > 1 else { return 0 }
        let precisions = workload.training.precisions
        let valueBytes = precisions.forwardCommunication.bytes + precisions.backwardCommunication.bytes
        var ids = 0.0
        var members = [Int](repeating: 0, count: towerCount)
        for (feature, tower) in towerOfFeature.enumerated() {
            ids += model.features[feature].idBytesPerSample
            members[tower] += 1
        }
        let outputs = members.reduce(0.0) { sum, count in
            count == 0 ? sum : sum + Double(model.towerModule.outputWidth(features: count, dimension: model.embeddingDimension))
        }
        return Double(batch) * (ids + outputs * valueBytes) * Double(domains - 1) / Double(domains)
    }

    /// The flat model's global all-to-alls on N GPUs in domains of L: B · Σ_f (p_f·s_f + D_f ·
    /// (b_fwd + b_bwd)) · (N−L)/N.
    public static func flat(workload: Workload, gpus: Int, gpusPerDomain: Int, batch: Int) -> Double {
        guard gpus > 0 else { return 0 }
        let precisions = workload.training.precisions
        let perSample = workload.features.reduce(0.0) { sum, feature in
            sum + feature.idBytesPerSample + feature.communicationBytesPerSample(.forward, precisions: precisions)
                + feature.communicationBytesPerSample(.backward, precisions: precisions)
        }
        return Double(batch) * perSample * Double(gpus - gpusPerDomain) / Double(gpus)
    }
}
