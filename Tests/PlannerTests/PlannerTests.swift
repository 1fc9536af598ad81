import Foundation
import Partitioning
import Simulation
import Testing
import Topology
import Workload

@testable import Planner

/// The search: what it enumerates, how it ranks, what it rejects and why, and that its numbers are
/// the simulator's.
@Suite struct PlannerTests {
    @Test func enumeratesLevelsCountsRatiosAndShardings() throws {
        let problem = try PlannerFixtures.problem()
        #expect(GridEnumerator.towerLevels(of: problem.cluster).map(\.level.name) == ["rack", "host"])
        let layouts = try GridEnumerator(strategies: [.tp]).enumerate(problem)
        let towers = layouts.compactMap(\.towers)
        #expect(layouts.prefix(4).map(\.description) == ["flat, tw", "flat, rw", "flat, cw", "flat, twrw"])
        // 8 hosts: 8, 4, 2 towers; 4 racks: 4, 2. Ratios up to the workload's own 4: 1, 2, 4.
        #expect(Set(towers.filter { $0.level == "host" }.map(\.towers)) == [8, 4, 2])
        #expect(Set(towers.filter { $0.level == "rack" }.map(\.towers)) == [4, 2])
        #expect(Set(towers.compactMap(\.compression)) == [1, 2, 4])
        #expect(towers.count == (3 + 2) * 3 * 2)
        // Higher ratios only when a guard can check them.
        let guarded = try GridEnumerator(allowHigherCompression: true, strategies: [.tp]).enumerate(problem)
        #expect(Set(guarded.compactMap { $0.towers?.compression }) == Set(GridEnumerator.defaultCompressions))
    }

    @Test func refusesWhatItCannotSearch() throws {
        var problem = try PlannerFixtures.problem()
        problem.affinity = nil
        #expect(throws: PlannerError.self) { try GridEnumerator(strategies: [.tp]).enumerate(problem) }
        #expect(throws: PlannerError.self) { try GridEnumerator(strategies: [.manual]).enumerate(problem) }
        #expect(throws: PlannerError.self) { try GridEnumerator(levels: ["pod"]).enumerate(problem) }
    }

    @Test func ranksFeasiblePlansByStepTimeWithReasons() throws {
        let problem = try PlannerFixtures.problem()
        let result = try Planner(enumerator: PlannerFixtures.search, threads: 2).plan(problem)
        let best = try #require(result.best)
        let baseline = try #require(result.baseline)
        #expect(result.ranking.first?.outcome == .best)
        #expect(result.speedup == baseline.stepSeconds! / best.stepSeconds!)
        // No feasible tower plan is faster than the best; flat ones may not be faster than the baseline.
        for ranked in result.ranking where ranked.evaluation.isFeasible {
            if ranked.evaluation.layout.towers != nil { #expect(ranked.evaluation.stepSeconds! >= best.stepSeconds!) }
            if case .flat = ranked.evaluation.layout { #expect(ranked.evaluation.stepSeconds! >= baseline.stepSeconds!) }
        }
        // Every loser says why, with a number when it is slower.
        for ranked in result.ranking.dropFirst() {
            #expect(!ranked.reason.isEmpty)
            if case .slower(let fraction) = ranked.outcome, ranked.evaluation.layout.towers != nil {
                #expect(fraction >= 0)
                #expect(ranked.reason.hasPrefix("slower by "))
            }
        }
        #expect(result.counts.candidates == result.ranking.count)
        // Partitions are shared by every ratio and sharding of one level, tower count and strategy.
        #expect(result.counts.partitions == (2 + 2) * 2)
    }

    @Test func searchIsDeterministic() throws {
        let problem = try PlannerFixtures.problem()
        let first = try Planner(enumerator: PlannerFixtures.search, threads: 2).plan(problem)
        let second = try Planner(enumerator: PlannerFixtures.search, threads: 1).plan(problem)
        #expect(first.ranking.map(\.evaluation.layout) == second.ranking.map(\.evaluation.layout))
        #expect(first.ranking.map(\.evaluation.stepSeconds) == second.ranking.map(\.evaluation.stepSeconds))
        #expect(first.best?.partition?.resolved == second.best?.partition?.resolved)
    }

    @Test func rejectsWhatBreaksTheBalanceBound() throws {
        var problem = try PlannerFixtures.problem()
        problem.epsilon = 0
        let result = try Planner(enumerator: GridEnumerator(flatShardings: [.tableWise], levels: ["host"], towerCounts: [8], compressions: [4], strategies: [.tp])).plan(problem)
        let rejected = result.ranking.filter { if case .rejected(.imbalance) = $0.outcome { true } else { false } }
        #expect(!rejected.isEmpty)
        #expect(rejected.allSatisfy { $0.reason.hasPrefix("imbalance bound: ") && $0.evaluation.step == nil })
    }

    @Test func rejectsWhatDoesNotFitInMemory() throws {
        var problem = try PlannerFixtures.problem()
        // 2 towers on 2 racks of 16 GPUs fit; squeeze the tables so that one rack cannot hold half.
        guard var model = problem.workload.recommendation else { return }
        model.features = model.features.map { feature in
            var larger = feature
            larger.rows = 2_000_000_000
            return larger
        }
        problem.workload.model = .recommendation(model)
        let result = try Planner(enumerator: GridEnumerator(flatShardings: [.tableWise], levels: ["rack"], towerCounts: [2], compressions: [4], strategies: [.greedy])).plan(problem)
        #expect(result.best == nil)
        #expect(result.ranking.allSatisfy { if case .rejected(.overMemory) = $0.outcome { true } else { false } })
        #expect(result.notes.contains { $0.contains("no DMT candidate") })
    }

    /// A guard that fails every partition but the second one it is asked about.
    struct RejectFirst: QualityGuard {
        let tolerance = 0.01
        let calls = Calls()

        final class Calls: @unchecked Sendable {
            private let lock = NSLock()
            private var count = 0
            func next() -> Int { lock.withLock { count += 1; return count } }
        }

        func baselineAUC() throws -> Double { 0.80 }
        func auc(towers partition: ResolvedPartition, compression: Double?) throws -> Double { calls.next() == 1 ? 0.70 : 0.795 }
    }

    @Test func aucGuardRejectsAndMovesOn() throws {
        let problem = try PlannerFixtures.problem()
        let unguarded = try Planner(enumerator: PlannerFixtures.search).plan(problem)
        let guarded = try Planner(enumerator: PlannerFixtures.search, qualityGuard: RejectFirst()).plan(problem)
        let rejected = guarded.ranking.filter { if case .rejected(.aucGuard) = $0.outcome { true } else { false } }
        // The unguarded winner was asked first and failed; so did every candidate offered before
        // the next distinct partition (they share its partition and ratio, so the answer is reused).
        #expect(rejected.contains { $0.evaluation.layout == unguarded.best?.layout })
        #expect(rejected.allSatisfy { $0.reason.hasPrefix("AUC guard: short-training AUC 0.7000") })
        #expect(guarded.best?.auc == 0.795)
        #expect(guarded.best?.layout != unguarded.best?.layout)
        #expect(guarded.counts.aucChecks == 3)  // flat, the rejected partition, the accepted one
    }

    @Test func proposerOffersOnlySimulatedCandidates() {
        let fast = PlanEvaluation(layout: .flat(.tableWise), partition: nil, step: nil)
        #expect(FastestFirstProposer().order([fast]).isEmpty)  // nothing simulated, nothing to offer
    }

    @Test func reportedStepsAreWhatSimulateComputesFromTheWrittenFiles() throws {
        let problem = try PlannerFixtures.problem()
        var search = PlannerFixtures.search
        search.compressions = [2]  // differs from the file's 4, so a workload file is written too
        let result = try Planner(enumerator: search).plan(problem)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("planner-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The cluster file must describe the cluster planned on: write the 64-GPU variant's spec.
        let files = try PlanFiles.write(
            result, problem: problem, workloadPath: PlannerFixtures.workloadPath, topologyPath: "grand-teton@64", folder: folder, flatSharding: .tableWise)
        let best = try #require(result.best)
        let configuration = try #require(best.layout.towers)
        #expect(files.towersWorkload.hasSuffix("prod-128-c2.xml"))
        #expect(files.towersCommand?.contains("--partition \(folder)/partition.json") == true)

        // What `towerplan simulate --layout sptt --partition … --tower-domain … --intra-domain …` does.
        let model = try WorkloadLoader.load(path: files.towersWorkload)
        let partition = try PartitionFile.read(path: try #require(files.partition)).resolve(against: model)
        var layout = SPTTLayout(towerLevel: configuration.level, intraDomain: configuration.intraDomain)
        layout.assignment = try TowerAssignment(towerOfFeature: partition.towerOfFeature, towerCount: partition.towerCount)
        layout.domainOfTower = partition.domainOfTower
        let simulated = try StepModel(communication: AggregatedCommunicationModel.best(for: problem.cluster)).simulate(
            layout.plan(workload: model, cluster: problem.cluster))
        #expect(simulated.stepSeconds == best.stepSeconds)
        #expect(simulated.phases == best.step?.phases)

        let flat = try StepModel(communication: AggregatedCommunicationModel.best(for: problem.cluster)).simulate(
            FlatLayout(sharding: .tableWise).plan(workload: try PlannerFixtures.workload(), cluster: problem.cluster))
        let baseline = try #require(result.baseline)
        if case .flat(.tableWise) = baseline.layout { #expect(flat.stepSeconds == baseline.stepSeconds) }
    }

    @Test func scalingStudyReproducesThePlanAtItsOwnSize() throws {
        let problem = try PlannerFixtures.problem()
        let result = try Planner(enumerator: PlannerFixtures.search).plan(problem)
        let spec = try ClusterLoader.loadSpec(path: PlannerFixtures.grandTetonPath)
        var small = problem
        small.cluster = try ClusterScaling.scaled(spec, gpus: 64)
        let points = ScalingStudy.run(
            spec: spec, problem: small, flat: .tableWise, towers: result.best?.layout.towers, gpus: [32, 64, 128], threads: 2)
        #expect(points.map(\.gpus) == [32, 64, 128])
        #expect(points[1].towers?.stepSeconds == result.best?.stepSeconds)
        #expect(points[1].towerCount == result.best?.layout.towers?.towers)
        // Towers scale with the domains: twice the hosts, twice the towers.
        #expect(points[2].towerCount == 2 * (result.best?.layout.towers?.towers ?? 0) || points[2].towerCount == problem.workload.features.count)
        #expect(points.allSatisfy { $0.flat != nil })
    }
}
