import Workload

/// Placement of towers onto tower domains (hosts, racks, …): SPTT holds one tower per domain, and
/// a tower's tables and their optimizer state must fit in its domain's memory (sharded over the
/// domain's GPUs, so the domain's total counts).
///
/// Heaviest tower first, each onto the roomiest domain still free (ties to the lowest index).
/// With one tower per domain this succeeds whenever any placement does: the i-th heaviest tower
/// then meets the i-th roomiest domain, and a placement that fits implies every such pair fits.
/// Cost: O(T log T + H log H).
public enum TowerPlacement {
    /// The domain of each tower. `towerBytes[t]`: memory tower t needs; `domainBytes[h]`: memory
    /// domain h has for tables. Throws when there are more towers than domains, or when a tower
    /// fits in no free domain (saying by how much).
    public static func place(towerBytes: [Double], domainBytes: [Double]) throws(TowerPartitionError) -> [Int] {
        guard towerBytes.count <= domainBytes.count else {
            throw .moreTowersThanDomains(towers: towerBytes.count, domains: domainBytes.count)
        }
        let towers = towerBytes.indices.sorted { towerBytes[$0] != towerBytes[$1] ? towerBytes[$0] > towerBytes[$1] : $0 < $1 }
        let domains = domainBytes.indices.sorted { domainBytes[$0] != domainBytes[$1] ? domainBytes[$0] > domainBytes[$1] : $0 < $1 }
        var domainOfTower = [Int](repeating: 0, count: towerBytes.count)
        for (rank, tower) in towers.enumerated() {
            let domain = domains[rank]
            guard towerBytes[tower] <= domainBytes[domain] else {
                throw .doesNotFit(tower: tower, bytes: towerBytes[tower], roomiest: domainBytes[domain], freeDomains: domains.count - rank)
            }
            domainOfTower[tower] = domain
        }
        return domainOfTower
    }

    /// Memory each tower of `towerOfFeature` needs in `workload`: Σ table + optimizer state
    /// (`FeatureCostModel.memoryBytes`). Cost: O(F).
    public static func towerBytes(_ towerOfFeature: [Int], towerCount: Int, workload: Workload) -> [Double] {
        var bytes = [Double](repeating: 0, count: towerCount)
        for (feature, tower) in towerOfFeature.enumerated() {
            bytes[tower] += FeatureCostModel.memoryBytes(workload.features[feature], training: workload.training)
        }
        return bytes
    }
}
