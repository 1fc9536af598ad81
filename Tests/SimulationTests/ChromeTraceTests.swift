import Foundation
import Testing
import Topology

@testable import Simulation

@Suite struct ChromeTraceTests {
    @Test func traceIsJSONWithATrackPerGPUOfInterest() throws {
        let cluster = try StepFixtures.cluster(hosts: 4, gpusPerHost: 2)
        var tables = StepFixtures.uniform(8)
        tables[3].pooling = 100
        let plan = try SPTTLayout().plan(workload: StepFixtures.workload(tables), cluster: cluster)
        let result = try StepFixtures.simulate(plan, on: cluster)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-trace-\(ProcessInfo.processInfo.processIdentifier).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ChromeTrace.write(result, to: path)

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        let events = try #require((object as? [String: Any])?["traceEvents"] as? [[String: Any]])
        let processes = Set(events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "process_name" }.compactMap { $0["pid"] as? Int })
        // Rank 0, the slowest GPU (first of the heavy tower's host), and one GPU per distinct tower load.
        #expect(processes.contains(0))
        #expect(processes.contains(Int(result.slowestRank)))
        #expect(processes == Set(result.tracks.map { Int($0.rank) }))
        #expect(Set(plan.ranksOfInterest.map(\.rank)).isSubset(of: Set(result.tracks.map(\.rank))))
        let slices = events.filter { $0["ph"] as? String == "X" }
        #expect(!slices.isEmpty)
        for slice in slices {
            #expect(slice["name"] is String)
            #expect((slice["ts"] as? Double).map { $0 >= 0 } == true)
            #expect((slice["dur"] as? Double).map { $0 > 0 } == true)
            #expect([ChromeTrace.computeThread, ChromeTrace.communicationThread].contains(slice["tid"] as? Int ?? -1))
        }
        let lookups = slices.filter { $0["name"] as? String == "embedding lookup" }.compactMap { $0["pid"] as? Int }
        #expect(Set(lookups) == processes)
        // The last slice ends with the step.
        let end = slices.map { ($0["ts"] as! Double) + ($0["dur"] as! Double) }.max()!
        #expect(abs(end - result.stepSeconds * 1e6) < 1e-6 * end)
        // Deterministic bytes.
        #expect(try ChromeTrace.data(for: result) == ChromeTrace.data(for: StepFixtures.simulate(plan, on: cluster)))
    }
}
