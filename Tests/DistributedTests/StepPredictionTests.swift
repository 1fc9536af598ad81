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
        ranks: 4, ranksPerHost: 2, kernels: "test", gemmFlopsPerSecond: 50e9, streamBytesPerSecond: 5e9, gatherBytesPerSecond: 2e9,
        memoryBytesPerRank: 4e9, intraHost: .init(bandwidthBytesPerSecond: 4e9, latencySeconds: 20e-6),
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
        #expect(StepPhase(simulatorStage: "input dist: ids all-to-all") == .idsAllToAll)
        #expect(StepPhase(simulatorStage: "tower module gradient all-reduce in rack") == .towerAllReduce)
        #expect(StepPhase(simulatorStage: "bottom MLP forward") == .denseForward)
        #expect(StepPhase(simulatorStage: "interaction + top MLP backward") == .denseBackward)
        #expect(StepPhase(simulatorStage: "dense optimizer") == .denseOptimizer)
        #expect(StepPhase(simulatorStage: "pooled partial sums reduce-scatter in host") == nil)
    }
}
