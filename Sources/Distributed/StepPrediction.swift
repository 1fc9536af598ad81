import Simulation
import Topology
import Workload

/// The simulator's forecast of one step of a distributed run, in the trainer's own phases, so that
/// `train --predict` can set measured and predicted times side by side.
///
/// The simulated step is the run as it is: the same tables on the same ranks (`DistributedPlan`'s
/// table-wise placement, flat over all ranks or inside each tower's domain), the same towers on
/// the same domains, the same per-rank batch, the same bytes on the wire (ids with their
/// per-sample lengths, `SparseFeature.idLengthBytes`), the same copies through buffers around the
/// collectives (`StepPlan.chargesBufferCopies`); the ranks' one thread per step, whose blocking
/// collectives stop the computing, is `StepModel`'s serialized mode (sharing the cores when the
/// calibrated cluster says the ranks shared fewer, `Cluster.sharedCores`), and a CPU layer's passes over
/// memory add to its GEMM time (`ComputeModel.overlapsArithmeticWithMemory` false). Efficiencies
/// are 1: a calibrated cluster's peaks are measured rates (`CalibrationMeasurement`).
public struct StepPrediction: Sendable {
    /// The simulated step.
    public let step: StepResult
    /// Predicted seconds per trainer phase (the simulator's stages summed into the phase that
    /// measures them; phases the simulator has no stage for are absent).
    public let phaseSeconds: [StepPhase: Double]
    /// The cores the simulated ranks time-shared (the cluster's `sharedCores`); nil when each had its own.
    public let sharedCores: Int?

    public var stepSeconds: Double { step.stepSeconds }

    /// Simulates `plan` for `workload` at `batchPerRank` samples per rank on `cluster`, which must
    /// have one accelerator per rank, grouped into domains of the plan's ranks per domain.
    public init(workload: Workload, plan: DistributedPlan, batchPerRank: Int, cluster: Cluster) throws {
        guard cluster.accelerators.count == plan.ranks else {
            throw SimulationError(
                "cluster \(cluster.name) has \(cluster.accelerators.count) accelerators, the run \(plan.ranks) ranks: calibrate for this run (towerplan calibrate --ranks \(plan.ranks) --ranks-per-host \(plan.ranksPerDomain))")
        }
        var sized = workload
        sized.training.batchPerGPU = batchPerRank
        // The ranks send each sample's id count per feature with the ids (`IdRouting`).
        let lengths = Double(SparseFeature.idLengthBytes)
        let stepPlan: StepPlan
        switch plan.layout {
        case .flat:
            var flat = FlatLayout(sharding: .tableWise, tableOwners: plan.ownerOfFeature, idLengthBytes: lengths)
            flat.chargesBufferCopies = true
            stepPlan = try flat.plan(workload: sized, cluster: cluster)
        case .sptt:
            var towerOfFeature = [Int](repeating: 0, count: workload.features.count)
            for (tower, features) in plan.towerFeatures.enumerated() { for feature in features { towerOfFeature[feature] = tower } }
            var sptt = SPTTLayout(towerCount: plan.domains, intraDomain: .tableWise, domainOfTower: Array(0 ..< plan.domains), tableOwners: plan.ownerOfFeature)
            sptt.idLengthBytes = lengths
            sptt.chargesBufferCopies = true
            sptt.assignment = try TowerAssignment(towerOfFeature: towerOfFeature, towerCount: plan.domains)
            let grid = try DomainGrid(cluster: cluster, level: DomainGrid.innermostLevel(of: cluster))
            guard grid.width == plan.ranksPerDomain else {
                throw SimulationError(
                    "cluster \(cluster.name) has \(grid.width) accelerators per \(grid.level.name), the run \(plan.ranksPerDomain) ranks per host: calibrate with --ranks-per-host \(plan.ranksPerDomain)")
            }
            stepPlan = try sptt.plan(workload: sized, cluster: cluster)
        }
        let compute = ComputeModel(denseEfficiency: 1, memoryEfficiency: 1, gatherEfficiency: 1, overlapsArithmeticWithMemory: false)
        let model = StepModel(
            communication: AggregatedCommunicationModel.best(for: cluster), compute: compute, overlapInputDistribution: false, serialized: true)
        step = try model.simulate(stepPlan)
        sharedCores = cluster.sharedCores
        var phases: [StepPhase: Double] = [:]
        for stage in step.phases {
            guard let phase = StepPhase(simulatorStage: stage.name) else { continue }
            phases[phase, default: 0] += stage.seconds
        }
        phaseSeconds = phases
    }
}

extension StepPhase {
    /// The phase that measures the simulator's stage `name` (a `StepPlan` task): the same name once
    /// a domain suffix (" in host") is dropped, except that the simulator splits the dense forward
    /// and backward into bottom-MLP and over-arch stages, which the trainer times as one each.
    /// Nil for stages the trainer does not have.
    public init?(simulatorStage name: String) {
        // The buffer copies around a collective (`StepPlan.chargesBufferCopies`): the trainer's
        // gradient buckets copy inside the all-reduce it times; its other copies run between the
        // phases it times, in no phase.
        for suffix in [": packing", ": unpacking"] where name.hasSuffix(suffix) {
            guard let phase = StepPhase(simulatorStage: String(name.dropLast(suffix.count))), [.denseAllReduce, .towerAllReduce].contains(phase) else {
                return nil
            }
            self = phase
            return
        }
        switch name {
        case "bottom MLP forward", "interaction + top MLP forward": self = .denseForward
        case "interaction + top MLP backward", "bottom MLP backward": self = .denseBackward
        default:
            let unsuffixed = name.range(of: " in ", options: .backwards).map { String(name[..<$0.lowerBound]) } ?? name
            guard let phase = StepPhase(rawValue: unsuffixed) ?? StepPhase(rawValue: name) else { return nil }
            self = phase
        }
    }
}
