import Foundation
import TestSupport
import Testing
import Training

/// `towerplan calibrate` and `towerplan train --ranks` end to end: the calibrated topology file
/// carries exactly the injected measurement and validates; the multi-process options are checked
/// before anything starts; a 4-rank run (when Open MPI is installed) reports its steps and phases.
@Suite(.serialized) struct DistributedCommandTests {
    /// A measurement as `calibrate --json` prints it (the hidden `--measurement` option reads this file instead of measuring).
    static let measurement = """
        {"ranks": 4, "ranks_per_host": 2, "kernels": "test shapes", "gemm_flops_per_second": 12345000000,
         "stream_bytes_per_second": 7500000000, "interaction_flops_per_second": 3000000000, "gather_bytes_per_second": 2500000000, "scatter_bytes_per_second": 1500000000, "memory_bytes_per_rank": 8000000000,
         "intra_host": {"bandwidth_bytes_per_second": 6000000000, "latency_seconds": 0.000004},
         "inter_host": {"bandwidth_bytes_per_second": 125000000, "latency_seconds": 0.00005}}
        """

    static var mpirunInstalled: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/mpirun") }
    }

    @Test func calibratedTopologyCarriesTheMeasuredNumbersAndValidates() throws {
        try withScratchDirectory("towerplan-calibrate") { directory in
            let input = directory.appendingPathComponent("measurement.json"), output = directory.appendingPathComponent("calibrated.xml")
            try Data(Self.measurement.utf8).write(to: input)
            let result = try CommandLineTests.run(["calibrate", "--measurement", input.path, "-o", output.path, "--ranks", "4", "--ranks-per-host", "2"])
            #expect(result.status == 0, "\(result.errors)")
            let xml = try String(contentsOf: output, encoding: .utf8)
            for expected in [
                #"memory-bandwidth="7500000000B/s" gather-bandwidth="2500000000B/s" scatter-bandwidth="1500000000B/s" interaction-flops="3000000000FLOP/s""#, #"<peak precision="fp32" flops="12345000000FLOP/s"/>"#,
                #"memory="8000000000""#,
                #"<accelerator id="rank" model="cpu-rank" count="2"/>"#, #"<host template="node" count="2"/>"#,
                #"<link a="rank" b="shm" bandwidth="6000000000B/s" latency="2000.000ns""#,
                // Cross-host: (50 µs − 4 µs) / 2 on each NIC link, so that rank → shm → nic → switch → nic → shm → rank adds up to 50 µs.
                #"<link a="host/nic" b="switch" bandwidth="125000000B/s" latency="23000.000ns""#,
            ] {
                #expect(xml.contains(expected), "missing \(expected) in\n\(xml)")
            }
            // A measurement that does not say the ranks shared one machine's cores writes none.
            #expect(!xml.contains("shared-cores"))
            let validation = try CommandLineTests.run(["topo", "validate", output.path])
            #expect(validation.status == 0, "\(validation.output)\(validation.errors)")
            #expect(validation.output.contains("4 accelerators"))
            #expect(try !CommandLineTests.run(["topo", "show", output.path]).output.contains("time-share"))

            // Measured with every rank on this machine: the file and `topo show` say how many cores they shared.
            try Data(Self.measurement.replacingOccurrences(of: #""ranks": 4,"#, with: #""ranks": 4, "shared_cores": 2,"#).utf8).write(to: input)
            #expect(try CommandLineTests.run(["calibrate", "--measurement", input.path, "-o", output.path, "--ranks", "4", "--ranks-per-host", "2"]).status == 0)
            #expect(try String(contentsOf: output, encoding: .utf8).contains(#"calibrated" shared-cores="2">"#))
            let shown = try CommandLineTests.run(["topo", "show", output.path])
            #expect(shown.output.contains("the 4 accelerators time-share 2 CPU cores"), "\(shown.output)")
            #expect(try CommandLineTests.run(["topo", "show", output.path, "--json"]).output.contains(#""shared_cores" : 2"#))
            // `simulate` models GPUs, and says so on a cluster of CPU ranks.
            let simulated = try CommandLineTests.run(["simulate", "--topology", output.path, "--workload", "workloads/synthetic-planted.xml"])
            #expect(simulated.status == 0, "\(simulated.errors)")
            #expect(simulated.output.contains("CPU ranks time-sharing 2 cores"), "\(simulated.output)")
        }
    }

    @Test func aMeasurementWithoutTheNewerRatesIsNamedNotCrashedOn() throws {
        try withScratchDirectory("towerplan-calibrate") { directory in
            let input = directory.appendingPathComponent("old.json"), output = directory.appendingPathComponent("calibrated.xml")
            try Data(Self.measurement.replacingOccurrences(of: #""interaction_flops_per_second": 3000000000, "#, with: "").utf8).write(to: input)
            let result = try CommandLineTests.run(["calibrate", "--measurement", input.path, "-o", output.path, "--ranks", "4", "--ranks-per-host", "2"])
            #expect(result.status != 0)
            #expect(result.errors.contains("has no interaction_flops_per_second"), "\(result.errors)")
            #expect(!FileManager.default.fileExists(atPath: output.path))
        }
    }

    /// `--predict` on a calibrated topology prints predicted against measured per phase, and says
    /// when the ranks outnumbered the cores whether the topology let the prediction share them.
    @Test(.enabled(if: mpirunInstalled, "mpirun is not installed"), arguments: [false, true])
    func predictedRunsSayWhenRanksOutnumberCores(_ sharedCores: Bool) throws {
        try withScratchDirectory("towerplan-predict") { directory in
            let input = directory.appendingPathComponent("measurement.json"), topology = directory.appendingPathComponent("calibrated.xml")
            let measurement = sharedCores ? Self.measurement.replacingOccurrences(of: #""ranks": 4,"#, with: #""ranks": 4, "shared_cores": 2,"#) : Self.measurement
            try Data(measurement.utf8).write(to: input)
            let calibrated = try CommandLineTests.run(["calibrate", "--measurement", input.path, "-o", topology.path, "--ranks", "4", "--ranks-per-host", "2"])
            #expect(calibrated.status == 0, "\(calibrated.errors)")
            #expect(try String(contentsOf: topology, encoding: .utf8).contains(#"shared-cores="2""#) == sharedCores)
            let result = try CommandLineTests.run([
                "train", "--workload", "workloads/synthetic-planted.xml", "--ranks", "4", "--ranks-per-host", "2", "--layout", "dmt", "--steps", "2",
                "--batch", "16", "--eval-samples", sharedCores ? "8" : "0", "--predict", "--topology", topology.path,
            ])
            #expect(result.status == 0, "\(result.errors)")
            #expect(result.output.contains("predicted") && result.output.contains("tower module forward"))
            // Held-out metrics only when asked for.
            #expect(result.output.contains("held-out AUC") == sharedCores && result.output.contains("on 8 samples") == sharedCores, "\(result.output)")
            let outnumbered = AvailableCores.count < 4
            #expect(result.output.contains("ranks shared this machine's") == outnumbered, "\(result.output)")
            #expect(result.output.contains("no shared-cores") == (outnumbered && !sharedCores), "\(result.output)")
            #expect(result.output.contains("the prediction shared the topology's 2") == (outnumbered && sharedCores), "\(result.output)")
        }
    }

    /// A real calibration: two ranks of this machine (as two hosts, without emulation) time the
    /// workload's kernels and links and write a topology the simulator loads.
    @Test(.enabled(if: mpirunInstalled, "mpirun is not installed"))
    func twoRankCalibrationWritesEveryMeasuredRate() throws {
        try withScratchDirectory("towerplan-calibrate") { directory in
            let output = directory.appendingPathComponent("calibrated.xml")
            let result = try CommandLineTests.run([
                "calibrate", "--ranks", "2", "--ranks-per-host", "1", "--workload", "workloads/synthetic-planted.xml", "--batch", "64", "-o", output.path,
            ])
            #expect(result.status == 0, "\(result.errors)")
            let xml = try String(contentsOf: output, encoding: .utf8)
            for attribute in ["memory-bandwidth", "gather-bandwidth", "scatter-bandwidth", "interaction-flops"] {
                #expect(xml.contains(" \(attribute)=\""), "missing \(attribute) in\n\(xml)")
            }
            // The tower module of a 20-feature tower at 2 × 64 samples and both over-arch shapes were timed.
            #expect(xml.contains("dot tower module of 20 features at batch 128"))
            // Both ranks ran on this machine, so the cluster says how many cores they shared.
            #expect(xml.contains(#" shared-cores="\#(AvailableCores.count)""#), "\(xml)")
            let validation = try CommandLineTests.run(["topo", "validate", output.path])
            #expect(validation.status == 0, "\(validation.output)\(validation.errors)")
        }
    }

    @Test(arguments: [
        (["--ranks", "5", "--ranks-per-host", "2", "--steps", "2"], "not a multiple of --ranks-per-host"),
        (["--ranks", "4"], "give --steps"),
        (["--ranks", "4", "--steps", "2", "--predict"], "--predict needs --topology"),
        (["--ranks", "4", "--steps", "2", "--baseline"], "not available with --ranks: --baseline"),
        (["--ranks-per-host", "2", "--steps", "2"], "add --ranks N"),
        (["--ranks", "4", "--steps", "2", "--eval-samples", "3"], "--eval-samples 3 leaves some of the 4 ranks without a held-out sample"),
        // The planted groups are 5 towers; 2 hosts hold 2.
        (["--ranks", "4", "--ranks-per-host", "2", "--layout", "dmt", "--partition", "planted", "--steps", "2"], "need 2 towers, the partition has 5"),
    ])
    func distributedOptionsAreCheckedBeforeLaunch(_ arguments: [String], _ message: String) throws {
        let result = try CommandLineTests.run(["train", "--workload", "workloads/synthetic-planted.xml"] + arguments)
        #expect(result.status != 0)
        #expect(result.errors.contains(message), "\(result.errors)")
    }

    /// `--data criteo:FILE` under `--ranks`: the ranks read the file (a missing one is named before
    /// launch) and report held-out metrics on its held-out lines.
    @Test(.enabled(if: mpirunInstalled, "mpirun is not installed"))
    func fourRanksTrainOnACriteoFile() throws {
        try withScratchDirectory("towerplan-criteo-ranks") { directory in
            let file = directory.appendingPathComponent("day.tsv")
            let lines = (0 ..< 100).map { line in
                ([String(line % 3 == 0 ? 1 : 0)] + (0 ..< 13).map { String(($0 * 7 + line) % 50) }
                    + (0 ..< 26).map { String(format: "%08x", ($0 + 1) * 2_654_435_761 % 4_294_967_291 + line) }).joined(separator: "\t")
            }
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            let common = ["train", "--workload", "workloads/dlrm-kaggle-bench.xml", "--ranks", "4", "--steps", "4", "--batch", "4", "--held-out-every", "5"]
            let result = try CommandLineTests.run(common + ["--data", "criteo:\(file.path)", "--eval-samples", "16", "--json"])
            #expect(result.status == 0, "\(result.errors)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            let report = try #require(json["report"] as? [String: Any])
            #expect(report["data"] as? String == "criteo:\(file.path)")
            #expect((report["evaluation"] as? [String: Any])?["samples"] as? Int == 16)
            #expect(json["logloss"] as? Double != nil)

            let missing = try CommandLineTests.run(common + ["--data", "criteo:\(directory.path)/none.tsv"])
            #expect(missing.status != 0 && missing.errors.contains("none.tsv"), "\(missing.errors)")
        }
    }

    @Test(.enabled(if: mpirunInstalled, "mpirun is not installed"), arguments: ["flat", "dmt"])
    func fourRankTrainingReportsStepsAndPhases(_ layout: String) throws {
        let result = try CommandLineTests.run([
            "train", "--workload", "workloads/synthetic-planted.xml", "--ranks", "4", "--ranks-per-host", "2", "--layout", layout, "--steps", "3",
            "--batch", "16", "--eval-samples", "2002", "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(json["steps"] as? Int == 3)
        // The final model on 2,000 held-out samples (2,002 rounded down to a multiple of 4 ranks).
        let auc = try #require(json["auc"] as? Double)
        #expect(auc > 0.3 && auc < 1)
        #expect((json["logloss"] as? Double ?? 0) > 0)
        let evaluation = try #require((json["report"] as? [String: Any])?["evaluation"] as? [String: Any])
        #expect(evaluation["samples"] as? Int == 2_000)
        #expect(json["cores"] as? Int == AvailableCores.count)
        #expect((json["samples_per_second"] as? Double ?? 0) > 0)
        #expect((json["measured_step_seconds"] as? Double ?? 0) > 0)
        let phases = try #require(json["phases"] as? [[String: Any]])
        let names = Set(phases.compactMap { $0["name"] as? String })
        #expect(names.contains("dense gradient all-reduce"))
        #expect(names.contains(layout == "dmt" ? "input dist: ids peer all-to-all" : "input dist: ids all-to-all"))
        // Every measured phase reports the CPU time a rank's process used in it; the dense
        // forward computes, so it used some.
        #expect(phases.allSatisfy { ($0["cpu_mean_over_ranks_seconds"] as? Double ?? -1) >= 0 })
        let forward = try #require(phases.first { $0["name"] as? String == "bottom MLP + interaction + top MLP forward" })
        #expect((forward["cpu_mean_over_ranks_seconds"] as? Double ?? 0) > 0)
    }
}
