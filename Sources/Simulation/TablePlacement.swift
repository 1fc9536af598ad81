import Topology
import Workload

/// How much of each GPU's memory embedding tables may use.
public struct MemoryBudget: Sendable, Hashable {
    /// Fraction of device memory kept for activations, communication buffers and allocator
    /// fragmentation. Default 0.15: TorchRec's planner default (`HeuristicalStorageReservation(percentage=0.15)`).
    public var reservedFraction: Double

    public init(reservedFraction: Double = 0.15) {
        self.reservedFraction = reservedFraction
    }

    /// Bytes per dense parameter every GPU keeps for its data-parallel replica: fp32 weights,
    /// fp32 gradients and the dense optimizer's fp32 state.
    public static func denseReplicaBytes(_ workload: Workload, parameters: Double) -> Double {
        parameters * 4 * (2 + workload.training.denseOptimizer.stateValuesPerParameter)
    }

    /// Bytes each rank has for tables and their optimizer state: memory × (1 − reserve) minus the
    /// dense replica.
    public func tableCapacityPerRank(_ cluster: Cluster, denseReplicaBytes: Double) -> [Double] {
        cluster.accelerators.map { device in
            (cluster.model(of: device)?.memoryBytes ?? 0) * (1 - reservedFraction) - denseReplicaBytes
        }
    }
}

/// Greedy balanced placement, as TorchRec's default partitioner does it: items by decreasing cost
/// (ties by index, so the result is deterministic), each onto the least-loaded bin that still has
/// room for it (ties to the lowest bin).
///
/// Cost: O(items · bins). Balance, while memory does not force an item past the least-loaded bin,
/// is the classic LPT bound: the heaviest bin is within 4/3 of the optimum, and within one item's
/// cost of the mean.
enum GreedyPlacement {
    struct Item {
        var cost: Double
        var bytes: Double
        var name: String
    }

    /// The bin of each item. Throws when an item fits in no bin, saying how far short the roomiest bin is.
    static func place(_ items: [Item], capacities: [Double], binName: (Int) -> String) throws(SimulationError) -> [Int] {
        var load = [Double](repeating: 0, count: capacities.count)
        var free = capacities
        var bin = [Int](repeating: 0, count: items.count)
        let order = items.indices.sorted { items[$0].cost != items[$1].cost ? items[$0].cost > items[$1].cost : $0 < $1 }
        for index in order {
            let item = items[index]
            var best: Int?
            for candidate in capacities.indices where free[candidate] >= item.bytes {
                if best.map({ load[candidate] < load[$0] }) ?? true { best = candidate }
            }
            guard let chosen = best else {
                let roomiest = free.indices.max { free[$0] < free[$1] || (free[$0] == free[$1] && $0 > $1) } ?? 0
                let room = max(free[roomiest], 0)
                throw SimulationError(
                    "\(item.name) needs \(Units.formatBytes(item.bytes)) (table and optimizer state) but the roomiest \(binName(roomiest)) has \(Units.formatBytes(room)) left: short by \(Units.formatBytes(item.bytes - room)); use a sharding that splits tables (rw, cw, twrw), more GPUs, or a smaller storage precision")
            }
            bin[index] = chosen
            load[chosen] += item.cost
            free[chosen] -= item.bytes
        }
        return bin
    }

    /// Checks memory where placement is fixed (row-wise, replicated, inside tower domains).
    static func checkFits(_ plan: ShardingPlan, capacities: [Double], what: String) throws(SimulationError) {
        let used = plan.memoryBytesPerRank
        guard let worst = used.indices.max(by: { used[$0] - capacities[$0] < used[$1] - capacities[$1] }),
            used[worst] > capacities[worst]
        else { return }
        throw SimulationError(
            "\(what) puts \(Units.formatBytes(used[worst])) of tables and optimizer state on GPU \(worst), which has \(Units.formatBytes(max(capacities[worst], 0))) for them: short by \(Units.formatBytes(used[worst] - capacities[worst])); use more GPUs, another sharding, or a smaller storage precision")
    }
}
