import Foundation
import Partitioning
import Testing
import Workload

/// The embeddings file: round trip, every rejection with its message, matching to a workload.
@Suite struct FeatureAffinityFileTests {
    /// Three features of the tiny workload's names in file order b, a, c; affinity a–b 0.5, b–c 0.25, a–c 0.
    static let valid = FeatureAffinityFile(
        workload: "tiny", trained: .init(layout: "flat", data: "synthetic", seed: 1, steps: 400, auc: 0.81),
        representationMethod: "mean pooled embedding", affinityMethod: "mean |<e_f, e_g>|",
        features: [
            .init(name: "b", representation: [0.1, -0.3], plantedGroup: 0),
            .init(name: "a", representation: [1, 2], plantedGroup: 0),
            .init(name: "c", representation: [0, 0.5], plantedGroup: 1),
        ],
        affinity: [[0, 0.5, 0.25], [0.5, 9, 0], [0.25, 0, 0]])

    static let workload: Workload = {
        do {
            return try workload(named: "abc", features: ["a", "b", "c"])
        } catch {
            fatalError("the test workload does not load: \(error)")
        }
    }()

    /// A workload whose only point is its feature names: one-hot tables of 10 rows, D = 4.
    static func workload(named name: String, features: [String]) throws -> Workload {
        let sparse = features.map { #"<feature name="\#($0)" rows="10"/>"# }.joined()
        let text = """
            <workload name="\(name)"><recommendation><sparse dimension="4">\(sparse)</sparse><interaction kind="dot"/><top-mlp widths="1"/>
            </recommendation><training batch-per-gpu="2"><sparse-optimizer kind="sgd" learning-rate="0.1"/>
            <dense-optimizer kind="sgd" learning-rate="0.1"/></training></workload>
            """
        return try WorkloadLoader.load(data: Data(text.utf8), name: "\(name).xml")
    }

    @Test func writeThenReadGivesTheSameValue() throws {
        let folder = try PartitionFileTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("e.json").path
        try Self.valid.write(to: path)
        let read = try FeatureAffinityFile.read(path: path)
        #expect(read == Self.valid)
        #expect(read.trained.auc == 0.81 && read.features[2].plantedGroup == 1)
        // One feature and one affinity row per line.
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 + 6 + 1 + 3 + 2 + 3 + 2)
        #expect(lines.contains { $0.contains(#""name":"a""#) && $0.contains(#""representation":[1,2]"#) })
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["e.json"])
        // Optional fields stay out when absent.
        var bare = Self.valid
        bare.trained = .init(layout: "flat")
        bare.features = bare.features.map { .init(name: $0.name, representation: $0.representation) }
        try bare.write(to: path)
        #expect(try FeatureAffinityFile.read(path: path) == bare)
        #expect(try !String(contentsOfFile: path, encoding: .utf8).contains("planted_group"))
    }

    @Test func resolvesIntoTheWorkloadsOrder() throws {
        let resolved = try Self.valid.resolve(against: Self.workload)
        // Workload order a, b, c: a–b 0.5, a–c 0, b–c 0.25; the diagonal (9 in the file) is dropped.
        #expect(resolved.matrix == [0, 0.5, 0, 0.5, 0, 0.25, 0, 0.25, 0])
        #expect(resolved.representations == [[1, 2], [0.1, -0.3], [0, 0.5]])
        #expect(resolved.plantedGroups == [0, 0, 1])
        #expect(resolved.madeFor == "tiny")
        #expect(resolved.graph.edgeCount == 2 && resolved.graph.totalWeight == 0.75)
    }

    @Test func missingAndExtraFeaturesAreListed() {
        var other = Self.valid
        other.features[0].name = "z"
        #expect {
            try other.resolve(against: Self.workload, file: "e.json")
        } throws: { error in
            (error as? PartitionError)?.file == "e.json" && (error as? PartitionError)?.message
                == "lacks 1 of the 3 features of workload 'abc' ('b') and names 1 features the workload does not have ('z'); export the embeddings from a model of workload 'abc' (file made for 'tiny')"
        }
    }

    /// A file's text with one part replaced by `replacing` → `with`.
    static func text(replacing: String = "", with replacement: String = "") -> String {
        let base = #"""
            {"format": "towerplan-embeddings", "version": 1, "workload": "abc", "trained": {"layout": "flat"},
             "representation_method": "r", "affinity_method": "a",
             "features": [{"name": "a", "representation": [1, 0]}, {"name": "b", "representation": [0, 1]}],
             "affinity": [[0, 0.5], [0.5, 0]]}
            """#
        return replacing.isEmpty ? base : base.replacingOccurrences(of: replacing, with: replacement)
    }

    static let rejections: [(text: String, fragment: String)] = [
        ("{ \"format\": ", "is not JSON"),
        (text(replacing: #""towerplan-embeddings""#, with: #""towerplan-partition""#), #"format is "towerplan-partition", expected "towerplan-embeddings": this is not a towerplan embeddings file"#),
        (text(replacing: #""version": 1"#, with: #""version": 2"#), "version is 2, which is not supported"),
        (text(replacing: #"{"layout": "flat"}"#, with: "{}"), "trained.layout is missing"),
        (text(replacing: #""affinity_method": "a","#, with: ""), "affinity_method is missing"),
        (text(replacing: "[0, 1]}", with: "[0, 1, 2]}"), "features[1].representation ('b') has 3 values, features[0] has 2"),
        (text(replacing: "[1, 0]}, {", with: "[]}, {"), "features[0].representation is empty"),
        (text(replacing: #""representation": [1, 0]}"#, with: #""representation": [1, 0], "planted_group": 0}"#),
         "features[1] ('b') has no planted_group but features[0] has one"),
        (text(replacing: #""representation": [0, 1]}"#, with: #""representation": [0, 1], "planted_group": 0}"#),
         "features[1] ('b') has a planted_group but features[0] has none"),
        (text(replacing: #""name": "b""#, with: #""name": "a""#), "features[0] and features[1] are both named 'a'"),
        (text(replacing: "[[0, 0.5], [0.5, 0]]", with: "[[0, 0.5]]"), "affinity has 1 rows for 2 features"),
        (text(replacing: "[[0, 0.5], [0.5, 0]]", with: "[[0, 0.5], [0.5]]"), "affinity[1] has 1 values for 2 features"),
        (text(replacing: "[[0, 0.5], [0.5, 0]]", with: "[[0, -0.5], [-0.5, 0]]"), "affinity[0][1] is -0.5; affinities are finite and non-negative"),
        (text(replacing: "[[0, 0.5], [0.5, 0]]", with: "[[0, 0.5], [0.6, 0]]"),
         "affinity[0][1] is 0.5 but affinity[1][0] is 0.6 ('a', 'b'); the matrix must be symmetric within 1e-06 relative"),
        (text(replacing: "[[0, 0.5], [0.5, 0]]", with: #"[[0, "x"], [0.5, 0]]"#), "affinity[0][1] must be a number"),
        (text(replacing: #""features": [{"name": "a", "representation": [1, 0]}, {"name": "b", "representation": [0, 1]}]"#, with: #""features": []"#),
         "lists no features"),
    ]

    @Test(arguments: rejections) func rejectsWithAMessage(text: String, fragment: String) {
        #expect {
            try FeatureAffinityFile.decode(Data(text.utf8), file: "e.json")
        } throws: { error in
            guard let error = error as? PartitionError else { return false }
            #expect(error.description.hasPrefix("e.json: "))
            #expect(error.message.contains(fragment), "\(error.message)")
            return true
        }
    }

    @Test func nearlySymmetricIsAcceptedAndAveraged() throws {
        let text = Self.text(replacing: "[[0, 0.5], [0.5, 0]]", with: "[[0, 0.5], [0.50000001, 0]]")
        let file = try FeatureAffinityFile.decode(Data(text.utf8), file: "e.json")
        let workload = try Self.workload(named: "ba", features: ["b", "a"])
        #expect(try file.resolve(against: workload).matrix == [0, 0.500000005, 0.500000005, 0])
    }

    @Test func anInvalidValueIsNeverWritten() throws {
        let folder = try PartitionFileTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bad = Self.valid
        bad.affinity[0][2] = 1
        let path = folder.appendingPathComponent("e.json").path
        #expect { try bad.write(to: path) } throws: { "\($0)".contains("must be symmetric") }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
