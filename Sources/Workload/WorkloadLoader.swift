import Foundation
import SchemaXML

/// Reads workload files: XML Schema validation (libxml2: file, line and offending value for
/// every violation), then the checks a schema cannot express: positive sizes, consistent layer
/// shapes, the attributes each interaction and tower-module kind takes, duplicate names and
/// size limits. Collects every problem it can find before throwing, so one run lists them all.
///
/// Format (annotated examples in `workloads/`; schema `workloads/workload.xsd`):
/// ```xml
/// <workload name="tiny">
///   <recommendation>
///     <sparse dimension="16" id-bytes="8" hash-size="40M">     <!-- hash-size: optional default -->
///       <feature name="C1" rows="1460" pooling="1"/>
///       <group name="hist" count="8" min-rows="1M" max-rows="100M" min-pooling="10" max-pooling="100"/>
///     </sparse>
///     <dense features="13"/>
///     <bottom-mlp input="13" widths="512 256 64 16"/>
///     <interaction kind="dot"/>                      <!-- or dcn / wukong, see below -->
///     <top-mlp widths="512 256 1"/>                  <!-- input derived from the interaction -->
///     <tower-module kind="linear" compression="4"/>  <!-- optional; identity when absent -->
///   </recommendation>
///   <training batch-per-gpu="128">
///     <precision embedding="fp32" forward-communication="fp16" backward-communication="bf16" compute="bf16"/>
///     <sparse-optimizer kind="rowwise-adagrad" learning-rate="0.01"/>
///     <dense-optimizer kind="adam" learning-rate="0.001"/>
///   </training>
///   <data><synthetic seed="1" zipf="1.1" groups="4" noise="0.1"/></data>  <!-- optional -->
/// </workload>
/// ```
/// A transformer replaces `<recommendation>` (`workloads/`, `TransformerModel`):
/// ```xml
/// <workload name="llama3-8b">
///   <transformer layers="32" dimension="4096" ffn-dimension="14336" heads="32" kv-heads="8"
///                vocabulary="128000" sequence-length="8192" global-batch-tokens="16777216"/>
///   <training micro-batch="1">                      <!-- sequences per micro-batch; default 1 -->
///     <precision compute="bf16" forward-communication="bf16" backward-communication="bf16" gradient-all-reduce="fp32"/>
///     <dense-optimizer kind="adam" learning-rate="0.0003"/>
///   </training>
/// </workload>
/// ```
/// - Interactions: `dot`; `dcn` with `layers` and optional `rank`; `wukong` with `layers`,
///   `fm-embeddings` (n_F), `lcb-embeddings` (n_L), `fm-rank` (k) and optional `mlp` (FMB hidden widths).
/// - Tower modules: `identity`; `linear`, `mlp` (`hidden`), `wukong` (as the interaction, no
///   `layers`), `dot` — each with `output-width` (d_t) or `compression` (d_t = ⌈F_t·D / c⌉).
/// - MLP `widths` are layer output widths. The bottom MLP's input is the dense feature count and
///   the top MLP's input is the interaction's output width; an `input` attribute, when given, must
///   match (so `input="13" widths="512 256 64 16"` reads like DLRM's `13-512-256-64-16`).
/// - The dense vector (bottom-MLP output, or the raw dense features without a bottom MLP) must be
///   exactly D wide for `dot` (DLRM adds it as one more vector) and a multiple of D for `wukong`.
public enum WorkloadLoader {
    /// Most sparse features after expanding groups (production models have thousands). Checked
    /// before a group is expanded, so a `count="1T"` allocates nothing.
    public static let maximumFeatures = 100_000
    /// Most rows in one table (a trillion).
    public static let maximumTableRows = 1_000_000_000_000
    /// Widest embedding accepted.
    public static let maximumDimension = 65_536
    /// Widest MLP layer or tower output accepted.
    public static let maximumWidth = 1 << 24
    /// Most ids per sample for one feature (long user histories run to thousands).
    public static let maximumPooling = 1_000_000.0
    /// Most cross or Wukong layers.
    public static let maximumLayers = 10_000
    /// Largest batch per GPU accepted.
    public static let maximumBatchPerGPU = 1 << 30
    /// Most tokens in a transformer's global batch (a quadrillion; Llama 3 405B used 16M).
    public static let maximumBatchTokens = 1_000_000_000_000_000
    /// Most samples a synthetic data set may ask for.
    public static let maximumSyntheticSamples = 1_000_000_000_000_000

    /// The compiled workload schema shipped with the module (also at `workloads/workload.xsd`).
    public static func schema() throws(XMLDiagnostics) -> Schema {
        try compiledSchema.get()
    }

    /// Compiled once per process; a `static let` is initialised lazily and thread-safely.
    private static let compiledSchema: Result<Schema, XMLDiagnostics> = {
        guard let url = Bundle.module.url(forResource: "workload", withExtension: "xsd") else {
            return .failure(XMLDiagnostics([
                XMLDiagnostic(
                    location: SourceLocation(file: "workload.xsd", line: 0),
                    message: "the workload schema is missing from the installation; rebuild towerplan")
            ]))
        }
        do throws(XMLDiagnostics) {
            return .success(try Schema(path: url.path, patternHints: [
                #"\s*[+\-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*[kMGT]?\s*"#: "a count: a whole number, optionally with k, M, G or T, such as 1460, 40M or 1.5k",
                #"[A-Za-z_][A-Za-z0-9_.\-]*"#: "a name: letters, digits, _ . and -, not starting with a digit",
            ]))
        } catch {
            return .failure(error)
        }
    }()

    /// Loads and checks the workload file at `path`. A dataset path in it is resolved against the
    /// file's directory.
    public static func load(path: String) throws(XMLDiagnostics) -> Workload {
        let root = try XMLLoader.load(path: path, schema: schema())
        return try interpret(root, file: path)
    }

    /// Parses a workload from memory; `name` stands for the file in messages, and its directory
    /// (the current one for a bare name) resolves a dataset path.
    public static func load(data: Data, name: String) throws(XMLDiagnostics) -> Workload {
        let root = try XMLLoader.load(data: data, name: name, schema: schema())
        return try interpret(root, file: name)
    }

    private static func interpret(_ root: ParsedElement, file: String) throws(XMLDiagnostics) -> Workload {
        let directory = (file as NSString).deletingLastPathComponent
        var reader = WorkloadReader(baseDirectory: directory.isEmpty ? "." : directory)
        let workload = reader.workload(root, file: file)
        guard let workload, reader.problems.isEmpty else {
            throw XMLDiagnostics(reader.problems)
        }
        return workload
    }
}

/// One pass over a validated document. Each method that builds a part records what is wrong and
/// returns nil when it could not build it, so later checks that need that part are skipped
/// rather than reported twice.
private struct WorkloadReader {
    let baseDirectory: String
    var problems: [XMLDiagnostic] = []

    init(baseDirectory: String) { self.baseDirectory = baseDirectory }

    // MARK: Reporting and attribute parsing

    mutating func fail(_ element: ParsedElement, _ message: String) {
        problems.append(XMLDiagnostic(location: element.location, message: message))
    }

    /// `<feature name="C3">` or `<interaction>`: how messages name an element.
    func subject(_ element: ParsedElement) -> String {
        element[attribute: "name"].map { "<\(element.name) name=\"\($0)\">" } ?? "<\(element.name)>"
    }

    /// Reports `name="text"` of `element` with the problem.
    mutating func reject(_ element: ParsedElement, _ name: String, _ text: String, _ problem: String) {
        fail(element, "\(subject(element)): \(name)=\"\(text)\" \(problem)")
    }

    /// The text of attribute `name`; nil when absent, reported when `required`.
    mutating func text(_ element: ParsedElement, _ name: String, required: Bool) -> String? {
        let text = element[attribute: name]
        if text == nil && required { fail(element, "\(subject(element)) needs a \(name) attribute") }
        return text
    }

    mutating func checked(_ value: Int, _ range: ClosedRange<Int>, _ element: ParsedElement, _ name: String, _ text: String) -> Int? {
        if value < range.lowerBound {
            reject(element, name, text, "must be at least \(range.lowerBound)")
            return nil
        }
        if value > range.upperBound {
            reject(element, name, text, "is absurdly large (at most \(range.upperBound))")
            return nil
        }
        return value
    }

    /// A plain integer attribute (xs:integer) within `range`; nil when absent or wrong (reported).
    mutating func integer(_ element: ParsedElement, _ name: String, _ range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let text = text(element, name, required: required) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let value = Int(trimmed) else {
            let digits = trimmed.drop(while: { $0 == "+" || $0 == "-" })
            let overflow = !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
            reject(element, name, text, overflow ? "is absurdly large (at most \(range.upperBound))" : "is not a whole number")
            return nil
        }
        return checked(value, range, element, name, text)
    }

    /// A count attribute with an optional k/M/G/T suffix (`CountSyntax`) within `range`.
    mutating func count(_ element: ParsedElement, _ name: String, _ range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let text = text(element, name, required: required) else { return nil }
        switch CountSyntax.parse(text) {
        case .success(let value):
            return checked(value, range, element, name, text)
        case .failure(.notANumber):
            reject(element, name, text, "is not a count (write e.g. 1460, 40M or 1.5k)")
        case .failure(.notWhole):
            reject(element, name, text, "is not a whole number")
        case .failure(.tooLarge):
            reject(element, name, text, "is absurdly large (at most \(range.upperBound))")
        }
        return nil
    }

    /// A real attribute at least `minimum` (above it when `exclusive`) and at most `maximum`;
    /// refuses NaN and infinities, which xs:double lets through.
    mutating func real(
        _ element: ParsedElement, _ name: String, minimum: Double, exclusive: Bool = false,
        maximum: Double = .greatestFiniteMagnitude, required: Bool = false
    ) -> Double? {
        guard let text = text(element, name, required: required) else { return nil }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            reject(element, name, text, "is not a finite number")
            return nil
        }
        if exclusive ? value <= minimum : value < minimum {
            reject(element, name, text, (exclusive ? "must be greater than " : "must be at least ") + minimum.asWritten)
            return nil
        }
        if value > maximum {
            reject(element, name, text, "is absurdly large (at most \(maximum.asWritten))")
            return nil
        }
        return value
    }

    /// A whitespace-separated list of widths, each in 1…maximumWidth.
    mutating func widths(_ element: ParsedElement, _ name: String, required: Bool = false) -> [Int]? {
        guard let text = text(element, name, required: required) else { return nil }
        var result: [Int] = []
        for item in text.split(whereSeparator: \.isWhitespace) {
            guard let value = Int(item), (1...WorkloadLoader.maximumWidth).contains(value) else {
                reject(element, name, text, "has width '\(item)'; every width must be between 1 and \(WorkloadLoader.maximumWidth)")
                return nil
            }
            result.append(value)
        }
        return result
    }

    /// An enumerated attribute; `fallback` when absent. The schema lists the values too.
    mutating func choice<Value: RawRepresentable & CaseIterable>(_ element: ParsedElement, _ name: String, default fallback: Value? = nil)
        -> Value? where Value.RawValue == String
    {
        guard let text = text(element, name, required: fallback == nil) else { return fallback }
        guard let value = Value(rawValue: text) else {
            reject(element, name, text, "is not one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// Reports attributes the element's `kind` does not take.
    mutating func rejectAttributes(of element: ParsedElement, notIn allowed: Set<String>, kind: String) {
        for attribute in element.attributes where attribute.name != "kind" && !allowed.contains(attribute.name) {
            reject(element, attribute.name, attribute.value, "does not apply to kind '\(kind)'"
                + (allowed.isEmpty ? ", which takes no other attributes" : " (it takes \(allowed.sorted().joined(separator: ", ")))"))
        }
    }

    mutating func child(_ parent: ParsedElement, _ name: String) -> ParsedElement? {
        guard let element = parent.children(named: name).first else {
            fail(parent, "<\(parent.name)> has no <\(name)>")
            return nil
        }
        return element
    }

    // MARK: Document

    mutating func workload(_ root: ParsedElement, file: String) -> Workload? {
        guard root.name == "workload" else {
            fail(root, "expected a <workload> root element, found <\(root.name)>")
            return nil
        }
        // The schema admits exactly one model element.
        let transformerElement = root.children(named: "transformer").first
        let model: Workload.Model?
        if let transformerElement {
            model = transformerModel(transformerElement).map { .transformer($0) }
        } else {
            model = child(root, "recommendation").flatMap { recommendationModel($0) }.map { .recommendation($0) }
        }
        let training = child(root, "training").flatMap { trainingSetup($0, transformer: transformerElement != nil) }
        let dataElement = root.children(named: "data").first
        let data = dataElement.flatMap { dataSource($0) }
        guard let model, let training, dataElement == nil || data != nil else { return nil }
        return Workload(
            name: root[attribute: "name"] ?? "workload", description: root[attribute: "description"],
            model: model, training: training, data: data, file: file)
    }

    // MARK: Transformer

    /// Architecture, sequence length and global batch; heads must split the model dimension,
    /// KV heads must split the heads, and the global batch must be whole sequences.
    mutating func transformerModel(_ element: ParsedElement) -> TransformerModel? {
        let problemsBefore = problems.count
        let widthRange = 1...WorkloadLoader.maximumWidth
        let layers = integer(element, "layers", 1...WorkloadLoader.maximumLayers, required: true)
        let dimension = integer(element, "dimension", widthRange, required: true)
        let ffn = integer(element, "ffn-dimension", widthRange, required: true)
        let heads = integer(element, "heads", widthRange, required: true)
        let kvHeads = integer(element, "kv-heads", widthRange, required: true)
        let vocabulary = count(element, "vocabulary", widthRange, required: true)
        let sequence = count(element, "sequence-length", widthRange, required: true)
        let batch = count(element, "global-batch-tokens", 1...WorkloadLoader.maximumBatchTokens, required: true)
        guard let layers, let dimension, let ffn, let heads, let kvHeads, let vocabulary, let sequence, let batch,
            problems.count == problemsBefore
        else { return nil }
        if dimension % heads != 0 {
            fail(element, "<transformer>: dimension=\"\(dimension)\" is not a multiple of heads=\"\(heads)\"; each head takes dimension / heads values")
        }
        if heads % kvHeads != 0 {
            fail(element, "<transformer>: heads=\"\(heads)\" is not a multiple of kv-heads=\"\(kvHeads)\"; grouped-query attention shares each K/V head among heads / kv-heads query heads")
        }
        if batch % sequence != 0 {
            fail(element, "<transformer>: global-batch-tokens=\"\(batch)\" is not a whole number of \(sequence)-token sequences; use a multiple of sequence-length, e.g. \(max(1, batch / sequence) * sequence)")
        }
        guard problems.count == problemsBefore else { return nil }
        return TransformerModel(
            layers: layers, dimension: dimension, ffnDimension: ffn, heads: heads, kvHeads: kvHeads, vocabulary: vocabulary,
            sequenceLength: sequence, globalBatchTokens: batch)
    }

    // MARK: Recommendation model

    mutating func recommendationModel(_ element: ParsedElement) -> RecommendationModel? {
        guard let sparse = child(element, "sparse") else { return nil }
        let dimension = integer(sparse, "dimension", 1...WorkloadLoader.maximumDimension, required: true)
        let features = sparseFeatures(sparse, dimension: dimension ?? 1)
        let dense = element.children(named: "dense").first
        let denseFeatures = dense == nil ? 0 : dense.flatMap { integer($0, "features", 0...WorkloadLoader.maximumWidth, required: true) }
        let bottom = element.children(named: "bottom-mlp").first
        let bottomMLP = bottom.flatMap { self.bottomMLP($0, denseFeatures: denseFeatures) }
        let interactionElement = child(element, "interaction")
        let interaction = interactionElement.flatMap { self.interaction($0) }
        let towerElement = element.children(named: "tower-module").first
        let towerModule = towerElement == nil ? TowerModule.identity : towerElement.flatMap { self.towerModule($0) }
        let topElement = child(element, "top-mlp")
        let topWidths = topElement.flatMap { widths($0, "widths", required: true) }

        // Shapes that depend on several parts are checked only when those parts are sound.
        guard let dimension, let features, let denseFeatures, bottom == nil || bottomMLP != nil,
            let interactionElement, let interaction, let towerModule, let topElement, let topWidths
        else { return nil }
        let denseWidth = bottomMLP?.outputWidth ?? denseFeatures
        let denseSource = bottom ?? dense ?? interactionElement
        switch interaction {
        case .dot where denseWidth != 0 && denseWidth != dimension:
            fail(denseSource, bottomMLP == nil
                ? "\(denseFeatures) dense features cannot join a dot interaction directly: add a <bottom-mlp> ending at the embedding dimension \(dimension)"
                : "the bottom MLP ends at width \(denseWidth), but a dot interaction needs the embedding dimension \(dimension) (DLRM adds the dense vector as one more D-wide vector)")
            return nil
        case .wukong where denseWidth % dimension != 0:
            fail(denseSource, "the dense vector is \(denseWidth) wide, but a Wukong interaction needs a multiple of the embedding dimension \(dimension) (it is cut into D-wide embeddings)")
            return nil
        default:
            break
        }
        let input = InteractionInput(embeddings: features.count, dimension: dimension, denseWidth: denseWidth)
        let topInput = interaction.outputWidth(input)
        if let given = integer(topElement, "input", 1...Int.max), given != topInput {
            fail(topElement, "<top-mlp>: input=\"\(given)\" but the \(interaction.kind) interaction produces \(topInput) values per sample"
                + " from \(input.embeddings) embeddings of width \(dimension) and a dense vector of width \(denseWidth); fix input or drop it to have it derived")
            return nil
        }
        return RecommendationModel(
            embeddingDimension: dimension, features: features, denseFeatures: denseFeatures, bottomMLP: bottomMLP,
            interaction: interaction, topMLP: MLP(inputWidth: topInput, layerWidths: topWidths), towerModule: towerModule)
    }

    /// Features and expanded groups, with a duplicate name reported once per declaring element.
    mutating func sparseFeatures(_ sparse: ParsedElement, dimension: Int) -> [SparseFeature]? {
        let idBytes = integer(sparse, "id-bytes", 4...8) ?? 8
        let rowRange = 1...WorkloadLoader.maximumTableRows
        let defaultHashSize = count(sparse, "hash-size", rowRange)
        var features: [SparseFeature] = []
        var firstUse: [String: SourceLocation] = [:]
        let problemsBefore = problems.count
        for element in sparse.children {
            let name = text(element, "name", required: true) ?? ""
            let hashSize = element[attribute: "hash-size"] == nil ? defaultHashSize : count(element, "hash-size", rowRange)
            let members: [SparseFeature]
            switch element.name {
            case "feature":
                let rows = count(element, "rows", rowRange, required: true)
                let pooling = element[attribute: "pooling"] == nil
                    ? 1 : real(element, "pooling", minimum: 1, maximum: WorkloadLoader.maximumPooling)
                guard let rows, let pooling else { continue }
                members = [SparseFeature(
                    name: name, rows: rows, hashSize: hashSize, dimension: dimension, pooling: pooling, idBytes: idBytes,
                    location: element.location)]
            case "group":
                guard let spread = groupSpread(element, alreadyDeclared: features.count) else { continue }
                members = (0..<spread.count).map { index in
                    SparseFeature(
                        name: FeatureGroupSpread.memberName(group: name, index: index), rows: spread.rows(ofMember: index),
                        hashSize: hashSize, dimension: dimension, pooling: spread.pooling(ofMember: index), idBytes: idBytes,
                        group: name, location: element.location)
                }
            default:
                fail(element, "unexpected element <\(element.name)> in <sparse>")
                continue
            }
            if let clash = members.first(where: { firstUse[$0.name] != nil }), let first = firstUse[clash.name] {
                fail(element, "\(subject(element)): feature name '\(clash.name)' is already used at \(first)")
            }
            for member in members where firstUse[member.name] == nil { firstUse[member.name] = member.location }
            features += members
        }
        return problems.count == problemsBefore ? features : nil
    }

    /// A group's count, rows and pooling, refusing a count that would take the model past
    /// `maximumFeatures` before anything is allocated.
    mutating func groupSpread(_ element: ParsedElement, alreadyDeclared: Int) -> FeatureGroupSpread? {
        let limit = WorkloadLoader.maximumFeatures
        guard let count = count(element, "count", 1...limit, required: true) else { return nil }
        if alreadyDeclared + count > limit {
            reject(element, "count", element[attribute: "count"] ?? "", "takes the model past \(limit) sparse features")
            return nil
        }
        let rowRange = 1...WorkloadLoader.maximumTableRows
        let rows = range(element, single: "rows", low: "min-rows", high: "max-rows", required: true) { reader, name in
            reader.count(element, name, rowRange).map(Double.init)
        }
        let pooling = range(element, single: "pooling", low: "min-pooling", high: "max-pooling", required: false) { reader, name in
            reader.real(element, name, minimum: 1, maximum: WorkloadLoader.maximumPooling)
        }
        guard let rows, let pooling else { return nil }
        return FeatureGroupSpread(count: count, rows: Int(rows.lowerBound)...Int(rows.upperBound), pooling: pooling)
    }

    /// Attribute `single`, or the pair `low`/`high` with low ≤ high, as a closed range; 1…1 when
    /// none is given and the value is optional.
    mutating func range(
        _ element: ParsedElement, single: String, low: String, high: String, required: Bool,
        parse: (inout WorkloadReader, String) -> Double?
    ) -> ClosedRange<Double>? {
        switch (element[attribute: single] != nil, element[attribute: low] != nil, element[attribute: high] != nil) {
        case (true, false, false):
            return parse(&self, single).map { $0...$0 }
        case (false, true, true):
            let lower = parse(&self, low), upper = parse(&self, high)
            guard let lower, let upper else { return nil }
            guard lower <= upper else {
                fail(element, "\(subject(element)): \(low)=\"\(element[attribute: low] ?? "")\" is above \(high)=\"\(element[attribute: high] ?? "")\"")
                return nil
            }
            return lower...upper
        case (false, false, false) where !required:
            return 1...1
        default:
            fail(element, "\(subject(element)): give either \(single), or both \(low) and \(high)")
            return nil
        }
    }

    mutating func bottomMLP(_ element: ParsedElement, denseFeatures: Int?) -> MLP? {
        let layerWidths = widths(element, "widths", required: true)
        let given = integer(element, "input", 1...WorkloadLoader.maximumWidth)
        guard let layerWidths, let denseFeatures else { return nil }
        guard denseFeatures > 0 else {
            fail(element, "a <bottom-mlp> needs dense features: add <dense features=\"…\"/> before it, or remove it")
            return nil
        }
        if let given, given != denseFeatures {
            fail(element, "<bottom-mlp>: input=\"\(given)\" but the model has \(denseFeatures) dense features")
            return nil
        }
        return MLP(inputWidth: denseFeatures, layerWidths: layerWidths)
    }

    // MARK: Interaction and tower module

    static let interactionKinds = ["dot", "dcn", "wukong"]
    static let wukongLayerAttributes: Set<String> = ["fm-embeddings", "lcb-embeddings", "fm-rank", "mlp"]

    mutating func interaction(_ element: ParsedElement) -> Interaction? {
        let kind = text(element, "kind", required: true) ?? ""
        let layerRange = 1...WorkloadLoader.maximumLayers
        let problemsBefore = problems.count
        let interaction: Interaction?
        switch kind {
        case "dot":
            rejectAttributes(of: element, notIn: [], kind: kind)
            interaction = .dot
        case "dcn":
            rejectAttributes(of: element, notIn: ["layers", "rank"], kind: kind)
            let layers = integer(element, "layers", layerRange, required: true)
            let rank = integer(element, "rank", 1...WorkloadLoader.maximumWidth)
            interaction = layers.map { .dcn(CrossNetwork(layers: $0, rank: rank)) }
        case "wukong":
            rejectAttributes(of: element, notIn: Self.wukongLayerAttributes.union(["layers"]), kind: kind)
            let layers = integer(element, "layers", layerRange, required: true)
            let layer = wukongLayer(element)
            interaction = layers.flatMap { layers in layer.map { .wukong(layers: layers, layer: $0) } }
        default:
            fail(element, "<interaction>: unknown kind '\(kind)' (known: \(Self.interactionKinds.joined(separator: ", ")))")
            interaction = nil
        }
        return problems.count == problemsBefore ? interaction : nil
    }

    /// n_F, n_L, k (each at least 1) and the FMB hidden widths (none when `mlp` is absent).
    mutating func wukongLayer(_ element: ParsedElement) -> WukongLayer? {
        let range = 1...WorkloadLoader.maximumFeatures
        let fm = integer(element, "fm-embeddings", range, required: true)
        let lcb = integer(element, "lcb-embeddings", range, required: true)
        let rank = integer(element, "fm-rank", range, required: true)
        let hidden = element[attribute: "mlp"] == nil ? [] : widths(element, "mlp")
        guard let fm, let lcb, let rank, let hidden else { return nil }
        return WukongLayer(fmEmbeddings: fm, lcbEmbeddings: lcb, fmRank: rank, mlpHidden: hidden)
    }

    static let towerKinds = ["identity", "linear", "mlp", "wukong", "dot"]

    mutating func towerModule(_ element: ParsedElement) -> TowerModule? {
        let kind = text(element, "kind", required: true) ?? ""
        let outputAttributes: Set<String> = ["output-width", "compression"]
        let problemsBefore = problems.count
        let module: TowerModule.Kind?
        switch kind {
        case "identity":
            rejectAttributes(of: element, notIn: [], kind: kind)
            return problems.count == problemsBefore ? .identity : nil
        case "linear", "dot":
            rejectAttributes(of: element, notIn: outputAttributes, kind: kind)
            module = kind == "linear" ? .linear : .dot
        case "mlp":
            rejectAttributes(of: element, notIn: outputAttributes.union(["hidden"]), kind: kind)
            module = widths(element, "hidden", required: true).map { .mlp(hidden: $0) }
        case "wukong":
            rejectAttributes(of: element, notIn: outputAttributes.union(Self.wukongLayerAttributes), kind: kind)
            module = wukongLayer(element).map { .wukong($0) }
        default:
            fail(element, "<tower-module>: unknown kind '\(kind)' (known: \(Self.towerKinds.joined(separator: ", ")))")
            return nil
        }
        let output: TowerModule.OutputWidth?
        switch (element[attribute: "output-width"] != nil, element[attribute: "compression"] != nil) {
        case (true, false):
            output = integer(element, "output-width", 1...WorkloadLoader.maximumWidth).map { .absolute($0) }
        case (false, true):
            output = real(element, "compression", minimum: 1, maximum: Double(WorkloadLoader.maximumWidth)).map { .compression($0) }
        case (true, true):
            fail(element, "<tower-module>: give output-width or compression, not both")
            output = nil
        case (false, false):
            fail(element, "<tower-module>: kind '\(kind)' needs its output width d_t: output-width=\"64\", or compression=\"4\" for d_t = ⌈F_t·D/4⌉")
            output = nil
        }
        guard let module, let output, problems.count == problemsBefore else { return nil }
        return TowerModule(kind: module, output: output)
    }

    // MARK: Training and data

    /// `<training>` of either model kind. A recommendation model needs `batch-per-gpu` and a
    /// `<sparse-optimizer>`; a transformer sets its batch in tokens on `<transformer>`, takes an
    /// optional `micro-batch` (default 1 sequence) and trains its embedding with the dense optimizer.
    mutating func trainingSetup(_ element: ParsedElement, transformer: Bool) -> TrainingSetup? {
        let problemsBefore = problems.count
        let batchRange = 1...WorkloadLoader.maximumBatchPerGPU
        let batch: Int?
        if transformer {
            if let text = element[attribute: "batch-per-gpu"] {
                reject(element, "batch-per-gpu", text, "does not apply to a transformer, whose batch is global-batch-tokens on <transformer>; use micro-batch for the sequences per micro-batch")
            }
            batch = element[attribute: "micro-batch"] == nil ? 1 : integer(element, "micro-batch", batchRange)
        } else {
            if let text = element[attribute: "micro-batch"] {
                reject(element, "micro-batch", text, "applies to transformers only; a recommendation model sets batch-per-gpu")
            }
            batch = integer(element, "batch-per-gpu", batchRange, required: true)
        }
        var precisions = Precisions()
        if let precision = element.children(named: "precision").first {
            precisions = Precisions(
                embedding: choice(precision, "embedding", default: .fp32) ?? .fp32,
                forwardCommunication: choice(precision, "forward-communication", default: .fp32) ?? .fp32,
                backwardCommunication: choice(precision, "backward-communication", default: .fp32) ?? .fp32,
                compute: choice(precision, "compute", default: .fp32) ?? .fp32,
                gradientAllReduce: choice(precision, "gradient-all-reduce", default: .fp32) ?? .fp32)
        }
        let dense = optimizer(element, "dense-optimizer", DenseOptimizer.init(kind:learningRate:))
        let sparse: SparseOptimizer?
        if transformer {
            if let extra = element.children(named: "sparse-optimizer").first {
                fail(extra, "a transformer has no sparse features: its token embedding is trained by the <dense-optimizer>; remove <sparse-optimizer>")
            }
            sparse = dense.flatMap { dense in
                SparseOptimizer.Kind(rawValue: dense.kind.rawValue).map { SparseOptimizer(kind: $0, learningRate: dense.learningRate) }
            }
        } else {
            sparse = optimizer(element, "sparse-optimizer", SparseOptimizer.init(kind:learningRate:))
        }
        guard let batch, let sparse, let dense, problems.count == problemsBefore else { return nil }
        return TrainingSetup(batchPerGPU: batch, precisions: precisions, sparseOptimizer: sparse, denseOptimizer: dense)
    }

    /// `<… kind="…" learning-rate="…"/>` with a positive learning rate.
    mutating func optimizer<Kind: RawRepresentable & CaseIterable, Optimizer>(
        _ parent: ParsedElement, _ name: String, _ make: (Kind, Double) -> Optimizer
    ) -> Optimizer? where Kind.RawValue == String {
        guard let element = child(parent, name) else { return nil }
        let kind: Kind? = choice(element, "kind")
        let learningRate = real(element, "learning-rate", minimum: 0, exclusive: true, required: true)
        guard let kind, let learningRate else { return nil }
        return make(kind, learningRate)
    }

    mutating func dataSource(_ element: ParsedElement) -> DataSource? {
        let problemsBefore = problems.count
        if let synthetic = element.children(named: "synthetic").first {
            let seedText = text(synthetic, "seed", required: true) ?? "0"
            let seed = UInt64(seedText.trimmingCharacters(in: .whitespaces))
            if seed == nil { reject(synthetic, "seed", seedText, "is not a whole number from 0 to \(UInt64.max)") }
            let samples = count(synthetic, "samples", 1...WorkloadLoader.maximumSyntheticSamples)
            let zipf = real(synthetic, "zipf", minimum: 0)
            let groups = integer(synthetic, "groups", 1...WorkloadLoader.maximumFeatures)
            let noise = real(synthetic, "noise", minimum: 0)
            guard let seed, problems.count == problemsBefore else { return nil }
            return .synthetic(SyntheticData(
                seed: seed, samples: samples, zipfExponent: zipf, groups: groups, noise: noise, location: synthetic.location))
        }
        if let dataset = element.children(named: "dataset").first {
            let format: DatasetFile.Format? = choice(dataset, "format")
            let path = text(dataset, "path", required: true) ?? ""
            guard let format, problems.count == problemsBefore else { return nil }
            let resolved = path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path)
            return .dataset(DatasetFile(format: format, path: resolved, location: dataset.location))
        }
        fail(element, "<data> needs a <synthetic> or a <dataset>")
        return nil
    }
}

extension Double {
    /// 0.1 → "0.1", 1 → "1": numbers in messages as a person writes them.
    fileprivate var asWritten: String {
        self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }
}
