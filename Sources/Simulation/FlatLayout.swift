import Topology
import Workload

/// The flat baseline (DESIGN.md §1.1): one global embedding layer sharded over all N GPUs with one
/// TorchRec sharding type for every table, and the dense part data-parallel.
///
/// Collectives per sharding type (forward; backward mirrors with gradients):
/// - TW, CW: ids all-to-all (destination-scaled: owners of heavy tables receive more), pooled
///   embeddings all-to-all (source-scaled by the columns each GPU owns).
/// - RW: ids all-to-all (uniform), reduce-scatter of [N·B, F·D] partial sums; backward all-gather.
/// - TWRW: ids all-to-all to the rows' owners in the table's host, reduce-scatter inside the host,
///   then all-to-all among same-local-rank peers (TorchRec's intra-node + cross-node dist).
/// - DP: no distribution; all-reduce of every table's gradient.
public struct FlatLayout: Sendable {
    public var sharding: ShardingType
    /// Widest column block CW cuts a table into: TorchRec's `MIN_CW_DIM` default, 128. Tables no
    /// wider stay whole, so CW equals TW on them.
    public var columnBlockWidth: Int
    /// With `.tableWise`: the rank holding each feature's table (a run's actual placement, e.g.
    /// `train --predict`); nil for greedy placement by cost.
    public var tableOwners: [Int]?
    /// Bytes of each sample's per-feature id count sent with the ids (`SparseFeature.idLengthBytes`
    /// says when to set it); 0 counts the ids alone, as DESIGN §1.2's p·s does.
    public var idLengthBytes: Double
    /// `StepPlan.chargesBufferCopies` for the plans this layout makes.
    public var chargesBufferCopies = false
    public var memory: MemoryBudget

    public init(
        sharding: ShardingType = .tableWise, columnBlockWidth: Int = 128, tableOwners: [Int]? = nil, idLengthBytes: Double = 0,
        memory: MemoryBudget = MemoryBudget()
    ) {
        self.sharding = sharding
        self.columnBlockWidth = columnBlockWidth
        self.tableOwners = tableOwners
        self.idLengthBytes = idLengthBytes
        self.memory = memory
    }

    public func plan(workload: Workload, cluster: Cluster) throws(SimulationError) -> StepPlan {
        guard let model = workload.recommendation else { throw SimulationError("workload '\(workload.name)' is not a recommendation model") }
        let training = workload.training
        let rankCount = cluster.accelerators.count
        if tableOwners != nil && sharding != .tableWise {
            throw SimulationError("a given table placement is table-wise; \(sharding.title) sharding places shards itself")
        }
        let batch = training.batchPerGPU
        let dense = DenseArchitecture(model: model, interactionInput: model.interactionInput, computeFormat: training.precisions.compute)
        let capacities = memory.tableCapacityPerRank(
            cluster, denseReplicaBytes: MemoryBudget.denseReplicaBytes(workload, parameters: dense.parameterCount))
        let innermost = DomainGrid.innermostLevel(of: cluster)
        let shards = try placeShards(model.features, training: training, cluster: cluster, capacities: capacities)
        let layout = ShardingPlan(shards: shards, rankCount: rankCount, features: model.features, training: training)
        if sharding == .rowWise || sharding == .dataParallel || tableOwners != nil {
            try GreedyPlacement.checkFits(layout, capacities: capacities, what: "\(sharding.title) sharding")
        }

        var plan = StepPlan(
            summary: "flat, \(sharding.title) sharding", rankCount: rankCount, globalBatch: layout.globalBatch,
            computePrecision: training.precisions.compute, sharding: layout)
        if sharding == .columnWise, model.features.allSatisfy({ $0.dimension <= columnBlockWidth }) {
            plan.notes.append("column-wise: no table is wider than \(columnBlockWidth) columns, so every table stays whole (same as table-wise)")
        }
        plan.chargesBufferCopies = chargesBufferCopies
        plan.ranksOfInterest = Self.extremes(of: layout)
        // NCCL's multi-node all-reduce reduces inside the host over NVLink and rings across hosts.
        let allReduce = AllReduceAlgorithm.hierarchical(level: innermost.name)
        let (output, gradients) = try collectives(layout, cluster: cluster, allReduce: allReduce, gradientFormat: training.precisions.gradientAllReduce)
        let ids = Collective(
            kind: .allToAll, groups: [Array(0..<Int32(rankCount))],
            traffic: AllToAllTraffic(perPair: Double(batch), destinationScale: StepPlan.scales(layout.idBytesPerSamplePerRank(lengthBytes: idLengthBytes))))
        plan.addTrainingStep(dense: dense, batch: batch, training: training, allReduce: allReduce) { plan in
            let distributed = plan.communicate("input dist: ids all-to-all", ids, inputDistribution: true, copies: [.send, .receive])
            return output.reduce(plan.compute("embedding lookup", layout.lookupWorkPerRank, after: distributed)) { done, stage in
                plan.communicate(stage.name, stage.collective, copies: .receive, after: done)
            }
        } sparseBackward: { plan, ready in
            let arrived = gradients.reduce(ready) { done, stage in plan.communicate(stage.name, stage.collective, copies: .send, after: done) }
            plan.compute("embedding backward + optimizer", layout.updateWorkPerRank, after: arrived)
        }
        return plan
    }

    /// The collectives this sharding type implies, in order: from the lookup to the pooled
    /// embeddings on their sample owners (forward), and from the embedding gradients on the sample
    /// owners to the tables (backward).
    private func collectives(
        _ layout: ShardingPlan, cluster: Cluster, allReduce: AllReduceAlgorithm, gradientFormat: NumericFormat
    ) throws(SimulationError) -> (forward: [StepPlan.Stage], backward: [StepPlan.Stage]) {
        let everyone = [Array(0..<Int32(layout.rankCount))]
        let all = 0..<Int32(layout.rankCount)
        let sample = Double(layout.training.batchPerGPU)
        let global = Double(layout.globalBatch)
        switch sharding {
        case .tableWise, .columnWise:
            return (
                [("output dist: pooled embeddings all-to-all",
                  Collective(kind: .allToAll, groups: everyone,
                             traffic: AllToAllTraffic(perPair: sample, sourceScale: StepPlan.scales(layout.pooledBytesPerSamplePerRank(.forward)))))],
                [("embedding gradients all-to-all",
                  Collective(kind: .allToAll, groups: everyone,
                             traffic: AllToAllTraffic(perPair: sample, destinationScale: StepPlan.scales(layout.pooledBytesPerSamplePerRank(.backward)))))]
            )
        case .rowWise:
            return (
                [("output dist: partial sums reduce-scatter",
                  Collective(kind: .reduceScatter, groups: everyone, bufferBytes: [global * layout.pooledBytesPerSample(onRanks: all, .forward)]))],
                [("embedding gradients all-gather",
                  Collective(kind: .allGather, groups: everyone, bufferBytes: [global * layout.pooledBytesPerSample(onRanks: all, .backward)]))]
            )
        case .tableRowWise:
            let hosts = try Self.hostGrid(cluster)
            // Per host: pooled bytes per sample of its row-split tables, and the same spread to its ranks.
            let perHost = { (direction: PassDirection) in hosts.ranks.map { layout.pooledBytesPerSample(onRanks: $0, direction) } }
            let perRank = { (direction: PassDirection) in
                let values = perHost(direction)
                return StepPlan.scales(all.map { values[hosts.domainIndex(of: $0)] })
            }
            let level = hosts.level.name
            return (
                [("output dist: partial sums reduce-scatter in \(level)",
                  Collective(kind: .reduceScatter, groups: hosts.domainGroups, bufferBytes: perHost(.forward).map { global * $0 })),
                 ("output dist: pooled embeddings peer all-to-all",
                  Collective(kind: .allToAll, groups: hosts.peerGroups, traffic: AllToAllTraffic(perPair: sample, sourceScale: perRank(.forward))))],
                [("embedding gradients peer all-to-all",
                  Collective(kind: .allToAll, groups: hosts.peerGroups, traffic: AllToAllTraffic(perPair: sample, destinationScale: perRank(.backward)))),
                 ("embedding gradients all-gather in \(level)",
                  Collective(kind: .allGather, groups: hosts.domainGroups, bufferBytes: perHost(.backward).map { global * $0 }))]
            )
        case .dataParallel:
            let tableGradientBytes = layout.features.reduce(0.0) { $0 + $1.parameterCount } * gradientFormat.bytes
            return ([], [("embedding table gradient all-reduce", Collective(kind: .allReduce(allReduce), groups: everyone, bufferBytes: [tableGradientBytes]))])
        }
    }

    /// Shards of every table for this sharding type; TW, CW and TWRW placed greedily by cost under
    /// the memory budget.
    private func placeShards(
        _ features: [SparseFeature], training: TrainingSetup, cluster: Cluster, capacities: [Double]
    ) throws(SimulationError) -> [TableShard] {
        let rankCount = cluster.accelerators.count
        let everyone = 0..<Int32(rankCount)
        let globalBatch = training.batchPerGPU * rankCount
        switch sharding {
        case .rowWise, .dataParallel:
            return features.indices.map {
                TableShard(feature: $0, columns: features[$0].dimension, ranks: everyone, replicated: sharding == .dataParallel)
            }
        case .tableWise, .columnWise:
            if let tableOwners { return try Self.givenOwners(tableOwners, features: features, rankCount: rankCount) }
            var pieces: [TableShard] = []
            for (index, feature) in features.enumerated() {
                let blocks = sharding == .tableWise ? 1 : (feature.dimension + columnBlockWidth - 1) / columnBlockWidth
                var first = 0
                for block in 0..<blocks {
                    let columns = feature.dimension / blocks + (block < feature.dimension % blocks ? 1 : 0)
                    pieces.append(TableShard(feature: index, firstColumn: first, columns: columns, ranks: 0..<1))
                    first += columns
                }
            }
            let owners = try GreedyPlacement.place(
                items(pieces, features: features, training: training, globalBatch: globalBatch), capacities: capacities
            ) { "GPU \($0)" }
            return zip(pieces, owners).map { piece, owner in
                var placed = piece
                placed.ranks = Int32(owner)..<Int32(owner + 1)
                return placed
            }
        case .tableRowWise:
            let hosts = try Self.hostGrid(cluster)
            let whole = features.indices.map { TableShard(feature: $0, columns: features[$0].dimension, ranks: 0..<1) }
            let hostCapacity = hosts.ranks.map { ranks in ranks.map { capacities[Int($0)] }.min().map { $0 * Double(ranks.count) } ?? 0 }
            let owners = try GreedyPlacement.place(
                items(whole, features: features, training: training, globalBatch: globalBatch), capacities: hostCapacity
            ) { "\(hosts.level.name) \($0)" }
            return zip(whole, owners).map { table, host in
                var placed = table
                placed.ranks = hosts.ranks[host]
                return placed
            }
        }
    }

    /// Whole tables on the ranks `owners` names, checked against the features and the cluster.
    private static func givenOwners(_ owners: [Int], features: [SparseFeature], rankCount: Int) throws(SimulationError) -> [TableShard] {
        guard owners.count == features.count else {
            throw SimulationError("the table placement names owners for \(owners.count) tables; the workload has \(features.count) features")
        }
        return try features.indices.map { (index) throws(SimulationError) -> TableShard in
            guard (0..<rankCount).contains(owners[index]) else {
                throw SimulationError("table \(features[index].name) is placed on GPU \(owners[index]); the cluster has GPUs 0…\(rankCount - 1)")
            }
            return TableShard(feature: index, columns: features[index].dimension, ranks: Int32(owners[index])..<Int32(owners[index] + 1))
        }
    }

    /// TWRW's hosts: the domains of the level enclosing the GPUs (O(domains) to build).
    private static func hostGrid(_ cluster: Cluster) throws(SimulationError) -> DomainGrid {
        try DomainGrid(cluster: cluster, level: DomainGrid.innermostLevel(of: cluster))
    }

    private func items(_ shards: [TableShard], features: [SparseFeature], training: TrainingSetup, globalBatch: Int) -> [GreedyPlacement.Item] {
        shards.map { shard in
            let feature = features[shard.feature]
            let columns = shard.columns == feature.dimension ? "" : " columns \(shard.firstColumn)..<\(shard.firstColumn + shard.columns)"
            return GreedyPlacement.Item(
                cost: ShardingPlan.placementCost(of: shard, feature: feature, training: training, globalBatch: globalBatch),
                bytes: ShardingPlan.memoryBytes(of: shard, feature: feature, training: training),
                name: "table \(feature.name)\(columns)")
        }
    }

    /// The most and the least loaded GPU by embedding memory traffic, when they differ.
    static func extremes(of layout: ShardingPlan) -> [LabelledRank] {
        let load = zip(layout.lookupWorkPerRank, layout.updateWorkPerRank).map { a, b in
            a.gatheredBytes + a.streamedBytes + b.scatteredBytes + b.streamedBytes
        }
        guard let most = load.indices.max(by: { load[$0] < load[$1] }), let least = load.indices.min(by: { load[$0] < load[$1] }),
            load[most] > load[least]
        else { return [] }
        return [
            LabelledRank(rank: Int32(most), label: "most embedding traffic"),
            LabelledRank(rank: Int32(least), label: "least embedding traffic"),
        ]
    }
}
