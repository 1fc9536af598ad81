import Foundation
import Simulation
import Testing
import Topology
import Workload
@testable import Distributed

/// `train --predict`'s simulation of a run: on the cluster file `calibrate` writes, with the run's
/// own placement, every simulator stage summed into the trainer phase that measures it.
@Suite struct StepPredictionTests {
    static let measurement = CalibrationMeasurement(
        ranks: 4, ranksPerHost: 2, kernels: "test", gemmFlopsPerSecond: 50e9, streamBytesPerSecond: 5e9, interactionFlopsPerSecond: 10e9,
        gatherBytesPerSecond: 2e9, scatterBytesPerSecond: 1e9,
        memoryBytesPerRank: 4e9, sharedCores: nil, intraHost: .init(bandwidthBytesPerSecond: 4e9, latencySeconds: 20e-6),
        interHost: .init(bandwidthBytesPerSecond: 1.25e8, latencySeconds: 100e-6))

    static func calibratedCluster() throws -> Cluster {
        try ClusterLoader.load(data: Data(measurement.topologyXML(name: "calibrated").utf8), name: "calibrated.xml")
    }

    @Test(arguments: ["flat", "sptt"])
    func everyPhaseOfTheRunIsPredicted(_ layout: String) throws {
        let workload = DistributedPlanTests.workload
        let plan = try DistributedPlan(
            workload: workload, layout: layout == "flat" ? .flat : .sptt(ranksPerDomain: 2, towers: [[5, 0, 1], [2, 3, 4]]), ranks: 4)
        let prediction = try StepPrediction(workload: workload, plan: plan, batchPerRank: 64, cluster: Self.calibratedCluster())
        var expected: Set<StepPhase> = [.idsAllToAll, .lookup, .pooledAllToAll, .denseForward, .denseBackward, .embeddingGradientsAllToAll,
                                         .embeddingUpdate, .denseAllReduce, .denseOptimizer]
        if layout == "sptt" { expected.formUnion([.idsPeerAllToAll, .towerOutputsPeerAllToAll, .towerGradientsPeerAllToAll]) }
        #expect(Set(prediction.phaseSeconds.keys) == expected)
        #expect(prediction.phaseSeconds.values.allSatisfy { $0 > 0 })
        // One stream per rank: the step is at least the sum of the phases (collectives also wait).
        #expect(prediction.stepSeconds >= prediction.phaseSeconds.values.reduce(0, +) * (1 - 1e-12))
        // The simulated tables sit where the run puts them.
        #expect(prediction.step.tasks.contains { $0.name == "embedding lookup" })
    }

    /// Calibrated on one machine, the cluster says how many cores its ranks share, and the
    /// prediction shares them: four ranks on two cores take longer than on four.
    @Test(arguments: ["flat", "sptt"])
    func ranksOnSharedCoresArePredictedSharingThem(_ layout: String) throws {
        let workload = DistributedPlanTests.workload
        let plan = try DistributedPlan(
            workload: workload, layout: layout == "flat" ? .flat : .sptt(ranksPerDomain: 2, towers: [[5, 0, 1], [2, 3, 4]]), ranks: 4)
        var measurement = Self.measurement
        func predicted(sharedCores: Int?) throws -> StepPrediction {
            measurement.sharedCores = sharedCores
            let cluster = try ClusterLoader.load(data: Data(measurement.topologyXML(name: "calibrated").utf8), name: "calibrated.xml")
            #expect(cluster.sharedCores == sharedCores)
            return try StepPrediction(workload: workload, plan: plan, batchPerRank: 64, cluster: cluster)
        }
        let apart = try predicted(sharedCores: nil), shared = try predicted(sharedCores: 2)
        #expect(shared.stepSeconds > apart.stepSeconds)
        #expect(shared.phaseSeconds[.denseForward]! > apart.phaseSeconds[.denseForward]!)
        #expect(try predicted(sharedCores: 8).stepSeconds == apart.stepSeconds)
    }

    @Test func calibrationTimesTheRunsOwnShapes() throws {
        let workload = try WorkloadLoader.load(path: "workloads/synthetic-planted.xml")
        let model = try #require(workload.recommendation)
        let kernels = try CalibrationKernels(workload: workload, batch: 32, ranks: 4, ranksPerHost: 2)
        // The flat over-arch on the rank's batch; the dot tower module of a tower of ⌈40 / 2⌉
        // features on the B·H samples its rank serves; the SPTT over-arch on two towers' outputs
        // (2 × 40 values = 5 vectors of 16) and the bottom MLP's output.
        let towerInput = InteractionInput(embeddings: 5, dimension: 16, denseWidth: 16)
        #expect(kernels.interactions == [
            .init(.overArch(.dot, model.interactionInput), batch: 32),
            .init(.towerModule(model.towerModule, features: 20, dimension: 16), batch: 64),
            .init(.overArch(.dot, towerInput), batch: 32),
        ])
        // Counted as the simulator counts them: forward + backward FLOPs, all interaction FLOPs.
        let tower = kernels.interactions[1].work
        #expect(tower.flops == 0)
        #expect(tower.interactionFlops
            == model.towerModule.forwardFLOPs(features: 20, dimension: 16, batch: 64) + model.towerModule.backwardFLOPs(features: 20, dimension: 16, batch: 64))
        // One host: no towers to time.
        #expect(try CalibrationKernels(workload: workload, batch: 32, ranks: 2, ranksPerHost: 2).interactions.count == 1)
        // Every table is timed once, by the rank the flat layout puts it on, on the global batch.
        let shares = try #require(kernels.tablesOfRank)
        #expect(shares.count == 4 && shares.joined().sorted() == Array(0 ..< 40) && shares.allSatisfy { !$0.isEmpty })
        #expect(kernels.tableSamples == 128)
        #expect(Calibration.interactionRate(kernels, streamBytesPerSecond: 1e10, seed: 1) > 0)
        var none = kernels
        none.interactions = []
        #expect(Calibration.interactionRate(none, streamBytesPerSecond: 1e10, seed: 1) == 0)
    }

    @Test func aClusterOfAnotherShapeIsRejected() throws {
        let plan = try DistributedPlan(workload: DistributedPlanTests.workload, layout: .sptt(ranksPerDomain: 1, towers: [[0, 1], [2, 3], [4], [5]]), ranks: 4)
        #expect(throws: SimulationError.self) {
            try StepPrediction(workload: DistributedPlanTests.workload, plan: plan, batchPerRank: 8, cluster: Self.calibratedCluster())
        }
        let three = try DistributedPlan(workload: DistributedPlanTests.workload, layout: .flat, ranks: 3)
        #expect(throws: SimulationError.self) {
            try StepPrediction(workload: DistributedPlanTests.workload, plan: three, batchPerRank: 8, cluster: Self.calibratedCluster())
        }
    }

    @Test func simulatorStagesMapOntoTheTrainersPhases() {
        #expect(StepPhase(simulatorStage: "input dist: ids all-to-all in host") == .idsAllToAll)
        // Buffer copies: the gradient buckets' inside the all-reduce the trainer times, the others in no phase.
        #expect(StepPhase(simulatorStage: "dense gradient all-reduce: packing") == .denseAllReduce)
        #expect(StepPhase(simulatorStage: "tower module gradient all-reduce in host: unpacking") == .towerAllReduce)
        #expect(StepPhase(simulatorStage: "input dist: ids all-to-all in host: unpacking") == nil)
        #expect(StepPhase(simulatorStage: "output dist: pooled embeddings all-to-all: unpacking") == nil)
        #expect(StepPhase(simulatorStage: "input dist: ids all-to-all") == .idsAllToAll)
        #expect(StepPhase(simulatorStage: "tower module gradient all-reduce in rack") == .towerAllReduce)
        #expect(StepPhase(simulatorStage: "bottom MLP forward") == .denseForward)
        #expect(StepPhase(simulatorStage: "interaction + top MLP backward") == .denseBackward)
        #expect(StepPhase(simulatorStage: "dense optimizer") == .denseOptimizer)
        #expect(StepPhase(simulatorStage: "pooled partial sums reduce-scatter in host") == nil)
    }
}
