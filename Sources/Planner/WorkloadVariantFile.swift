import Foundation
import Workload

/// A workload file with another tower-module compression, so that a plan whose ratio differs
/// from the file's can be re-simulated by hand (`towerplan simulate --workload` reads files).
///
/// The original text is kept, comments and all: only the `name` of `<workload>` and the
/// `compression` / `output-width` attribute of `<tower-module>` are rewritten. The result is
/// loaded back before anything is written and must equal `LayoutPlans.workload(_:compression:)`
/// of the original (same features, same module, same training); otherwise nothing is written.
/// Cost: one parse of the file.
public enum WorkloadVariantFile {
    /// The rewritten file's text, checked as above.
    public static func text(of original: Workload, path: String, compression: Double) throws -> String {
        let expected = LayoutPlans.workload(original, compression: compression)
        var text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PlannerError.invalid("\(path): cannot be read to write a variant of it (\(error.localizedDescription))")
        }
        guard let tag = text.range(of: #"<tower-module\b[^>]*>"#, options: .regularExpression),
            let workloadTag = text.range(of: #"<workload\b[^>]*>"#, options: .regularExpression)
        else {
            throw PlannerError.invalid("\(path): has no <tower-module> to change; only a compressing tower module has a ratio to plan")
        }
        let ratio = compression == compression.rounded() ? String(Int(compression)) : String(compression)
        let module = String(text[tag]).replacingOccurrences(
            of: #"\s(compression|output-width)="[^"]*""#, with: " compression=\"\(ratio)\"", options: .regularExpression)
        text.replaceSubrange(tag, with: module)
        let renamed = String(text[workloadTag]).replacingOccurrences(
            of: #"\sname="[^"]*""#, with: " name=\"\(expected.name)\"", options: .regularExpression)
        text.replaceSubrange(workloadTag, with: renamed)
        let loaded = try WorkloadLoader.load(data: Data(text.utf8), name: path)
        guard loaded.name == expected.name, loaded.recommendation == expected.recommendation, loaded.training == expected.training else {
            throw PlannerError.invalid("\(path): the rewritten file does not read back as the workload with compression \(ratio); write it by hand")
        }
        return text
    }

    /// Writes `text(of:path:compression:)` to `destination` atomically.
    public static func write(_ original: Workload, path: String, compression: Double, to destination: String) throws {
        let text = try text(of: original, path: path, compression: compression)
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: destination), options: .atomic)
        } catch {
            throw PlannerError.invalid("\(destination): cannot be written (\(error.localizedDescription))")
        }
    }
}
