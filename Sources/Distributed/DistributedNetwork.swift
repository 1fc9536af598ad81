import Training
import Workload

/// One MPI rank's share of a recommendation model trained across the ranks of a
/// `DistributedPlan`: the tables it owns, its domain's tower module and a replica of the
/// data-parallel part (bottom MLP, interaction, top MLP).
///
/// One step, rank (h, l) with B samples (flat is the case H = 1, one tower of every feature,
/// identity module, no peer exchange; DESIGN §1.1 and §1.2):
/// 1. SPTT: peer all-to-all of ids — tower t's ids of my samples to peer (t, l); I now serve B·H
///    samples of tower h;
/// 2. all-to-all of ids to the table owners in my domain (flat: all N ranks), lookup, all-to-all
///    of the pooled rows back (`TableWiseLookup`);
/// 3. tower module on my B·H samples;
/// 4. SPTT: peer all-to-all of tower outputs back to the sample owners;
/// 5. bottom MLP, interaction, top MLP and loss on my B samples;
/// 6. backward: the mirror of 4 and 3, the pooled gradients to the owners, which apply the
///    sparse optimizer; tower-module gradients summed inside the domain, data-parallel
///    gradients over all N; the dense optimizer.
///
/// Semantics: the loss is the mean over the global batch of N·B samples (each rank's logit
/// gradient is (σ(z) − y)/(N·B), and all-reduces sum), every table sees its whole batch's ids in
/// one update, and every parameter starts as in the single-process `RecommendationNetwork` of
/// the same seed — so N ranks take exactly the steps that network takes on the concatenation of
/// the ranks' batches (rank order), up to Float rounding of sums taken in another order.
///
/// Memory: the owned tables and their optimizer state, plus the replica: a `RecommendationNetwork`
/// over one-row stand-in tables (F·D Floats; dense parameters do not depend on table sizes), so
/// its dense part starts as the single-process model's. Its own dense optimizer is never used
/// (state the size of the dense parameters, twice that for Adam, idle); this rank's optimizer
/// covers the data-parallel parameters and its domain's tower module only. Reference semantics,
/// one step at a time, driven from the thread that started MPI.
public final class DistributedNetwork {
    public let plan: DistributedPlan
    /// This process's world rank.
    public let rank: Int
    /// Training steps taken.
    public private(set) var step = 0
    /// Seconds per phase over every step so far, on this rank.
    public var phaseTimes: PhaseTimes { clock.times }
    /// Process CPU seconds per phase so far (`PhaseClock`).
    public var phaseCPUTimes: PhaseTimes { clock.cpuTimes }

    private let world: Communicator
    private let domainGroup: Communicator
    private let peerExchange: PeerExchange?
    private let replica: RecommendationNetwork
    private let lookup: TableWiseLookup
    private let module: any Layer
    /// The data-parallel parameters and this domain's tower module's.
    private let optimizer: DenseParameterOptimizer
    private let replicated: GradientBucket
    /// The tower module's parameters, nil when it has none (identity).
    private let towerParameters: GradientBucket?
    /// Names of the dense parameters whose state this rank reports in `exportState`.
    private let reportedParameters: Set<String>
    private let logitGradient = Matrix(rows: 0, columns: 1)
    private let clock = PhaseClock()

    /// Builds this rank's share. Collective over `world` (it splits the domain and peer
    /// communicators), which must have `plan.ranks` ranks. Parameters start as
    /// `RecommendationNetwork(workload:layout: plan.networkLayout, seed:)` would start them.
    public init(workload: Workload, plan: DistributedPlan, seed: UInt64, threads: Int = 1, world: Communicator) throws(DistributedError) {
        guard world.size == plan.ranks else { throw .plan("the plan is for \(plan.ranks) ranks but MPI started \(world.size); launch with -np \(plan.ranks)") }
        self.plan = plan
        self.world = world
        let rank = world.rank
        self.rank = rank
        let domain = plan.domain(ofRank: rank), localRank = plan.localRank(ofRank: rank)
        // Both splits are collective over the world; every rank makes them in this order.
        let peers: Communicator?
        do throws(MPIError) {
            domainGroup = plan.domains == 1 ? world : try world.split(color: domain, key: localRank)
            peers = plan.domains == 1 ? nil : try world.split(color: localRank, key: domain)
        } catch { throw .mpi(error) }
        guard case .recommendation(let model) = workload.model else { throw .model(.notRecommendation(workload.name)) }
        var standIn = workload, oneRowTables = model
        oneRowTables.features = model.features.map { feature in
            var oneRow = feature
            oneRow.rows = 1
            oneRow.hashSize = nil
            return oneRow
        }
        standIn.model = .recommendation(oneRowTables)
        do throws(RecommendationNetworkError) {
            replica = try RecommendationNetwork(workload: standIn, layout: plan.networkLayout, seed: seed, threads: threads)
        } catch { throw .model(error) }
        let tower = plan.towerFeatures[domain]
        lookup = TableWiseLookup(
            group: domainGroup, features: tower, owner: { plan.localRank(ofRank: plan.ownerOfFeature[$0]) }, model: model,
            optimizer: workload.training.sparseOptimizer, seed: seed, threads: replica.threads, clock: clock)
        module = replica.towerModules[domain]
        let isTower = { (name: String) in name.hasPrefix("tower.") }
        let mine = { (name: String) in name.hasPrefix("tower.\(domain).") }
        let parameters = replica.optimizer.parameters
        optimizer = DenseParameterOptimizer(replica.optimizer.rule, parameters: parameters.filter { !isTower($0.name) || mine($0.name) })
        replicated = GradientBucket(parameters.filter { !isTower($0.name) })
        towerParameters = module.parameters.isEmpty ? nil : GradientBucket(parameters.filter { mine($0.name) })
        reportedParameters = Set(parameters.map(\.name).filter { (rank == 0 && !isTower($0)) || (localRank == 0 && mine($0)) })
        let widths = replica.towerModules.map(\.outputWidth), clock = clock
        peerExchange = peers.map { PeerExchange(peers: $0, towerFeatures: plan.towerFeatures, outputWidths: widths, clock: clock) }
    }

    /// One training step on this rank's `batch` (every rank passes B samples, its slice of the
    /// global batch). Collective over the world. Returns the global batch's mean loss before the
    /// update and this rank's logits.
    public func trainStep(_ batch: SampleBatch) throws(DistributedError) -> (loss: Float, logits: [Float]) {
        let logits = try forward(batch)
        let globalCount = batch.count * plan.ranks

        // The loss, scaled to the global batch's mean.
        logitGradient.resize(rows: batch.count)
        let localLoss = clock.measure(.denseForward) {
            let mean = batch.labels.withUnsafeBufferPointer { labels in
                BinaryCrossEntropy.meanLoss(logits: logits.pointer, labels: labels.baseAddress!, count: batch.count, gradient: logitGradient.pointer)
            }
            for index in 0 ..< batch.count { logitGradient.pointer[index] /= Float(plan.ranks) }
            return mean * Float(batch.count)
        }
        let towerGradients = clock.measure(.denseBackward) { replica.dataParallelBackward(logitGradient) }

        // Backward through the tower and the tables.
        let towerGradient = try peerExchange?.gradients(towerGradients) ?? towerGradients[0]
        let pooledGradient = clock.measure(.towerBackward) { module.backward(towerGradient) }
        step += 1
        try lookup.backward(pooledGradient, step: step)
        if let towerParameters {
            _ = try clock.collective(.towerAllReduce) { () throws(MPIError) in try towerParameters.allReduce(over: domainGroup) }
        }
        let lossSum = try clock.collective(.denseAllReduce) { () throws(MPIError) in try replicated.allReduce(over: world, extra: [localLoss]) }
        clock.measure(.denseOptimizer) { optimizer.apply(step: step) }
        return (lossSum[0] / Float(globalCount), logits.values)
    }

    /// P(label = 1) of each of this rank's `batch` samples under the current model: the forward
    /// half of a step, nothing updated. Collective over the world, like `trainStep` (every rank
    /// passes a batch of the same size). Its time adds to the forward phases' clocks.
    public func predict(_ batch: SampleBatch) throws(DistributedError) -> [Float] {
        try forward(batch).values.map(BinaryCrossEntropy.sigmoid)
    }

    /// The logits of this rank's `batch`: ids to the towers, lookup inside the domain, tower
    /// module, outputs back, then the data-parallel over-arch. Throws on a batch of the wrong
    /// shape before any collective.
    private func forward(_ batch: SampleBatch) throws(DistributedError) -> Matrix {
        let features = plan.towerFeatures.reduce(0) { $0 + $1.count }
        guard batch.count >= 1, batch.sparse.count == features, batch.denseWidth == replica.denseFeatures else {
            throw .batch("rank \(rank) got \(batch.count) samples with \(batch.sparse.count) sparse and \(batch.denseWidth) dense features; the model needs at least one sample, \(features) sparse and \(replica.denseFeatures) dense")
        }
        let towerBatch = try peerExchange?.ids(of: batch) ?? (columns: batch.sparse, count: batch.count)
        let pooled = try lookup.forward(columns: towerBatch.columns, count: towerBatch.count)
        let towerOutput = clock.measure(.towerForward) { module.forward(pooled) }
        let towerOutputs = try peerExchange?.outputs(towerOutput) ?? [towerOutput]
        return clock.measure(.denseForward) { replica.dataParallelForward(count: batch.count, dense: batch.dense) { towerOutputs[$0] } }
    }

    /// The whole model's training state on world rank 0, named and encoded as
    /// `RecommendationNetwork.exportState` does it (so it restores into the single-process model
    /// of `plan.networkLayout`); `[:]` on the other ranks. Collective: each rank sends the tables
    /// it owns, each domain's local rank 0 its tower module, rank 0 the data-parallel part.
    /// Cost: the whole state through rank 0's memory once.
    public func exportState() throws(DistributedError) -> [String: [Float]] {
        var part: [String: [Float]] = [:]
        for (name, matrix) in lookup.tables.tensors { part["embedding.\(name)"] = matrix.values }
        for parameter in optimizer.parameters where reportedParameters.contains(parameter.name) { part[parameter.name] = parameter.value.values }
        for (name, matrix) in optimizer.tensors where reportedParameters.contains(where: { name.hasPrefix("\($0).") }) {
            part["optimizer.\(name)"] = matrix.values
        }
        if rank == 0 {
            // RecommendationNetwork's step encoding: [⌊step / 2²⁴⌋, step mod 2²⁴], exact in Float.
            part["step"] = [Float(step >> 24), Float(step & 0xFF_FFFF)]
        }
        let parts: [[UInt8]]
        do throws(MPIError) { parts = try world.gather(StateCoding.encode(part), root: 0) } catch { throw .mpi(error) }
        return parts.reduce(into: [:]) { state, bytes in state.merge(StateCoding.decode(bytes)) { first, _ in first } }
    }
}
