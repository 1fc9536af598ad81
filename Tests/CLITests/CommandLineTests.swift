import Foundation
import Partitioning
import Testing
import TestSupport
import Training
import Workload

/// The `towerplan` binary end to end, as a user runs it: exit codes, JSON fields, files written.
@Suite struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `towerplan` executable SwiftPM built next to this test binary.
    static func binary() throws -> String {
        try BuiltExecutable.path("towerplan", build: "swift build --build-tests")
    }

    /// Runs towerplan with `arguments` from the repository root, this process's environment with
    /// `environment`'s changes (nil removes a variable); returns the exit status and stdout/stderr.
    static func run(_ arguments: [String], environment: [String: String?] = [:]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        if !environment.isEmpty {
            var changed = ProcessInfo.processInfo.environment
            for (name, value) in environment { changed[name] = value }
            process.environment = changed
        }
        process.currentDirectoryURL = root
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("towerplan-cli-\(UUID().uuidString)-\(name)").path
    }

    /// An embeddings file for workloads/synthetic-planted.xml whose affinity is strong inside the
    /// data's planted groups and weak, noisy, elsewhere: what a well-trained flat model exports.
    static func plantedEmbeddings() throws -> String {
        let workload = try WorkloadLoader.load(path: root.appendingPathComponent("workloads/synthetic-planted.xml").path)
        let groups = try SyntheticDataset(workload: workload).plantedGroups
        var generator = SeededGenerator(seed: 11)
        let count = groups.count
        var affinity = [[Double]](repeating: [Double](repeating: 0, count: count), count: count)
        for f in 0 ..< count {
            for g in 0 ..< f {
                let value = (groups[f] == groups[g] ? 1.0 : 0.1) * (0.5 + generator.nextUnitDouble())
                affinity[f][g] = value
                affinity[g][f] = value
            }
        }
        let file = FeatureAffinityFile(
            workload: workload.name, trained: .init(layout: "flat"), representationMethod: "affinity rows", affinityMethod: "planted for a test",
            features: workload.features.indices.map { .init(name: workload.features[$0].name, representation: affinity[$0], plantedGroup: groups[$0]) },
            affinity: affinity)
        let path = temporary("embeddings.json")
        try file.write(to: path)
        return path
    }

    @Test func compareOnThePlantedWorkloadRecoversTheGroupsWithTP() throws {
        let embeddings = try Self.plantedEmbeddings()
        defer { try? FileManager.default.removeItem(atPath: embeddings) }
        let result = try Self.run([
            "compare", "--topology", "topologies/zionex-a100-128.xml", "--workload", "workloads/synthetic-planted.xml",
            "--embeddings", embeddings, "--towers", "5", "--strategies", "tp,kmeans,random,greedy,round-robin", "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let rows = try #require(report["rows"] as? [[String: Any]])
        let byStrategy = Dictionary(uniqueKeysWithValues: rows.map { ($0["strategy"] as! String, $0) })
        #expect(Set(byStrategy.keys) == ["flat", "tp", "kmeans", "random", "greedy", "round-robin", "planted groups (oracle)"])
        for row in rows where row["strategy"] as? String != "flat" {
            #expect((row["step_seconds"] as? Double ?? 0) > 0 && row["speedup_vs_flat"] is Double && row["captured_affinity"] is Double)
            if ["tp", "kmeans", "random", "greedy"].contains(row["strategy"] as? String) {
                #expect((row["imbalance"] as? Double ?? 9) <= 1.05 + 1e-9, "\(row)")
            }
        }
        #expect((byStrategy["tp"]?["ari"] as? Double ?? 0) >= 0.9)
        #expect(abs(byStrategy["random"]?["ari"] as? Double ?? 1) < 0.2)
        #expect((byStrategy["tp"]?["captured_affinity"] as? Double ?? 0) > (byStrategy["random"]?["captured_affinity"] as? Double ?? 1))
    }

    @Test func trainWritesJSONAndResumesFromItsCheckpoint() throws {
        let checkpoint = Self.temporary("run.ckpt")
        defer { try? FileManager.default.removeItem(atPath: checkpoint) }
        let common = ["train", "--workload", "workloads/synthetic-planted.xml", "--batch", "64", "--threads", "1", "--eval-samples", "256", "--json"]
        let whole = try Self.run(common + ["--steps", "12"])
        #expect(whole.status == 0, "\(whole.errors)")
        let first = try Self.run(common + ["--steps", "8", "--checkpoint", checkpoint, "--checkpoint-every", "4"])
        #expect(first.status == 0, "\(first.errors)")
        let resumed = try Self.run(common + ["--steps", "12", "--checkpoint", checkpoint, "--resume"])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let decode = { (text: String) throws -> [String: Any] in
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let a = try decode(whole.output), b = try decode(resumed.output)
        #expect(a["steps"] as? Int == 12 && b["steps"] as? Int == 12)
        #expect(a["auc"] as? Double == b["auc"] as? Double && a["logloss"] as? Double == b["logloss"] as? Double)
        #expect(a["samples_per_second"] is Double)
    }

    /// `train` reports the OpenBLAS kernels it ran on: those OPENBLAS_CORETYPE names when set,
    /// OpenBLAS's own pick for the CPU otherwise.
    @Test func trainReportsTheOpenBLASKernelsItRanOn() throws {
        let arguments = ["train", "--workload", "workloads/synthetic-planted.xml", "--steps", "1", "--batch", "16", "--json", "--eval-samples", "64"]
        func kernels(_ coreType: String?) throws -> String? {
            let result = try Self.run(arguments, environment: ["OPENBLAS_CORETYPE": coreType])
            #expect(result.status == 0, "\(result.errors)")
            let json = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
            return json?["blas_kernels"] as? String
        }
        #expect(try kernels("Haswell") == "Haswell")
        #expect(try kernels(nil).map { !$0.isEmpty && $0 != "unknown" } == true)
    }

    @Test func planForATransformerRanksTheFactorizationsThatFit() throws {
        let output = Self.temporary("plan")
        let result = try Self.run([
            "plan", "--workload", "workloads/llama3-8b.xml", "--topology", "topologies/dgx1-v100-128.xml", "--output", output, "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String: Any]])
        let fitting = rows.prefix { $0["fits"] as? Bool == true }
        #expect(!fitting.isEmpty && fitting.count < rows.count, "some fit, some are refused")
        let steps = fitting.compactMap { $0["step_seconds"] as? Double }
        #expect(steps.count == fitting.count && steps == steps.sorted())
        #expect(fitting.allSatisfy { ($0["mfu"] as? Double).map { $0 > 0 && $0 < 1 } == true })
        #expect(rows.dropFirst(fitting.count).allSatisfy { $0["fits"] as? Bool == false && !($0["reason"] as? String ?? "").isEmpty })
        #expect(!FileManager.default.fileExists(atPath: output), "no report folder for a transformer plan")
    }

    @Test func sweepUnderMPISplitsThePointsAndRankZeroPrintsThemAll() throws {
        guard let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            Issue.record("mpirun is missing: install openmpi-bin (scripts/setup.sh does)")
            return
        }
        let sweep = [
            "sweep", "--topologies", "topologies/zionex-a100-128.xml,topologies/dgx1-v100-128.xml", "--workloads",
            "workloads/dlrm-criteo-kaggle.xml,workloads/dcn-criteo.xml", "--json", "--quiet",
        ]
        let single = try Self.run(sweep)
        #expect(single.status == 0, "\(single.errors)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "-np", "3", try Self.binary()] + sweep
        process.currentDirectoryURL = Self.root
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // Three ranks, four points: the gathered rows equal the single-process rows, printed once.
        let parse = { (text: String) in try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] }
        let a = try #require(try parse(single.output)), b = try #require(try parse(text))
        #expect(a.count == 4 && b.count == 4)
        #expect(NSArray(array: a).isEqual(to: b))
    }

    @Test func badInputExitsWithOneAndSaysWhat() throws {
        let missing = try Self.run(["train", "--workload", "workloads/nope.xml", "--steps", "1"])
        #expect(missing.status == 1 && missing.errors.contains("nope.xml"))
        let data = try Self.run(["train", "--workload", "workloads/synthetic-planted.xml", "--steps", "1", "--data", "parquet:x"])
        #expect(data.status == 1 && data.errors.contains("neither synthetic nor criteo:PATH"))
        let usage = try Self.run(["train", "--workload", "workloads/synthetic-planted.xml", "--steps", "1", "--epochs", "1"])
        #expect(usage.status == 64 && usage.errors.contains("not both"))
    }
}
