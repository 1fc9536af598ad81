import Foundation
import Testing
import TestSupport
import Training
import Workload
@testable import Distributed

/// The MPI jobs, first the acceptance test of distributed training (issue 5): 4 ranks take the
/// same steps as one process training `RecommendationNetwork` on the global batch — logits,
/// losses, and every parameter and optimizer state after the last step — flat, SPTT with
/// identity and with compressing tower modules, and SPTT across emulated hosts. Then the
/// collectives, a rank that dies, a plan that does not fit, and emulated hosts' clean-up.
///
/// How: a test writes a small workload, starts `mpirun -np 4 towerplan-mpi-worker` (built with
/// the tests, found next to the test binary) through `MPILauncher`, reads the JSON report rank 0
/// writes, and replays the same global batches in process. A job takes about a second.
/// Serialized: one job at a time (4 ranks on few cores), and at most one `EmulatedHosts` per process.
@Suite(.serialized, .enabled(if: MPIJob.mpirun != nil, "mpirun is not installed (apt install openmpi-bin libopenmpi-dev); the MPI tests cannot run"))
struct MPIJobTests {
    static let ranks = 4, batchPerRank = 4, steps = 3, seed: UInt64 = 11

    /// One case: the worker's layout flags, the tower module, and the single-process layout that
    /// computes the same model.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var workerArguments: [String]
        var towerModule: String
        var reference: RecommendationNetwork.Layout
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "flat, 4 ranks", workerArguments: ["--layout", "flat"], towerModule: "", reference: .flat),
        // Identity towers of contiguous features in order: SPTT must compute what flat computes.
        Case(name: "SPTT identity, 2 domains × 2", workerArguments: ["--layout", "sptt", "--ranks-per-host", "2", "--towers", "0,1,2/3,4,5"],
             towerModule: "", reference: .flat),
        // Compressing tower modules (trained, all-reduced inside their domain) against the
        // single-process DMT network of the same towers, out of feature order.
        Case(name: "SPTT dot tower module, 2 domains × 2", workerArguments: ["--layout", "sptt", "--ranks-per-host", "2", "--towers", "4,0,2/1,5,3"],
             towerModule: #"<tower-module kind="dot" compression="2"/>"#, reference: .towers([[4, 0, 2], [1, 5, 3]])),
        Case(name: "SPTT identity, 4 domains × 1", workerArguments: ["--layout", "sptt", "--ranks-per-host", "1", "--towers", "0,1/2/3,4/5"],
             towerModule: "", reference: .flat),
    ]

    @Test(arguments: cases)
    func distributedStepsMatchSingleProcessSteps(_ testCase: Case) throws {
        try expectSingleProcessSteps(testCase, hosts: nil)
    }

    /// SPTT across 2 emulated hosts (own network namespaces, TCP over rate-limited veth links
    /// between them, shared memory inside): the same steps again, and nothing left behind.
    @Test(.enabled(if: MPIJob.canEmulateHosts, "emulated hosts need root, ip, tc and unshare"))
    func spttAcrossEmulatedHostsMatchesSingleProcessSteps() throws {
        let hosts = try EmulatedHosts(hosts: 2, ranksPerHost: 2, uplink: EmulatedHosts.Uplink(bitsPerSecond: 1e9))
        try expectSingleProcessSteps(Self.cases[2], hosts: hosts)
        hosts.tearDown()
        #expect(try MPIJob.leftovers(of: hosts).isEmpty)
    }

    /// Trains `testCase` on 4 ranks (on `hosts` when given) and compares with one process.
    private func expectSingleProcessSteps(_ testCase: Case, hosts: EmulatedHosts?) throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let workloadFile = directory.appendingPathComponent("workload.xml")
            try MPIJob.workloadXML(towerModule: testCase.towerModule).write(to: workloadFile, atomically: true, encoding: .utf8)
            let report = try MPIJob.train(
                ranks: Self.ranks, workload: workloadFile, in: directory, hosts: hosts,
                arguments: testCase.workerArguments + [
                    "--batch", "\(Self.batchPerRank)", "--steps", "\(Self.steps)", "--seed", "\(Self.seed)", "--record-logits", "--export-state",
                    "--eval-samples", "38",
                ])

            let workload = try WorkloadLoader.load(path: workloadFile.path)
            var source = try SyntheticDataset(workload: workload).training()
            let model = try RecommendationNetwork(workload: workload, layout: testCase.reference, seed: Self.seed)
            var logits: [[Float]] = [], losses: [Float] = []
            for _ in 0 ..< Self.steps {
                let batch = try #require(try source.next(size: Self.ranks * Self.batchPerRank))
                logits.append(model.logits(batch))
                losses.append(model.trainStep(batch))
            }

            let reportedLogits = try #require(report.logits)
            #expect(reportedLogits.count == Self.steps)
            for (step, (actual, expected)) in zip(reportedLogits, logits).enumerated() {
                expectClose(actual, expected, "logits of step \(step + 1)")
            }
            expectClose(report.losses, losses, "losses")
            let state = try #require(report.state)
            let expected = model.exportState()
            #expect(state.keys.sorted() == expected.keys.sorted())
            for (name, values) in expected { expectClose(state[name] ?? [], values, name) }
            #expect(report.phases.contains { $0.name == StepPhase.idsAllToAll.rawValue })

            // The final model on the first 36 held-out samples (38 rounded down to 4 ranks), in
            // chunks of at most B per rank: the single-process model's metrics on the same samples.
            let evaluation = try #require(report.evaluation)
            var heldOut = try SyntheticDataset(workload: workload).heldOut(samples: 36)
            var metrics = BinaryClassificationMetrics()
            while let batch = try heldOut.next(size: 16) { metrics.add(probabilities: model.predict(batch), labels: batch.labels) }
            let expectedMetrics = metrics.result
            #expect(evaluation.samples == 36 && expectedMetrics.samples == 36)
            #expect(abs(evaluation.logLoss - expectedMetrics.logLoss) <= 1e-5 * expectedMetrics.logLoss, "\(evaluation) against \(expectedMetrics)")
            #expect(evaluation.auc != nil && abs((evaluation.auc ?? 0) - (expectedMetrics.auc ?? 1)) <= 1e-9, "\(evaluation) against \(expectedMetrics)")
        }
    }

    /// A Criteo file: every rank reads it and keeps its slice of each global batch, so 4 ranks
    /// take the same steps as one process reading the file (held-out lines apart), and evaluate
    /// on the same held-out lines.
    @Test func criteoDataTrainsAsOneProcessReadsIt() throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let workloadFile = directory.appendingPathComponent("workload.xml"), dataFile = directory.appendingPathComponent("day.tsv")
            try MPIJob.workloadXML(towerModule: "", criteoShaped: true).write(to: workloadFile, atomically: true, encoding: .utf8)
            // 80 lines of random fields; with every 5th held out, 64 train (exactly 4 steps of 4 × 4) and 16 are held out.
            var generator = SeededGenerator(seed: 5)
            let lines = (0 ..< 80).map { _ in
                ([String(generator.next() % 2)] + (0 ..< 13).map { _ in String(generator.next() % 100) }
                    + (0 ..< 26).map { _ in String(format: "%08x", UInt32(truncatingIfNeeded: generator.next())) }).joined(separator: "\t")
            }
            try (lines.joined(separator: "\n") + "\n").write(to: dataFile, atomically: true, encoding: .utf8)
            let report = try MPIJob.train(
                ranks: Self.ranks, workload: workloadFile, in: directory,
                arguments: [
                    "--layout", "flat", "--batch", "\(Self.batchPerRank)", "--steps", "4", "--seed", "\(Self.seed)", "--record-logits",
                    "--data", "criteo:\(dataFile.path)", "--held-out-every", "5", "--eval-samples", "14",
                ])
            #expect(report.data == "criteo:\(dataFile.path)")

            let workload = try WorkloadLoader.load(path: workloadFile.path)
            let training = try CriteoTSVReader(workload: workload, split: .training(heldOutEvery: 5), path: dataFile.path)
            let model = try RecommendationNetwork(workload: workload, layout: .flat, seed: Self.seed)
            var logits: [[Float]] = [], losses: [Float] = []
            while let batch = try training.next(size: Self.ranks * Self.batchPerRank) {
                logits.append(model.logits(batch))
                losses.append(model.trainStep(batch))
            }
            #expect(losses.count == 4)
            for (step, (actual, expected)) in zip(try #require(report.logits), logits).enumerated() {
                expectClose(actual, expected, "logits of step \(step + 1)")
            }
            expectClose(report.losses, losses, "losses")
            // 14 held-out samples asked, 12 taken (3 per rank), in chunks of B = 4 per rank: all in one.
            let heldOut = try CriteoTSVReader(workload: workload, split: .heldOut(every: 5), path: dataFile.path)
            let batch = try #require(try heldOut.next(size: 12))
            var metrics = BinaryClassificationMetrics()
            metrics.add(probabilities: model.predict(batch), labels: batch.labels)
            let evaluation = try #require(report.evaluation), expected = metrics.result
            #expect(evaluation.samples == 12)
            #expect(abs(evaluation.logLoss - expected.logLoss) <= 1e-5 * expected.logLoss && evaluation.auc == expected.auc, "\(evaluation) against \(expected)")

            // Asking for more steps than the file holds stops the job with the step it ran out at.
            #expect {
                try MPIJob.train(
                    ranks: Self.ranks, workload: workloadFile, in: directory,
                    arguments: ["--layout", "flat", "--batch", "4", "--steps", "5", "--data", "criteo:\(dataFile.path)", "--held-out-every", "5"])
            } throws: { "\($0)".contains("ran out of training samples at step 5") }
        }
    }

    /// Two emulated hosts carry every collective, each rank runs on the host its domain says, and
    /// tearing down leaves no namespace, link or directory.
    @Test(.enabled(if: MPIJob.canEmulateHosts, "emulated hosts need root, ip, tc and unshare"))
    func emulatedHostsCarryEveryCollectiveAndLeaveNothingBehind() throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let hosts = try EmulatedHosts(hosts: 2, ranksPerHost: 2, uplink: EmulatedHosts.Uplink(bitsPerSecond: 1e8))
            var launcher = MPILauncher(mpirun: try #require(MPIJob.mpirun), ranks: 4)
            launcher.emulatedHosts = hosts
            let log = directory.appendingPathComponent("mpirun.log")
            try launcher.run(program: try MPIJob.worker(), arguments: ["check"], log: log, timeout: .seconds(60))
            let output = try String(contentsOf: log, encoding: .utf8)
            #expect(output.contains("every collective agrees on 4 ranks"))
            #expect(output.contains("hosts: h0 (ranks 0, 1); h1 (ranks 2, 3)"), "\(output)")
            #expect(try !MPIJob.leftovers(of: hosts).isEmpty)
            hosts.tearDown()
            #expect(try MPIJob.leftovers(of: hosts).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: hosts.directory.path))
        }
    }

    /// What a process killed before its tear-down left (a namespace with its veth pair, a bridge)
    /// is removed by the next emulation.
    @Test(.enabled(if: MPIJob.canEmulateHosts, "emulated hosts need root, ip, tc and unshare"))
    func leftoversOfADeadProcessAreRemoved() throws {
        let dead = try #require((4_000_000 ..< 4_100_000).lazy.map(Int32.init).first { kill($0, 0) != 0 && errno == ESRCH })
        let namespace = "tpe\(dead)h0", bridge = "tpb\(dead)"
        try MPIJob.shell("ip netns add \(namespace) && ip link add \(namespace) type veth peer name eth0 netns \(namespace) && ip link add \(bridge) type bridge")
        #expect(EmulatedHosts.ownerPID(namespace) == dead && EmulatedHosts.ownerPID("eth0") == nil)
        EmulatedHosts.removeLeftovers()
        let listing = try MPIJob.shell("ip netns list; ip -o link show")
        #expect(!listing.contains(namespace) && !listing.contains(bridge), "\(listing)")
    }

    /// Every collective of the wrapper (split, all-to-all(v) of Int32 and Float, all-reduce,
    /// broadcast, gather, barrier) returns what it should on 3 ranks — an odd count, so a split
    /// leaves one pair short.
    @Test func everyCollectiveAgreesAcrossRanks() throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let log = directory.appendingPathComponent("mpirun.log")
            try MPILauncher(mpirun: try #require(MPIJob.mpirun), ranks: 3).run(program: try MPIJob.worker(), arguments: ["check"], log: log, timeout: .seconds(60))
            #expect(try String(contentsOf: log, encoding: .utf8).contains("every collective agrees on 3 ranks"))
        }
    }

    /// A rank killed in the middle of a run (the others wait for it in a collective) ends the
    /// whole job within seconds, and the launcher says which rank.
    @Test func aRankThatDiesStopsEveryRank() throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let workloadFile = directory.appendingPathComponent("workload.xml")
            try MPIJob.workloadXML(towerModule: "").write(to: workloadFile, atomically: true, encoding: .utf8)
            let start = ContinuousClock.now
            #expect {
                _ = try MPIJob.train(
                    ranks: 4, workload: workloadFile, in: directory,
                    arguments: ["--layout", "flat", "--steps", "500", "--kill-rank-after-step", "2", "--kill-rank-after-step", "3"])
            } throws: { error in
                guard case LaunchError.failed(_, let log) = error else { return false }
                return log.contains("process rank 2") && log.contains("exited on signal 9")
            }
            #expect(ContinuousClock.now - start < .seconds(30))
        }
    }

    /// A layout that does not fit the ranks stops every rank with the reason, rather than hanging.
    @Test func aPlanThatDoesNotFitStopsTheJobWithItsReason() throws {
        try withScratchDirectory("towerplan-mpi") { directory in
            let workloadFile = directory.appendingPathComponent("workload.xml")
            try MPIJob.workloadXML(towerModule: "").write(to: workloadFile, atomically: true, encoding: .utf8)
            #expect {
                _ = try MPIJob.train(ranks: 4, workload: workloadFile, in: directory, arguments: ["--layout", "sptt", "--ranks-per-host", "2", "--towers", "0,1,2,3,4,5"])
            } throws: { error in
                guard case LaunchError.failed(_, let log) = error else { return false }
                return log.contains("need 2 towers, the partition has 1")
            }
        }
    }

    /// Relative difference per tensor: the largest element error over the tensor's largest
    /// magnitude is at most 1e-5 (element-wise relative error is meaningless for values near zero,
    /// such as Adam's momentum of a barely used parameter).
    private func expectClose(_ actual: [Float], _ expected: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        let scale = expected.map { abs(Double($0)) }.max() ?? 0
        let worst = zip(actual, expected).map { abs(Double($0) - Double($1)) }.max() ?? 0
        #expect(worst <= 1e-5 * max(scale, 1e-30), "\(what): max difference \(worst) at scale \(scale)", sourceLocation: sourceLocation)
    }
}

/// Runs `towerplan-mpi-worker` jobs for the tests.
enum MPIJob {
    static let mpirun = MPILauncher.findMPIRun()

    /// A 6-feature model (D = 4, tables of 20 … 60 rows, 1 … 3 ids per sample, dot interaction)
    /// with stateful optimizers on both sides, so that optimizer state is compared too. Tables use
    /// row-wise Adagrad (TorchRec's default). Not element-wise Adagrad: it divides each gradient
    /// element by its own magnitude, so an element whose gradient cancels to about ε = 1e-8 moves
    /// by lr × its rounding noise / ε. Measured here: one element moved 1.6e-5 apart after one
    /// step, because sgemm rounds a 4-sample batch differently from a 16-sample one — the rule's
    /// ill-conditioning, not a difference between the layouts.
    /// With `criteoShaped`, 26 sparse and 13 dense features, so that a Criteo file fits it.
    static func workloadXML(towerModule: String, criteoShaped: Bool = false) -> String {
        let (sparse, dense) = criteoShaped ? (26, 13) : (6, 3)
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <workload name="distributed-test">
          <recommendation>
            <sparse dimension="4" id-bytes="4">
              <group name="f" count="\(sparse)" min-rows="20" max-rows="60" min-pooling="1" max-pooling="3"/>
            </sparse>
            <dense features="\(dense)"/>
            <bottom-mlp input="\(dense)" widths="8 4"/>
            <interaction kind="dot"/>
            <top-mlp widths="8 1"/>
            \(towerModule)
          </recommendation>
          <training batch-per-gpu="4">
            <sparse-optimizer kind="rowwise-adagrad" learning-rate="0.1"/>
            <dense-optimizer kind="adam" learning-rate="0.01"/>
          </training>
          <data>
            <synthetic seed="7" samples="10k" groups="2"/>
          </data>
        </workload>
        """
    }

    /// Root with the tools `EmulatedHosts` runs and the right to make namespaces and bridges (a
    /// container's root may lack it): probed by making and removing one of each.
    static let canEmulateHosts: Bool = {
        let tools = ["ip", "tc", "unshare"].allSatisfy { tool in
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
        let probe = "tpprobe\(getpid())"
        return mpirun != nil && geteuid() == 0 && tools
            && (try? shell("ip netns add \(probe) && ip netns del \(probe) && ip link add \(probe) type bridge && ip link del \(probe)")) != nil
    }()

    /// Runs `command` with sh and returns its output; throws when it fails.
    @discardableResult
    static func shell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ShellFailure(command: command, status: process.terminationStatus) }
        return text
    }

    struct ShellFailure: Error {
        var command: String
        var status: Int32
    }

    /// The namespaces and links of `hosts` that exist now.
    static func leftovers(of hosts: EmulatedHosts) throws -> [String] {
        let text = try shell("ip netns list; ip -o link show")
        let names = Set((0 ..< hosts.hosts).map(hosts.namespace) + ["tpb\(getpid())"])
        return text.split(whereSeparator: { " :@\n".contains($0) }).map(String.init).filter(names.contains)
    }

    /// Trains with `ranks` workers (on `hosts` when given) and returns rank 0's report.
    static func train(ranks: Int, workload: URL, in directory: URL, hosts: EmulatedHosts? = nil, arguments: [String]) throws -> DistributedTrainingReport {
        let mpirun = try #require(mpirun)
        let report = directory.appendingPathComponent("report.json")
        var launcher = MPILauncher(mpirun: mpirun, ranks: ranks)
        launcher.emulatedHosts = hosts
        try launcher.run(
            program: try worker(), arguments: ["train", "--workload", workload.path, "--output", report.path] + arguments,
            log: directory.appendingPathComponent("mpirun.log"), timeout: .seconds(60))
        return try JSONDecoder().decode(DistributedTrainingReport.self, from: Data(contentsOf: report))
    }

    /// The worker executable SwiftPM built next to this test binary (or in a directory above it,
    /// where the binary sits inside a bundle).
    static func worker() throws -> String {
        try BuiltExecutable.path("towerplan-mpi-worker", build: "swift build --product towerplan-mpi-worker")
    }
}
