import Foundation

/// A step timeline in the Chrome trace event format (`{"traceEvents": [...]}`), which Perfetto
/// and chrome://tracing open.
///
/// One process per GPU of interest (`StepResult.tracks`: rank 0, the slowest GPU, the layout's
/// picks), named after the GPU and why it is shown, with two threads: tid 1 its compute stream,
/// tid 2 its communication stream. Streams get their own threads because a collective overlaps
/// compute and the format needs the slices of one thread to nest. Complete events (`ph: "X"`) carry
/// `ts` and `dur` in microseconds. Keys are sorted, so equal steps give byte-identical files.
public enum ChromeTrace {
    /// Thread ids of the two streams inside each GPU's process.
    public static let computeThread = 1
    public static let communicationThread = 2

    /// The trace as a JSON object.
    public static func events(for result: StepResult) -> [String: Any] {
        var events: [[String: Any]] = []
        for (order, track) in result.tracks.enumerated() {
            let pid = Int(track.rank)
            events.append(["ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": ["name": "GPU \(track.rank) (\(track.label))"]])
            events.append(["ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": ["sort_index": order]])
            events.append(["ph": "M", "name": "thread_name", "pid": pid, "tid": computeThread, "args": ["name": "compute"]])
            events.append(["ph": "M", "name": "thread_name", "pid": pid, "tid": communicationThread, "args": ["name": "communication"]])
            for task in result.tasks {
                let rank = Int(track.rank)
                guard task.active[rank], task.finish[rank] > task.start[rank] else { continue }
                var args: [String: Any] = [:]
                if task.isInputDistribution {
                    args["batch"] = result.overlapsInputDistribution ? "next (sparse-dist pipeline)" : "this"
                }
                for (level, bytes) in task.bytesPerGPUByLevel { args["bytes_per_gpu_across_\(level)"] = bytes }
                events.append([
                    "ph": "X", "name": task.name, "cat": task.isCommunication ? "communication" : "compute",
                    "pid": pid, "tid": task.isCommunication ? communicationThread : computeThread,
                    "ts": task.start[rank] * 1e6, "dur": (task.finish[rank] - task.start[rank]) * 1e6, "args": args,
                ])
            }
        }
        return [
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": ["layout": result.summary, "step_seconds": result.stepSeconds, "samples_per_second": result.samplesPerSecond],
        ]
    }

    /// The trace as JSON bytes.
    public static func data(for result: StepResult) throws -> Data {
        try JSONSerialization.data(withJSONObject: events(for: result), options: [.sortedKeys])
    }

    /// Writes the trace to `path` through a temporary file and a rename, so a reader never sees half a file.
    public static func write(_ result: StepResult, to path: String) throws {
        try data(for: result).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
