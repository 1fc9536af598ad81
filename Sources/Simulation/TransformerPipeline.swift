/// Times one step of an interleaved 1F1B pipeline (Megatron-LM's schedule, Narayanan et al. 2021)
/// with FSDP weight gathers and gradient reduce-scatters beside it, for one representative GPU per
/// stage: every GPU of a stage runs the same operations at the same times, so PP timelines
/// describe all tp·cp·pp·dp GPUs.
///
/// - Each stage p holds V chunks (virtual stages) g = v·PP + p; a micro-batch flows through
///   g = 0 … PP·V − 1 forward and back. Stage p runs, in Megatron's order, `warmup` forwards, then
///   alternating forward/backward, then the remaining backwards, where warmup = PP − p − 1 without
///   interleaving and (PP − p − 1)·2 + (V − 1)·PP with it (all of them when M = PP). Forward k runs
///   chunk (k / PP) mod V on micro-batch (k / (PP·V))·PP + k mod PP; backward k the chunks in reverse.
/// - A forward waits for the previous chunk's forward of the same micro-batch plus one P2P
///   transfer; a backward for the next chunk's backward plus one transfer (the last chunk's
///   backward follows its own forward). Transfers are otherwise overlapped with compute, as with
///   Megatron-LM's overlapped P2P; the bubble, (PP − 1)/(V·M) of the compute for equal stages,
///   comes out of the dependencies rather than a formula.
/// - FSDP (Llama 3 §3.3.2: weights are not resharded after the forward): each stage gathers its
///   units' weights once per step, in order of first use, on a stream of its own starting at 0;
///   the first forward of a unit waits for its gather. After a unit's last backward its gradients
///   are reduce-scattered on that stream, in the order they become ready; the optimizer runs when
///   the last reduce-scatter and the last backward are done.
///
/// Cost: O(PP · V · M · units per chunk) per call.
struct TransformerPipeline {
    /// One chunk (virtual stage) of layers, for one micro-batch, unit by unit (a unit is a layer,
    /// the embedding or the output head: what FSDP gathers at once).
    struct Chunk {
        /// Forward seconds of each unit, compute plus the TP and CP collectives it waits for.
        var forward: [Double]
        /// Backward seconds of each unit (listed in forward order; run in reverse).
        var backward: [Double]
        /// FSDP all-gather seconds of each unit's weights.
        var gather: [Double]
        /// FSDP reduce-scatter seconds of each unit's gradients.
        var reduce: [Double]

        var forwardSeconds: Double { forward.reduce(0, +) }
        var backwardSeconds: Double { backward.reduce(0, +) }
    }

    let stages: Int
    let interleave: Int
    let microBatches: Int
    /// PP·V chunks, index g = v·PP + p.
    let chunks: [Chunk]
    /// One P2P transfer of activations (forward) or their gradients (backward) between chunks.
    let transferForward: Double
    let transferBackward: Double
    /// Optimizer seconds of each stage.
    let optimizer: [Double]

    /// What one stage did.
    struct StageTimeline {
        /// Forward and backward compute, in order: (chunk, micro-batch, forward?, start, finish).
        var operations: [(chunk: Int, microBatch: Int, forward: Bool, start: Double, finish: Double)] = []
        /// FSDP stream: (unit label, gather?, start, finish).
        var collectives: [(chunk: Int, unit: Int, gather: Bool, start: Double, finish: Double)] = []
        var optimizerStart = 0.0
        var end = 0.0
        /// Seconds of forward and backward compute (with the TP/CP collectives inside them).
        var busy = 0.0
    }

    struct Outcome {
        var stepSeconds: Double
        var stages: [StageTimeline]
    }

    /// The order in which stage `p` runs its operations: (forward?, k-th of its kind).
    func order(stage p: Int) -> [(forward: Bool, index: Int)] {
        let total = microBatches * interleave
        let warmup: Int
        if interleave == 1 {
            warmup = min(stages - p - 1, total)
        } else {
            warmup = microBatches == stages ? total : min((stages - p - 1) * 2 + (interleave - 1) * stages, total)
        }
        var result: [(forward: Bool, index: Int)] = (0..<warmup).map { (true, $0) }
        for step in 0..<(total - warmup) {
            result.append((true, warmup + step))
            result.append((false, step))
        }
        result += ((total - warmup)..<total).map { (false, $0) }
        return result
    }

    /// Chunk and micro-batch of stage p's k-th forward (or backward).
    func position(stage p: Int, index k: Int, forward: Bool) -> (chunk: Int, microBatch: Int) {
        let group = stages * interleave
        let virtual = interleave == 1 ? 0 : (k / stages) % interleave
        let microBatch = interleave == 1 ? k : (k / group) * stages + k % stages
        let v = forward ? virtual : interleave - 1 - virtual
        return (v * stages + p, microBatch)
    }

    func run() -> Outcome {
        let chunkCount = stages * interleave
        let unset = -1.0
        var forwardDone = [[Double]](repeating: [Double](repeating: unset, count: microBatches), count: chunkCount)
        var backwardDone = forwardDone
        let orders = (0..<stages).map { order(stage: $0) }
        var next = [Int](repeating: 0, count: stages)
        var free = [Double](repeating: 0, count: stages)
        var timelines = [StageTimeline](repeating: StageTimeline(), count: stages)
        // FSDP gathers: issued back to back from 0 in order of first use (chunk v = 0, 1, … on each stage).
        var gathered = [[Double]](repeating: [], count: chunkCount)
        for p in 0..<stages {
            var time = 0.0
            for v in 0..<interleave {
                let g = v * stages + p
                gathered[g] = chunks[g].gather.enumerated().map { unit, seconds in
                    timelines[p].collectives.append((g, unit, true, time, time + seconds))
                    time += seconds
                    return time
                }
            }
        }
        var reduceFree = [Double](repeating: 0, count: stages)
        var progress = true
        while progress {
            progress = false
            for p in 0..<stages {
                while next[p] < orders[p].count {
                    let (isForward, k) = orders[p][next[p]]
                    let (g, m) = position(stage: p, index: k, forward: isForward)
                    let ready: Double
                    if isForward {
                        if g == 0 {
                            ready = 0
                        } else if forwardDone[g - 1][m] >= 0 {
                            ready = forwardDone[g - 1][m] + transferForward
                        } else {
                            break
                        }
                    } else if g == chunkCount - 1 {
                        guard forwardDone[g][m] >= 0 else { break }
                        ready = forwardDone[g][m]
                    } else if backwardDone[g + 1][m] >= 0 {
                        ready = backwardDone[g + 1][m] + transferBackward
                    } else {
                        break
                    }
                    let start = max(ready, free[p])
                    var time = start
                    let chunk = chunks[g]
                    if isForward {
                        if m == 0 {
                            // First use of these weights: each unit waits for its gather.
                            for (unit, seconds) in chunk.forward.enumerated() { time = max(time, gathered[g][unit]) + seconds }
                        } else {
                            time += chunk.forwardSeconds
                        }
                        forwardDone[g][m] = time
                    } else {
                        time += chunk.backwardSeconds
                        backwardDone[g][m] = time
                        if m == microBatches - 1 {
                            // Gradients of each unit are final once its last backward is done (units in reverse).
                            var ready = start
                            for unit in chunk.backward.indices.reversed() {
                                ready += chunk.backward[unit]
                                let begin = max(reduceFree[p], ready)
                                reduceFree[p] = begin + chunk.reduce[unit]
                                timelines[p].collectives.append((g, unit, false, begin, reduceFree[p]))
                            }
                        }
                    }
                    timelines[p].operations.append((g, m, isForward, start, time))
                    timelines[p].busy += isForward ? chunk.forwardSeconds : chunk.backwardSeconds
                    free[p] = time
                    next[p] += 1
                    progress = true
                }
            }
        }
        precondition(zip(next, orders).allSatisfy { $0 == $1.count }, "the pipeline schedule deadlocked")
        var step = 0.0
        for p in 0..<stages {
            timelines[p].optimizerStart = max(free[p], reduceFree[p])
            timelines[p].end = timelines[p].optimizerStart + optimizer[p]
            step = max(step, timelines[p].end)
        }
        return Outcome(stepSeconds: step, stages: timelines)
    }
}
