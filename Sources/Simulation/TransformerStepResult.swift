/// What one simulated transformer step cost, and where the time went.
public struct TransformerStepResult: Sendable {
    /// One distinct collective of the step, costed once with all its groups running together.
    public struct Collective: Sendable, Hashable, Codable {
        public let dimension: ParallelDimension
        public let operation: String
        /// Concurrent groups and the size of the largest.
        public let groups: Int
        public let groupSize: Int
        /// The full buffer per rank (the gathered size for an all-gather), bytes.
        public let bufferBytes: Double
        /// Time of one run, seconds.
        public let seconds: Double
        /// Runs per step, averaged over the job's GPUs that take part.
        public var perStep: Double
    }

    /// When one stage (any of its GPUs) computed and communicated.
    public struct StageTimeline: Sendable {
        public struct Operation: Sendable, Hashable {
            /// Chunk (virtual stage) g = v·PP + p and micro-batch.
            public let chunk: Int
            public let microBatch: Int
            public let isForward: Bool
            public let start: Double
            public let finish: Double
        }
        public struct Transfer: Sendable, Hashable {
            public let chunk: Int
            /// Unit inside the chunk: a block, or the embedding / head.
            public let unit: Int
            /// FSDP weight all-gather (true) or gradient reduce-scatter.
            public let isGather: Bool
            public let start: Double
            public let finish: Double
        }
        public let operations: [Operation]
        public let transfers: [Transfer]
        public let optimizerStart: Double
        public let end: Double

        init(_ timeline: TransformerPipeline.StageTimeline) {
            operations = timeline.operations.map {
                Operation(chunk: $0.chunk, microBatch: $0.microBatch, isForward: $0.forward, start: $0.start, finish: $0.finish)
            }
            transfers = timeline.collectives.map {
                Transfer(chunk: $0.chunk, unit: $0.unit, isGather: $0.gather, start: $0.start, finish: $0.finish)
            }
            optimizerStart = timeline.optimizerStart
            end = timeline.end
        }
    }

    public let job: TransformerJob
    /// Accelerator model id and its dense peak in the compute format, FLOP/s.
    public let device: String
    public let peakFLOPS: Double
    public let stepSeconds: Double
    /// Model FLOPs of the step (`TransformerModel.trainingFLOPs`), the numerator of MFU.
    public let modelFLOPs: Double
    /// On the busiest stage: forward and backward compute with the TP and CP time inside it,
    /// the pipeline bubble (idle with all communication free), and the optimizer.
    public let computeSeconds: Double
    public let bubbleSeconds: Double
    public let optimizerSeconds: Double
    public let busiestStage: Int
    /// (PP − 1)/(V·M): the bubble over the compute for equal stages, for comparison.
    public let idealBubbleFraction: Double
    /// How much shorter the step would be if a dimension's communication were free.
    public let exposedSecondsByDimension: [ParallelDimension: Double]
    public let collectives: [Collective]
    /// Memory of the stage that needs the most, and the device's capacity.
    public let memory: TransformerMemory
    public let memoryCapacity: Double
    /// Bytes per GPU crossing each level's boundary in one step (level name → bytes).
    public let bytesPerGPUByLevel: [String: Double]
    /// Link directions by bytes / (bandwidth × step), highest first.
    public let busiestLinks: [StepResult.LinkLoad]
    /// One timeline per pipeline stage.
    public let stages: [StageTimeline]

    /// Global batch tokens / step time.
    public var tokensPerSecond: Double { stepSeconds > 0 ? Double(job.model.globalBatchTokens) / stepSeconds : 0 }
    /// Model FLOP/s per GPU.
    public var flopsPerGPU: Double { stepSeconds > 0 ? modelFLOPs / stepSeconds / Double(job.gpus) : 0 }
    /// Model FLOPs utilisation: flopsPerGPU over the device's dense peak in the compute format.
    public var mfu: Double { peakFLOPS > 0 ? flopsPerGPU / peakFLOPS : 0 }
}
