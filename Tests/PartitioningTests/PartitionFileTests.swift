import Foundation
import Partitioning
import Testing
import Workload

/// The partition file: round trip, resolution against a workload, every rejection with its
/// message, and seeded mutations that must never crash.
@Suite struct PartitionFileTests {
    /// Six features: `user`, `hist_0` … `hist_3` (a group), `item`.
    static let workload: Workload = {
        let text = """
            <workload name="tiny">
              <recommendation>
                <sparse dimension="8">
                  <feature name="user" rows="1000"/>
                  <group name="hist" count="4" min-rows="1k" max-rows="1M" min-pooling="2" max-pooling="8"/>
                  <feature name="item" rows="500"/>
                </sparse>
                <interaction kind="dot"/>
                <top-mlp widths="1"/>
              </recommendation>
              <training batch-per-gpu="4">
                <sparse-optimizer kind="rowwise-adagrad" learning-rate="0.01"/>
                <dense-optimizer kind="adam" learning-rate="0.001"/>
              </training>
            </workload>
            """
        do {
            return try WorkloadLoader.load(data: Data(text.utf8), name: "tiny.xml")
        } catch {
            fatalError("the test workload does not load: \(error)")
        }
    }()

    static let valid = PartitionFile(
        workload: "tiny", strategy: "manual",
        towers: [
            .init(tower: 0, domain: 3, features: ["user", "hist_0", "hist_1"]),
            .init(tower: 1, domain: 1, features: ["hist_2", "hist_3", "item"]),
        ])

    /// A partition file's text with `towers` (JSON) spliced in, the rest valid.
    static func text(towers: String, format: String = #""towerplan-partition""#, version: String = "1") -> String {
        #"{"format": \#(format), "version": \#(version), "workload": "tiny", "strategy": "manual", "towers": \#(towers)}"#
    }

    /// Decodes and resolves `text`: the resolved partition or the error's description.
    static func outcome(_ text: String) -> Result<ResolvedPartition, PartitionError> {
        Result { () throws(PartitionError) in
            try PartitionFile.decode(Data(text.utf8), file: "p.json").resolve(against: workload)
        }
    }

    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("partition-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func writeThenReadGivesTheSameValue() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("p.json").path
        try Self.valid.write(to: path)
        let read = try PartitionFile.read(path: path)
        #expect(read == Self.valid)
        #expect(read.file == path)
        // Overwriting goes through a temporary file and a rename: one file remains, the new one.
        var changed = Self.valid
        changed.strategy = "round-robin"
        try changed.write(to: path)
        #expect(try PartitionFile.read(path: path).strategy == "round-robin")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["p.json"])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(#""format" : "towerplan-partition""#) && text.contains(#""version" : 1"#))
    }

    @Test func resolvesNamesToIndicesAndDomains() throws {
        let resolved = try Self.valid.resolve(against: Self.workload)
        #expect(Self.workload.features.map(\.name) == ["user", "hist_0", "hist_1", "hist_2", "hist_3", "item"])
        #expect(resolved.towerOfFeature == [0, 0, 0, 1, 1, 1])
        #expect(resolved.domainOfTower == [3, 1])
        #expect(resolved.towerCount == 2)
        // Towers may be listed in any order; the ids decide.
        let reordered = PartitionFile(workload: "tiny", strategy: "manual", towers: Self.valid.towers.reversed())
        #expect(try reordered.resolve(against: Self.workload) == resolved)
    }

    static let rejections: [(text: String, fragment: String)] = [
        ("{ \"format\": ", "is not JSON (Unexpected end of file during JSON parse.)"),
        ("[1, 2]", "holds no JSON object at the top"),
        (text(towers: "[]", format: #""towerplan-topology""#), #"format is "towerplan-topology", expected "towerplan-partition": this is not a towerplan partition file"#),
        (#"{"version": 1}"#, "format is missing or not a string, expected"),
        (text(towers: "[]", version: "2"), "version is 2, which is not supported: this towerplan reads version 1"),
        (text(towers: "[]", version: "\"1\""), "version is missing or not a whole number; this towerplan reads version 1"),
        (#"{"format": "towerplan-partition", "version": 1, "workload": "tiny", "strategy": "manual"}"#, "towers is missing"),
        (text(towers: #"[{"tower": 0, "features": ["user"]}]"#), "towers[0].domain is missing"),
        (text(towers: #"[{"tower": "zero", "domain": 0, "features": ["user"]}]"#), "towers[0].tower must be a whole number"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": "user"}]"#), "towers[0].features must be an array"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": [null]}]"#), "towers[0].features[0] is null"),
        (text(towers: #"[{"tower": 1.5, "domain": 0, "features": ["user"]}]"#), "towers[0].tower is 1.5; it must be a whole number"),
        (text(towers: #"[{"tower": 0, "domain": 1e20, "features": ["user"]}]"#), "towers[0].domain is 1e+20; it must be a whole number"),
        (text(towers: #"[{"tower": 0, "domain": 1e999, "features": ["user"]}]"#), "is not JSON (Number 1e999 is not representable in Swift.)"),
        (text(towers: #"["user"]"#), "towers[0] must be an object"),
        (text(towers: "[]"), "lists no towers"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user", "hsit_1", "hist_0", "hist_2", "hist_3", "item", "nope"]}]"#),
         "tower 0 names feature 'hsit_1' (did you mean 'hist_1'?) and 1 more unknown names, but workload 'tiny' has no such feature; its 6 features include 'user', 'hist_0', 'hist_1', and group members are named NAME_0"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user", "hist_0", "hist_1", "hist_2", "hist_3"]}, {"tower": 1, "domain": 1, "features": ["item", "user"]}]"#),
         "feature 'user' is in towers 0 and 1"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user", "user", "hist_0", "hist_1", "hist_2", "hist_3", "item"]}]"#),
         "feature 'user' is listed twice in tower 0"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user", "hist_1", "item"]}]"#),
         "3 of the 6 features of workload 'tiny' are in no tower ('hist_0', 'hist_2' and 'hist_3')"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["hist_0"]}]"#), "5 of the 6 features"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user"]}, {"tower": 0, "domain": 1, "features": ["item"]}]"#),
         "tower id 0 is listed twice"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user"]}, {"tower": 1, "domain": 1, "features": []}]"#), "tower 1 has no features"),
        (text(towers: #"[{"tower": 0, "domain": 2, "features": ["user"]}, {"tower": 1, "domain": 2, "features": ["item"]}]"#),
         "towers 0 and 1 are both placed on domain 2"),
        (text(towers: #"[{"tower": 0, "domain": -1, "features": ["user"]}]"#), "tower 0 is placed on domain -1; domain indices start at 0"),
        (text(towers: #"[{"tower": -1, "domain": 0, "features": ["user"]}]"#), "towers[0] has tower id -1"),
        (text(towers: #"[{"tower": 0, "domain": 0, "features": ["user"]}, {"tower": 2, "domain": 1, "features": ["item"]}]"#),
         "tower ids must run 0 to 1 (they fix the order tower outputs are concatenated in); 1 missing, 2 out of range"),
    ]

    @Test(arguments: rejections) func rejectsWithAMessage(text: String, fragment: String) {
        switch Self.outcome(text) {
        case .success(let resolved):
            Issue.record("accepted: \(resolved)")
        case .failure(let error):
            #expect(error.file == "p.json")
            #expect(error.description.hasPrefix("p.json: "))
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func listsAtMostFiveMissingFeatures() throws {
        let text = """
            <workload name="wide">
              <recommendation>
                <sparse dimension="4"><group name="f" count="9" rows="10"/></sparse>
                <interaction kind="dot"/>
                <top-mlp widths="1"/>
              </recommendation>
              <training batch-per-gpu="1">
                <sparse-optimizer kind="sgd" learning-rate="0.01"/>
                <dense-optimizer kind="sgd" learning-rate="0.01"/>
              </training>
            </workload>
            """
        let wide = try WorkloadLoader.load(data: Data(text.utf8), name: "wide.xml")
        let partition = PartitionFile(workload: "wide", strategy: "manual", towers: [.init(tower: 0, domain: 0, features: ["f_8"])])
        #expect {
            try partition.resolve(against: wide)
        } throws: { error in
            (error as? PartitionError)?.message.contains("8 of the 9 features of workload 'wide' are in no tower ('f_0', 'f_1', 'f_2', 'f_3' and 'f_4', …)") == true
        }
    }

    @Test func fileErrorsNameTheFile() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let absent = folder.appendingPathComponent("absent.json").path
        #expect {
            try PartitionFile.read(path: absent)
        } throws: { error in
            (error as? PartitionError).map { $0.file == absent && $0.message.contains("cannot be read") } == true
        }
        let unwritable = folder.appendingPathComponent("no-such-folder/p.json").path
        #expect {
            try Self.valid.write(to: unwritable)
        } throws: { error in
            (error as? PartitionError).map { $0.file == unwritable && $0.message.contains("cannot be written") } == true
        }
        // A value read from a file names that file when it does not resolve.
        let path = folder.appendingPathComponent("short.json").path
        try PartitionFile(workload: "tiny", strategy: "manual", towers: [.init(tower: 0, domain: 0, features: ["user"])]).write(to: path)
        #expect {
            try PartitionFile.read(path: path).resolve(against: Self.workload)
        } throws: { error in
            (error as? PartitionError).map { $0.file == path && $0.message.contains("are in no tower") } == true
        }
    }

    /// The example in README.md's "Partition files" section decodes, and names prod-512's features.
    @Test func readmeExampleDecodes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Partition files"))
        let start = try #require(readme.range(of: "```json\n", range: section.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let example = try PartitionFile.decode(Data(readme[start.upperBound..<end.lowerBound].utf8), file: "README.md")
        let prod = try WorkloadLoader.load(path: root.appendingPathComponent("workloads/prod-512.xml").path)
        let names = Set(prod.features.map(\.name))
        #expect(example.workload == prod.name)
        #expect(example.towers.flatMap(\.features).allSatisfy(names.contains))
    }

    /// SplitMix64: tiny, seedable, and the same sequence on every platform.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// JSON values that have broken decoders before: negatives, huge, fractional, non-numbers.
    static let hostileValues = ["-1", "0", "1e999", "99999999999999999999", "1.5", "null", "true", "\"\"", "[]", "{}", "\"hist_9\"", "-9223372036854775808"]

    static func mutate(_ text: String, using random: inout SplitMix64) -> String {
        var bytes = Array(text.utf8)
        let position = { (random: inout SplitMix64) in Int(random.next() % UInt64(max(bytes.count, 1))) }
        switch random.next() % 5 {
        case 0:  // truncate
            bytes = Array(bytes.prefix(position(&random)))
        case 1:  // overwrite a byte with any byte, valid UTF-8 or not
            let index = position(&random)
            if index < bytes.count { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
        case 2:  // delete a span
            let start = position(&random)
            bytes.removeSubrange(start..<min(bytes.count, start + Int(random.next() % 12)))
        case 3:  // duplicate a span
            let start = position(&random)
            let span = bytes[start..<min(bytes.count, start + Int(random.next() % 40))]
            bytes.insert(contentsOf: span, at: start)
        default:  // replace one value with a hostile one
            let values = text.ranges(of: /(-?[0-9]+|"[^"]*")/)
            guard !values.isEmpty else { return text }
            let range = values[Int(random.next() % UInt64(values.count))]
            return text.replacingCharacters(in: range, with: hostileValues[Int(random.next() % UInt64(hostileValues.count))])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// 2,000 seeded mutations, up to three at a time: each is an error or a resolved partition
    /// that covers every feature with towers 0 … T−1 on distinct, non-negative domains.
    @Test func mutationsNeverCrash() throws {
        let original = String(decoding: try Self.valid.encoded(), as: UTF8.self)
        var random = SplitMix64(state: 2024)
        var accepted = 0
        for _ in 0..<2000 {
            var text = original
            for _ in 0...(random.next() % 3) { text = Self.mutate(text, using: &random) }
            switch Self.outcome(text) {
            case .failure(let error):
                #expect(!error.message.isEmpty)
            case .success(let resolved):
                accepted += 1
                #expect(resolved.towerOfFeature.count == Self.workload.features.count)
                #expect(resolved.towerOfFeature.allSatisfy { (0..<resolved.towerCount).contains($0) })
                #expect(Set(resolved.domainOfTower).count == resolved.towerCount)
                #expect(resolved.domainOfTower.allSatisfy { $0 >= 0 })
            }
        }
        // Some mutations are harmless (whitespace, the workload name), so both outcomes occur.
        #expect(accepted > 0 && accepted < 2000)
    }
}
