import Foundation
import SchemaXML
import Testing

@testable import Workload

/// Seeded mutations of the shipped files: the loader must never crash or hang, and must return
/// either diagnostics or a workload whose costs are finite. 300 rounds per file (1,500 loads), about
/// half a second in a debug build.
@Suite struct LoaderFuzzTests {
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

    /// Values that have broken loaders before: zero, negatives, huge, non-finite, fractional, empty.
    static let hostileValues = [
        "0", "-1", "1T", "1000T", "1e999", "NaN", "INF", "99999999999999999999", "0.5", "", "abc", "100000", "3.5M", " 7 ",
    ]

    static func mutate(_ text: String, using random: inout SplitMix64) -> String {
        guard !text.isEmpty else { return text }
        var bytes = Array(text.utf8)
        switch random.next() % 6 {
        case 0:  // truncate
            bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count))))
        case 1:  // overwrite a byte with a printable character
            let index = Int(random.next() % UInt64(bytes.count))
            bytes[index] = UInt8(32 + random.next() % 95)
        case 2:  // drop a line
            var lines = text.components(separatedBy: "\n")
            lines.remove(at: Int(random.next() % UInt64(lines.count)))
            return lines.joined(separator: "\n")
        case 3:  // duplicate a line
            var lines = text.components(separatedBy: "\n")
            let index = Int(random.next() % UInt64(lines.count))
            lines.insert(lines[index], at: index)
            return lines.joined(separator: "\n")
        default:  // replace one attribute value with a hostile one
            let values = text.ranges(of: /="[^"]*"/)
            guard !values.isEmpty else { return text }
            let range = values[Int(random.next() % UInt64(values.count))]
            let replacement = hostileValues[Int(random.next() % UInt64(hostileValues.count))]
            return text.replacingCharacters(in: range, with: "=\"\(replacement)\"")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: ShippedWorkloadTests.shippedNames) func mutationsNeverCrash(name: String) throws {
        let original = try String(contentsOfFile: ShippedWorkloadTests.path(name), encoding: .utf8)
        var random = SplitMix64(state: UInt64(name.utf8.count) &* 7919)
        var rejected = 0
        for round in 0..<300 {
            var text = original
            for _ in 0...(random.next() % 3) { text = Self.mutate(text, using: &random) }
            let result: Result<Workload, XMLDiagnostics>
            do throws(XMLDiagnostics) {
                result = .success(try WorkloadLoader.load(data: Data(text.utf8), name: "\(name)-\(round).xml"))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let workload):
                let model = try #require(workload.recommendation)
                #expect(!model.features.isEmpty && model.features.count <= WorkloadLoader.maximumFeatures)
                let lookupBytes = model.features.reduce(0) { $0 + $1.lookupBytesPerSample(storage: workload.training.precisions.embedding) }
                let towerFLOPs = model.towerModule.forwardFLOPs(features: model.features.count, dimension: model.embeddingDimension, batch: 1)
                let costs: [Double] = [
                    model.denseForwardFLOPs(batch: workload.training.batchPerGPU), model.denseBackwardFLOPs(batch: 1),
                    model.denseParameterCount, model.embeddingParameterCount, towerFLOPs, lookupBytes,
                ]
                #expect(costs.allSatisfy { $0.isFinite && $0 >= 0 }, "\(costs)")
            case .failure(let error):
                rejected += 1
                let file = "\(name)-\(round).xml"
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.location.file == file && !$0.message.isEmpty })
            }
        }
        // The mutations are not all harmless: most rounds must be caught.
        #expect(rejected > 100)
    }
}
