/// A dense decoder-only transformer in the Llama style: pre-norm RMSNorm, grouped-query attention
/// with rotary positions, a SwiGLU feed-forward block, untied input embedding and output head.
///
/// What a step costs follows from these few numbers; the counts below are exact for that
/// architecture (Llama 3 paper, arXiv 2407.21783, Table 3), and the FLOP rule is the module's
/// (`MLP`): a multiply-add is 2 FLOPs, element-wise work is counted as memory traffic, not FLOPs.
public struct TransformerModel: Sendable, Hashable {
    /// Transformer blocks L.
    public var layers: Int
    /// Model (hidden) dimension d.
    public var dimension: Int
    /// Inner width f of the SwiGLU feed-forward block (three d×f matrices: gate, up, down).
    public var ffnDimension: Int
    /// Query heads; the head dimension is d / heads.
    public var heads: Int
    /// Key/value heads (grouped-query attention; equal to `heads` for multi-head attention).
    public var kvHeads: Int
    /// Vocabulary size V of the embedding and the output head.
    public var vocabulary: Int
    /// Tokens per training sequence s (the attention context).
    public var sequenceLength: Int
    /// Tokens per optimizer step over the whole job (the Llama 3 paper's "batch size").
    public var globalBatchTokens: Int

    public init(
        layers: Int, dimension: Int, ffnDimension: Int, heads: Int, kvHeads: Int, vocabulary: Int, sequenceLength: Int,
        globalBatchTokens: Int
    ) {
        self.layers = layers
        self.dimension = dimension
        self.ffnDimension = ffnDimension
        self.heads = heads
        self.kvHeads = kvHeads
        self.vocabulary = vocabulary
        self.sequenceLength = sequenceLength
        self.globalBatchTokens = globalBatchTokens
    }

    /// d / heads.
    public var headDimension: Int { dimension / heads }
    /// Width of K (and of V): kvHeads · headDimension.
    public var kvDimension: Int { kvHeads * headDimension }
    /// Sequences per step: globalBatchTokens / sequenceLength (the loader checks it divides).
    public var globalBatchSequences: Int { globalBatchTokens / sequenceLength }

    // MARK: Parameters

    /// Weights of one block that take part in matrix products: Q, K, V and output projections,
    /// d·(d + 2·kvDimension) + d·d, plus the SwiGLU block's 3·d·f.
    public var layerMatrixParameters: Double {
        let d = Double(dimension)
        return d * (d + 2 * Double(kvDimension)) + d * d + 3 * d * Double(ffnDimension)
    }

    /// All weights of one block: the matrices and the two RMSNorm gains (2·d).
    public var layerParameters: Double { layerMatrixParameters + 2 * Double(dimension) }

    /// V·d: the input embedding, and the same again for the (untied) output head.
    public var embeddingParameters: Double { Double(vocabulary) * Double(dimension) }

    /// L · layerParameters + 2·V·d (embedding and head) + d (the final RMSNorm):
    /// 405,845,000,192 for Llama 3 405B with V = 128,000.
    public var parameterCount: Double {
        Double(layers) * layerParameters + 2 * embeddingParameters + Double(dimension)
    }

    // MARK: FLOPs

    /// Forward FLOPs of one block per token, matrix products only: 2 · layerMatrixParameters.
    public var layerForwardMatrixFLOPsPerToken: Double { 2 * layerMatrixParameters }

    /// Forward FLOPs of one block's attention core (Q·Kᵀ and the weighted sum of V) per token,
    /// averaged over a causal sequence of `sequenceLength` tokens.
    ///
    /// - Formula: each query–key pair costs 2·d for the score and 2·d for the weighted value (all
    ///   query heads attend; grouped-query attention shares K and V but not this work). A causal
    ///   mask keeps s²/2 of the s² pairs (the factor FlashAttention's kernels skip), so per token
    ///   4·d·s / 2 = **2·d·s**.
    public func attentionForwardFLOPsPerToken(sequenceLength: Int) -> Double {
        2 * Double(dimension) * Double(sequenceLength)
    }

    /// Forward FLOPs of the output head per token: 2·V·d. The input embedding is a lookup (no FLOPs).
    public var headForwardFLOPsPerToken: Double { 2 * embeddingParameters }

    /// Model FLOPs of one training step's forward and backward for `tokens` tokens in sequences of
    /// `sequenceLength`: what MFU divides by (recomputation, if any, is not counted).
    ///
    /// - Formula: backward = 2 × forward for every product (input and weight gradients), so
    ///   3 · tokens · (L · (2·matrixParameters + 2·d·s) + 2·V·d)
    ///   = 6·N_matrix·tokens + 6·L·d·s·tokens, where N_matrix counts the blocks' matrices and the
    ///   head; this is the usual 6·N·D estimate plus PaLM's attention term 12·L·d·s halved for the
    ///   causal mask.
    public func trainingFLOPs(tokens: Double, sequenceLength: Int) -> Double {
        let perLayer = layerForwardMatrixFLOPsPerToken + attentionForwardFLOPsPerToken(sequenceLength: sequenceLength)
        return 3 * tokens * (Double(layers) * perLayer + headForwardFLOPsPerToken)
    }

    // MARK: Memory traffic and activations

    /// Values one block stores per token for its backward pass, without recomputation:
    /// 6·d + 2·kvDimension + 3·f.
    ///
    /// - Formula: RMSNorm inputs (2·d), the inputs of the QKV and gate/up products (2·d), Q, K and V
    ///   (d + 2·kvDimension), the attention output that feeds the output projection (d), the
    ///   gate and up outputs SwiGLU needs (2·f) and its product feeding the down projection (f).
    ///   The score matrix is not stored (FlashAttention keeps only a log-sum-exp per row), and
    ///   Llama has no dropout masks. The same inventory as Korthikanti et al. 2022 (§4.1) for a GPT
    ///   block, redone for GQA and SwiGLU.
    public var storedActivationValuesPerToken: Double {
        6 * Double(dimension) + 2 * Double(kvDimension) + 3 * Double(ffnDimension)
    }

    /// Values one block's element-wise kernels read and write per token in the forward pass:
    /// 12·d + 2·kvDimension + 3·f.
    ///
    /// - Formula: two RMSNorms (read d, write d: 4·d), two residual adds (read 2·d, write d: 6·d),
    ///   rotary embedding of Q and K (read and write d + kvDimension: 2·d + 2·kvDimension), SwiGLU
    ///   (read 2·f, write f). The attention kernel's own reads and writes belong to its
    ///   arithmetic-bound run and are not counted. Backward moves about twice this.
    public var elementwiseForwardValuesPerToken: Double {
        12 * Double(dimension) + 2 * Double(kvDimension) + 3 * Double(ffnDimension)
    }
}
