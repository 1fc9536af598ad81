import Testing
import Topology
import Workload

@testable import Simulation

/// Roofline cases on a device with 100 TFLOP/s fp32 and 1 TB/s of memory bandwidth.
@Suite struct ComputeModelTests {
    static func device() throws -> AcceleratorModel {
        let cluster = try StepFixtures.cluster(hosts: 1, gpusPerHost: 1)
        return try #require(cluster.model(of: cluster.accelerators[0]))
    }

    @Test func arithmeticBoundWorkTakesFlopsOverEffectivePeak() throws {
        let model = ComputeModel(denseEfficiency: 0.5, memoryEfficiency: 0.8, gatherEfficiency: 0.5)
        let seconds = try model.seconds(ComputeWork(flops: 1e12, streamedBytes: 1e6), on: Self.device(), precision: .fp32)
        #expect(abs(seconds - 1e12 / 50e12) < 1e-15)
    }

    @Test func memoryBoundWorkTakesBytesOverEffectiveBandwidth() throws {
        let model = ComputeModel(denseEfficiency: 0.5, memoryEfficiency: 0.8, gatherEfficiency: 0.5)
        let seconds = try model.seconds(ComputeWork(flops: 1e6, streamedBytes: 1e9), on: Self.device(), precision: .fp32)
        #expect(abs(seconds - 1e9 / 0.8e12) < 1e-15)
    }

    @Test func gathersRunAtTheirOwnEfficiencyAndShareMemoryWithStreams() throws {
        let model = ComputeModel(denseEfficiency: 0.5, memoryEfficiency: 0.8, gatherEfficiency: 0.4)
        let device = try Self.device()
        let gather = try model.seconds(ComputeWork(gatheredBytes: 1e9), on: device, precision: .fp32)
        #expect(abs(gather - 1e9 / 0.4e12) < 1e-15)
        let both = try model.seconds(ComputeWork(streamedBytes: 1e9, gatheredBytes: 1e9), on: device, precision: .fp32)
        #expect(abs(both - (1e9 / 0.8e12 + 1e9 / 0.4e12)) < 1e-15)
        // Without a measured scatter bandwidth the backward's bytes cost what gathers cost.
        let scattered = try model.seconds(ComputeWork(gatheredBytes: 1e9, scatteredBytes: 1e9), on: device, precision: .fp32)
        #expect(abs(scattered - 2 * gather) < 1e-15)
    }

    @Test func interactionFlopsRunAtTheMeasuredRateOrLikeOtherFlops() throws {
        let model = ComputeModel(denseEfficiency: 0.5, memoryEfficiency: 0.8, gatherEfficiency: 0.5)
        var device = try Self.device()
        let work = ComputeWork(flops: 1e12, interactionFlops: 1e12)
        // Without a measured rate the interaction FLOPs are ordinary FLOPs: 2e12 at 50 TFLOP/s.
        #expect(abs(try model.seconds(work, on: device, precision: .fp32) - 2e12 / 50e12) < 1e-15)
        device.interactionFLOPS = 1e12  // measured, used as it is (no efficiency applies)
        #expect(abs(try model.seconds(work, on: device, precision: .fp32) - (1e12 / 50e12 + 1)) < 1e-12)
        #expect(try model.seconds(ComputeWork(interactionFlops: 1), on: device, precision: .fp32) > 0)
    }

    @Test func interactionsAndTowerModulesCountAsInteractionFlops() throws {
        let workload = try StepFixtures.workload(StepFixtures.uniform(4), towerModule: #"<tower-module kind="dot" compression="2"/>"#)
        let model = try #require(workload.recommendation)
        let dense = DenseArchitecture(model: model, interactionInput: model.interactionInput, computeFormat: .fp32)
        for direction in PassDirection.allCases {
            let over = dense.overArchWork(batch: 8, direction)
            let interaction = direction == .forward
                ? model.interaction.forwardFLOPs(model.interactionInput, batch: 8) : model.interaction.backwardFLOPs(model.interactionInput, batch: 8)
            #expect(over.interactionFlops == interaction && interaction > 0)
            #expect(over.flops == DenseArchitecture.work(dense.topMLP, batch: 8, valueBytes: 4, direction).flops)
            let module = SPTTLayout.moduleWork(model.towerModule, features: 4, dimension: 16, batch: 8, valueBytes: 4, direction)
            let moduleFlops = direction == .forward
                ? model.towerModule.forwardFLOPs(features: 4, dimension: 16, batch: 8) : model.towerModule.backwardFLOPs(features: 4, dimension: 16, batch: 8)
            #expect(module.interactionFlops == moduleFlops && module.flops == 0)
            #expect(dense.bottomWork(batch: 8, direction).interactionFlops == 0)
        }
    }

    @Test func aPrecisionTheDeviceLacksIsAnErrorOnlyWhenThereAreFlops() throws {
        let device = try Self.device()  // lists fp32 only; bf16 falls back to fp16, which it lacks too
        #expect(throws: SimulationError.self) { try ComputeModel().seconds(ComputeWork(flops: 1), on: device, precision: .bf16) }
        #expect(try ComputeModel().seconds(ComputeWork(gatheredBytes: 1e6), on: device, precision: .bf16) > 0)
        // tf32 falls back to the fp32 peak.
        #expect(try ComputeModel(denseEfficiency: 1).seconds(ComputeWork(flops: 1e14), on: device, precision: .tf32) == 1)
    }
}
