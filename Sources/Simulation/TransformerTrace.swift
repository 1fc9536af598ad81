import Foundation

extension ChromeTrace {
    /// A transformer step as a Chrome trace: one process per pipeline stage (every GPU of a stage
    /// has the same timeline), its compute stream (forward and backward of each chunk and
    /// micro-batch, then the optimizer) on `computeThread` and its FSDP stream (weight gathers,
    /// gradient reduce-scatters) on `communicationThread`. Keys are sorted, so equal steps give
    /// byte-identical files.
    public static func events(for result: TransformerStepResult) -> [String: Any] {
        var events: [[String: Any]] = []
        let pp = result.job.parallelism.pp
        for (stage, timeline) in result.stages.enumerated() {
            events.append(["ph": "M", "name": "process_name", "pid": stage, "tid": 0, "args": ["name": "stage \(stage)"]])
            events.append(["ph": "M", "name": "process_sort_index", "pid": stage, "tid": 0, "args": ["sort_index": stage]])
            events.append(["ph": "M", "name": "thread_name", "pid": stage, "tid": computeThread, "args": ["name": "compute"]])
            events.append(["ph": "M", "name": "thread_name", "pid": stage, "tid": communicationThread, "args": ["name": "FSDP"]])
            func slice(_ name: String, _ category: String, _ thread: Int, _ start: Double, _ finish: Double, _ args: [String: Any]) {
                events.append([
                    "ph": "X", "name": name, "cat": category, "pid": stage, "tid": thread, "ts": start * 1e6, "dur": (finish - start) * 1e6,
                    "args": args,
                ])
            }
            for operation in timeline.operations {
                let kind = operation.isForward ? "F" : "B"
                slice(
                    "\(kind) mb\(operation.microBatch) chunk \(operation.chunk / pp)", "compute", computeThread, operation.start, operation.finish,
                    ["micro_batch": operation.microBatch, "virtual_stage": operation.chunk])
            }
            slice("optimizer", "compute", computeThread, timeline.optimizerStart, timeline.end, [:])
            for transfer in timeline.transfers where transfer.finish > transfer.start {
                slice(
                    transfer.isGather ? "all-gather weights" : "reduce-scatter gradients", "communication", communicationThread, transfer.start,
                    transfer.finish, ["virtual_stage": transfer.chunk, "unit": transfer.unit])
            }
        }
        return [
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": [
                "parallelism": result.job.parallelism.description, "step_seconds": result.stepSeconds,
                "tokens_per_second": result.tokensPerSecond, "mfu": result.mfu,
            ],
        ]
    }

    /// Writes the trace to `path` through a temporary file and a rename.
    public static func write(_ result: TransformerStepResult, to path: String) throws {
        try JSONSerialization.data(withJSONObject: events(for: result), options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
