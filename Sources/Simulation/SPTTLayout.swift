import Topology
import Workload

/// DMT's semantic-preserving tower transform (DESIGN.md §1.2): T towers, one per domain of a
/// chosen level, each tower's tables sharded inside its domain, a tower module per tower, and only
/// peer all-to-alls (H ranks, one per domain) crossing domains.
///
/// Forward, per GPU (h, l): peer all-to-all of ids (tower t's ids of my B samples to peer (t, l),
/// destination-scaled by tower t's id bytes), intra-domain all-to-all of ids to the row (RW),
/// column (CW) or table (TW) owners, lookup, intra-domain reduce-scatter (RW) or all-to-all (CW,
/// TW) of pooled embeddings for the domain's B·H samples, tower module on B·H samples, peer all-to-all of the
/// d_t-wide tower outputs back to the sample owners, then the global interaction and top MLP
/// data-parallel. Backward mirrors it; tower-module gradients are all-reduced inside each domain,
/// the over-arch's over all N.
///
/// Supported shapes: T ≤ H. With T < H, towers sit on the first T domains (or the domains
/// `domainOfTower` names) and the other H − T domains hold no tables (idle for the sparse part;
/// they still send ids and run the dense part). Several towers per domain are not supported.
public struct SPTTLayout: Sendable {
    /// How a tower's tables are split over the L GPUs of its domain.
    public enum IntraDomainSharding: String, Sendable, Hashable, CaseIterable {
        /// Rows split over the domain; partial sums reduce-scattered, gradients all-gathered.
        case rowWise = "rw"
        /// Each table cut into L column blocks, one per GPU; every block sees every id.
        case columnWise = "cw"
        /// Each table whole on one GPU of the domain (greedy by cost, or `tableOwners`): the
        /// layout towerplan's own multi-process trainer runs, so `train --predict` simulates it.
        case tableWise = "tw"

        public var title: String {
            switch self {
            case .rowWise: "row-wise"
            case .columnWise: "column-wise"
            case .tableWise: "table-wise"
            }
        }
    }

    /// Level whose domains hold the towers; nil for the level that directly encloses the
    /// accelerators (the host on every shipped cluster).
    public var towerLevel: String?
    /// T; nil for one tower per domain, at most one per feature (or the assignment's tower count).
    public var towerCount: Int?
    public var intraDomain: IntraDomainSharding
    /// Feature → tower; nil for a load-balanced split (`TowerAssignment.balanced`).
    public var assignment: TowerAssignment?
    /// Tower t → index of the domain (in the tower level's domain order) that holds it; nil for
    /// tower t on domain t. Placement matters where domains are not interchangeable (hosts that
    /// share a rack switch, towers of unequal load), so a partition file may set it; `plan` checks
    /// one entry per tower, each in range, no domain twice.
    public var domainOfTower: [Int]?
    /// With `.tableWise`: the rank holding each feature's table, which must lie in its tower's
    /// domain (a run's actual placement, e.g. `train --predict`); nil for greedy placement by cost
    /// inside each domain.
    public var tableOwners: [Int]?
    /// Bytes of each sample's per-feature id count sent with the ids, in both id all-to-alls (see
    /// `FlatLayout.idLengthBytes`); 0 counts the ids alone, as DESIGN §1.2 does.
    public var idLengthBytes: Double = 0
    /// `StepPlan.chargesBufferCopies` for the plans this layout makes.
    public var chargesBufferCopies = false
    public var memory: MemoryBudget

    public init(
        towerLevel: String? = nil, towerCount: Int? = nil, intraDomain: IntraDomainSharding = .rowWise, assignment: TowerAssignment? = nil,
        domainOfTower: [Int]? = nil, tableOwners: [Int]? = nil, memory: MemoryBudget = MemoryBudget()
    ) {
        self.towerLevel = towerLevel
        self.towerCount = towerCount
        self.intraDomain = intraDomain
        self.assignment = assignment
        self.domainOfTower = domainOfTower
        self.tableOwners = tableOwners
        self.memory = memory
    }

    public func plan(workload: Workload, cluster: Cluster) throws(SimulationError) -> StepPlan {
        guard let model = workload.recommendation else { throw SimulationError("workload '\(workload.name)' is not a recommendation model") }
        let training = workload.training
        let features = model.features
        let level: Level
        if let towerLevel {
            guard let named = cluster.level(named: towerLevel) else {
                throw SimulationError("cluster \(cluster.name) has no level '\(towerLevel)' (levels: \(cluster.levels.map(\.name).joined(separator: ", ")))")
            }
            level = named
        } else {
            level = DomainGrid.innermostLevel(of: cluster)
        }
        if tableOwners != nil && intraDomain != .tableWise {
            throw SimulationError("a given table placement is table-wise; \(intraDomain.title) sharding inside the domain places shards itself")
        }
        let grid = try DomainGrid(cluster: cluster, level: level)
        let rankCount = cluster.accelerators.count
        let batch = training.batchPerGPU
        let globalBatch = batch * rankCount
        // By default one tower per domain, but never more towers than features (a tower needs one).
        let towers = towerCount ?? assignment?.towerCount ?? min(grid.count, features.count)
        guard (1...grid.count).contains(towers) else {
            throw SimulationError(
                "\(towers) towers on level '\(level.name)': one tower per domain, so 1 to \(grid.count) (its number of domains); pick a level with more domains for more towers")
        }
        var notes: [String] = []
        let split: TowerAssignment
        if let assignment {
            guard assignment.towerCount == towers, assignment.towerOfFeature.count == features.count else {
                throw SimulationError(
                    "the tower assignment has \(assignment.towerCount) towers for \(assignment.towerOfFeature.count) features; the plan has \(towers) towers and the workload \(features.count) features")
            }
            split = assignment
        } else {
            split = try TowerAssignment.balanced(features: features, training: training, globalBatch: globalBatch, towerCount: towers)
            notes.append("towers: no partition given, so a balanced split of the \(features.count) features by lookup + optimizer bytes (greedy, ignores feature interactions)")
        }
        let placement = try towerPlacement(towers: towers, grid: grid)
        if towers < grid.count {
            notes.append("\(towers) of \(grid.count) \(level.name) domains hold towers; the other \(grid.count - towers) are idle for the sparse part")
        }

        let dimension = model.embeddingDimension
        let members = split.featuresByTower
        let module = model.towerModule
        let outputWidths = members.map { $0.isEmpty ? 0 : module.outputWidth(features: $0.count, dimension: dimension) }
        // The global interaction sees the concatenated tower outputs cut into D-wide vectors (the
        // last one padded): F vectors again with identity towers, Σ d_t / D with compressing ones.
        let summedWidth = outputWidths.reduce(0, +)
        let dense = DenseArchitecture(
            model: model,
            interactionInput: InteractionInput(
                embeddings: (summedWidth + dimension - 1) / dimension, dimension: dimension, denseWidth: model.denseWidth),
            computeFormat: training.precisions.compute)
        let capacities = memory.tableCapacityPerRank(
            cluster, denseReplicaBytes: MemoryBudget.denseReplicaBytes(workload, parameters: dense.parameterCount))
        let shards = try towerShards(members, workload: workload, grid: grid, placement: placement, capacities: capacities)
        let layout = ShardingPlan(shards: shards, rankCount: rankCount, features: features, training: training)
        try GreedyPlacement.checkFits(layout, capacities: capacities, what: "tower placement on \(level.name) domains")

        var plan = StepPlan(
            summary: "SPTT, \(towers) towers on \(level.name) domains of \(grid.width) GPUs, \(intraDomain.title) inside the domain, \(module.kindName) tower module",
            rankCount: rankCount, globalBatch: globalBatch, computePrecision: training.precisions.compute, sharding: layout)
        plan.notes = notes

        // Per-rank views of each tower: rank r sits in domain h = r / L; domains without a tower are idle.
        var towerOfDomain = [Int?](repeating: nil, count: grid.count)
        for (tower, domain) in placement.enumerated() { towerOfDomain[domain] = tower }
        let towerOfRank = (0..<rankCount).map { towerOfDomain[grid.domainIndex(of: Int32($0))] }
        let towerIds = members.map { $0.reduce(0.0) { $0 + features[$1].idBytesPerSample + idLengthBytes } }
        let towerSamples = batch * grid.count  // B·H: what each tower GPU serves
        let precisions = training.precisions
        let moduleWork = { (direction: PassDirection) -> [ComputeWork] in
            let perTower = members.map { towerFeatures in
                towerFeatures.isEmpty
                    ? ComputeWork.zero
                    : Self.moduleWork(
                        module, features: towerFeatures.count, dimension: dimension, batch: towerSamples,
                        valueBytes: precisions.compute.bytes, direction)
            }
            return towerOfRank.map { $0.map { perTower[$0] } ?? .zero }
        }
        let perRank = { (perTower: [Double]) in towerOfRank.map { $0.map { perTower[$0] } ?? 0 } }
        let towerDomains = placement.map { Array(grid.ranks[$0]) }
        let sample = Double(batch)
        let held = Double(towerSamples)
        let (intraForward, intraBackward) = intraDomainCollectives(layout, towerRanks: placement.map { grid.ranks[$0] }, level: level.name, towerSamples: held)
        plan.chargesBufferCopies = chargesBufferCopies
        plan.ranksOfInterest = Self.towerRanks(
            grid: grid, placement: placement, members: members, outputWidths: outputWidths, layout: layout, moduleWork: moduleWork(.forward))

        // NCCL's multi-node all-reduce reduces inside the host over NVLink and rings across hosts.
        let allReduce = AllReduceAlgorithm.hierarchical(level: DomainGrid.innermostLevel(of: cluster).name)
        plan.addTrainingStep(dense: dense, batch: batch, training: training, allReduce: allReduce) { plan in
            let peerIds = plan.communicate(
                "input dist: ids peer all-to-all",
                Collective(
                    kind: .allToAll, groups: grid.peerGroups,
                    traffic: AllToAllTraffic(perPair: sample, destinationScale: StepPlan.scales(perRank(towerIds)))),
                inputDistribution: true, copies: [.send, .receive])
            let domainIds = plan.communicate(
                "input dist: ids all-to-all in \(level.name)",
                Collective(
                    kind: .allToAll, groups: towerDomains,
                    traffic: AllToAllTraffic(perPair: held, destinationScale: StepPlan.scales(layout.idBytesPerSamplePerRank(lengthBytes: idLengthBytes)))),
                inputDistribution: true, copies: [.send, .receive], after: peerIds)
            let lookup = plan.compute("embedding lookup", layout.lookupWorkPerRank, after: domainIds)
            let pooled = plan.communicate(intraForward.name, intraForward.collective, copies: .receive, after: lookup)
            let towerOutput = plan.compute("tower module forward", moduleWork(.forward), after: pooled)
            return plan.communicate(
                "tower outputs peer all-to-all",
                Collective(
                    kind: .allToAll, groups: grid.peerGroups,
                    traffic: AllToAllTraffic(
                        perPair: sample, sourceScale: StepPlan.scales(perRank(outputWidths.map { Double($0) * precisions.forwardCommunication.bytes })))),
                copies: .receive, after: towerOutput)
        } sparseBackward: { plan, ready in
            let returned = plan.communicate(
                "tower output gradients peer all-to-all",
                Collective(
                    kind: .allToAll, groups: grid.peerGroups,
                    traffic: AllToAllTraffic(
                        perPair: sample,
                        destinationScale: StepPlan.scales(perRank(outputWidths.map { Double($0) * precisions.backwardCommunication.bytes })))),
                copies: .send, after: ready)
            let moduleBackward = plan.compute("tower module backward", moduleWork(.backward), after: returned)
            let spread = plan.communicate(intraBackward.name, intraBackward.collective, copies: .send, after: moduleBackward)
            plan.compute("embedding backward + optimizer", layout.updateWorkPerRank, after: spread)
            plan.communicate(
                "tower module gradient all-reduce in \(level.name)",
                Collective(
                    kind: .allReduce(.ring), groups: towerDomains,
                    bufferBytes: members.map {
                        $0.isEmpty ? 0 : module.parameterCount(features: $0.count, dimension: dimension) * precisions.gradientAllReduce.bytes
                    }),
                copies: [.send, .receive], after: moduleBackward)
        }
        return plan
    }

    /// The collective inside each tower domain between the lookup and the tower module (forward),
    /// and between the tower module and the tables (backward): a reduce-scatter of partial sums
    /// and an all-gather of gradients for RW, all-to-alls of column blocks for CW.
    private func intraDomainCollectives(
        _ layout: ShardingPlan, towerRanks: [Range<Int32>], level: String, towerSamples: Double
    ) -> (forward: StepPlan.Stage, backward: StepPlan.Stage) {
        let towerDomains = towerRanks.map(Array.init)
        let global = Double(layout.globalBatch)
        let buffers = { (direction: PassDirection) in towerRanks.map { global * layout.pooledBytesPerSample(onRanks: $0, direction) } }
        switch intraDomain {
        case .rowWise:
            return (
                ("pooled partial sums reduce-scatter in \(level)", Collective(kind: .reduceScatter, groups: towerDomains, bufferBytes: buffers(.forward))),
                ("embedding gradients all-gather in \(level)", Collective(kind: .allGather, groups: towerDomains, bufferBytes: buffers(.backward)))
            )
        case .columnWise, .tableWise:
            // Single-owner shards either way: each owner returns its columns (CW) or whole tables (TW).
            let (forward, backward) = intraDomain == .columnWise
                ? ("pooled column blocks all-to-all", "embedding gradient column blocks all-to-all")
                : ("output dist: pooled embeddings all-to-all", "embedding gradients all-to-all")
            return (
                ("\(forward) in \(level)",
                 Collective(kind: .allToAll, groups: towerDomains,
                            traffic: AllToAllTraffic(perPair: towerSamples, sourceScale: StepPlan.scales(layout.pooledBytesPerSamplePerRank(.forward))))),
                ("\(backward) in \(level)",
                 Collective(kind: .allToAll, groups: towerDomains,
                            traffic: AllToAllTraffic(perPair: towerSamples, destinationScale: StepPlan.scales(layout.pooledBytesPerSamplePerRank(.backward)))))
            )
        }
    }

    /// The domain of each tower: `domainOfTower` when given, checked against the grid, else tower
    /// t on domain t.
    private func towerPlacement(towers: Int, grid: DomainGrid) throws(SimulationError) -> [Int] {
        guard let domainOfTower else { return Array(0..<towers) }
        let level = grid.level.name
        guard domainOfTower.count == towers else {
            throw SimulationError("the tower placement names domains for \(domainOfTower.count) towers; the plan has \(towers) towers, so give one domain per tower")
        }
        var holder = [Int?](repeating: nil, count: grid.count)
        for (tower, domain) in domainOfTower.enumerated() {
            guard (0..<grid.count).contains(domain) else {
                throw SimulationError(
                    "tower \(tower) is placed on \(level) domain \(domain), but the \(level) level has domains 0 to \(grid.count - 1); place it on one of those or pick another tower level")
            }
            if let other = holder[domain] {
                throw SimulationError("towers \(other) and \(tower) are both placed on \(level) domain \(domain); SPTT holds one tower per domain, so move one of them")
            }
            holder[domain] = tower
        }
        return domainOfTower
    }

    /// Each tower's tables on its domain: whole-width row-split shards over the domain (RW), L
    /// column blocks, one per GPU (CW; with D < L some GPUs get no block), or whole tables on one
    /// GPU each (TW: `tableOwners`, or greedy by cost inside the domain under `capacities`).
    private func towerShards(
        _ members: [[Int]], workload: Workload, grid: DomainGrid, placement: [Int], capacities: [Double]
    ) throws(SimulationError) -> [TableShard] {
        let features = workload.features
        var shards: [TableShard] = []
        for (tower, towerFeatures) in members.enumerated() {
            let ranks = grid.ranks[placement[tower]]
            let owners = intraDomain == .tableWise
                ? try tableWiseOwners(towerFeatures, tower: tower, ranks: ranks, workload: workload, globalBatch: grid.count * grid.width * workload.training.batchPerGPU, capacities: capacities)
                : []
            for (position, index) in towerFeatures.enumerated() {
                let dimension = features[index].dimension
                switch intraDomain {
                case .tableWise:
                    shards.append(TableShard(feature: index, columns: dimension, ranks: owners[position]..<owners[position] + 1))
                case .rowWise:
                    shards.append(TableShard(feature: index, columns: dimension, ranks: ranks))
                case .columnWise:
                    var first = 0
                    for (block, rank) in ranks.enumerated() {
                        let columns = dimension / grid.width + (block < dimension % grid.width ? 1 : 0)
                        if columns > 0 { shards.append(TableShard(feature: index, firstColumn: first, columns: columns, ranks: rank..<rank + 1)) }
                        first += columns
                    }
                }
            }
        }
        return shards
    }

    /// The rank of each of tower `tower`'s tables (`members`, in order) inside its domain `ranks`:
    /// `tableOwners` checked to lie in the domain, or greedy placement by cost (as the flat
    /// table-wise layout places tables) over the domain's ranks.
    private func tableWiseOwners(
        _ members: [Int], tower: Int, ranks: Range<Int32>, workload: Workload, globalBatch: Int, capacities: [Double]
    ) throws(SimulationError) -> [Int32] {
        let features = workload.features
        if let tableOwners {
            guard tableOwners.count == features.count else {
                throw SimulationError("the table placement names owners for \(tableOwners.count) tables; the workload has \(features.count) features")
            }
            return try members.map { (feature) throws(SimulationError) -> Int32 in
                let owner = Int32(tableOwners[feature])
                guard ranks.contains(owner) else {
                    throw SimulationError(
                        "table \(features[feature].name) is placed on GPU \(owner), outside its tower \(tower)'s domain (GPUs \(ranks.lowerBound)…\(ranks.upperBound - 1)); place each table on a GPU of its tower's domain")
                }
                return owner
            }
        }
        let items = members.map { feature in
            let whole = TableShard(feature: feature, columns: features[feature].dimension, ranks: 0..<1)
            return GreedyPlacement.Item(
                cost: ShardingPlan.placementCost(of: whole, feature: features[feature], training: workload.training, globalBatch: globalBatch),
                bytes: ShardingPlan.memoryBytes(of: whole, feature: features[feature], training: workload.training),
                name: "table \(features[feature].name)")
        }
        let bins = try GreedyPlacement.place(items, capacities: ranks.map { capacities[Int($0)] }) { "GPU \(ranks.lowerBound + Int32($0))" }
        return bins.map { ranks.lowerBound + Int32($0) }
    }

    /// A tower module's work on `batch` samples: its FLOPs (interaction FLOPs, whatever its kind),
    /// and for memory its parameters plus its input (F_t·D) and output (d_t) activations once each;
    /// backward doubles the bytes, as for MLPs. The identity module is no module at all, so it
    /// costs nothing.
    public static func moduleWork(
        _ module: TowerModule, features: Int, dimension: Int, batch: Int, valueBytes: Double, _ direction: PassDirection
    ) -> ComputeWork {
        if case .identity = module.kind { return .zero }
        let activations = Double(batch) * Double(features * dimension + module.outputWidth(features: features, dimension: dimension))
        let bytes = (module.parameterCount(features: features, dimension: dimension) + activations) * valueBytes
        switch direction {
        case .forward:
            return ComputeWork(interactionFlops: module.forwardFLOPs(features: features, dimension: dimension, batch: batch), streamedBytes: bytes)
        case .backward:
            return ComputeWork(interactionFlops: module.backwardFLOPs(features: features, dimension: dimension, batch: batch), streamedBytes: 2 * bytes)
        }
    }

    /// The first GPU of each tower whose load (lookup bytes, update bytes, tower-module FLOPs)
    /// differs from every tower listed before it, heaviest lookup first, at most `limit`; and the
    /// first GPU of the first idle domain.
    private static func towerRanks(
        grid: DomainGrid, placement: [Int], members: [[Int]], outputWidths: [Int], layout: ShardingPlan, moduleWork: [ComputeWork], limit: Int = 12
    ) -> [LabelledRank] {
        struct Load: Hashable {
            var lookup: Double
            var update: Double
            var flops: Double
        }
        let lookup = layout.lookupWorkPerRank
        let update = layout.updateWorkPerRank
        let towers = placement.count
        let load = (0..<towers).map { tower -> Load in
            let rank = Int(grid.ranks[placement[tower]].lowerBound)
            return Load(lookup: lookup[rank].gatheredBytes, update: update[rank].scatteredBytes, flops: moduleWork[rank].totalFlops)
        }
        let order = (0..<towers).sorted { a, b in
            (load[a].lookup, load[a].flops, -a) > (load[b].lookup, load[b].flops, -b)
        }
        var seen: Set<Load> = []
        var result: [LabelledRank] = []
        for tower in order where result.count < limit && seen.insert(load[tower]).inserted {
            result.append(LabelledRank(
                rank: grid.ranks[placement[tower]].lowerBound,
                label: "tower \(tower): \(members[tower].count) features, output \(outputWidths[tower]) wide"))
        }
        let held = Set(placement)
        if let idle = (0..<grid.count).first(where: { !held.contains($0) }) {
            result.append(LabelledRank(rank: grid.ranks[idle].lowerBound, label: "idle \(grid.level.name) (no tower)"))
        }
        return result
    }
}
