import Foundation
import Topology

/// What a planner report says, as plain values: the CLI fills it from the planner's and the
/// simulator's results (this module knows neither, DESIGN §2), and `document()` lays it out.
public struct PlanReport: Sendable {
    /// One simulated step as the report shows it.
    public struct Step: Sendable {
        public struct Phase: Sendable {
            public var name: String
            public var isCommunication: Bool
            public var seconds: Double
            public var exposedSeconds: Double

            public init(name: String, isCommunication: Bool, seconds: Double, exposedSeconds: Double) {
                self.name = name
                self.isCommunication = isCommunication
                self.seconds = seconds
                self.exposedSeconds = exposedSeconds
            }
        }

        public struct Link: Sendable {
            public var from: String
            public var to: String
            public var medium: String?
            public var bandwidth: Double
            public var bytes: Double
            public var utilization: Double

            public init(from: String, to: String, medium: String?, bandwidth: Double, bytes: Double, utilization: Double) {
                self.from = from
                self.to = to
                self.medium = medium
                self.bandwidth = bandwidth
                self.bytes = bytes
                self.utilization = utilization
            }
        }

        /// "flat, tw" or "DMT: 64 towers on host, …".
        public var label: String
        /// The simulator's one-line summary of the layout.
        public var summary: String
        public var stepSeconds: Double
        public var samplesPerSecond: Double
        public var phases: [Phase]
        /// Time the slowest GPU waits for slower participants.
        public var idleSeconds: Double
        /// Level name → bytes per GPU crossing it per step.
        public var bytesPerGPUByLevel: [String: Double]
        public var busiestLinks: [Link]

        public init(
            label: String, summary: String, stepSeconds: Double, samplesPerSecond: Double, phases: [Phase], idleSeconds: Double,
            bytesPerGPUByLevel: [String: Double], busiestLinks: [Link]
        ) {
            self.label = label
            self.summary = summary
            self.stepSeconds = stepSeconds
            self.samplesPerSecond = samplesPerSecond
            self.phases = phases
            self.idleSeconds = idleSeconds
            self.bytesPerGPUByLevel = bytesPerGPUByLevel
            self.busiestLinks = busiestLinks
        }
    }

    /// One row of the candidate table.
    public struct Candidate: Sendable {
        public var layout: String
        public var stepSeconds: Double?
        /// Flat baseline step / this step.
        public var speedup: Double?
        public var imbalance: Double?
        public var capturedAffinity: Double?
        public var auc: Double?
        public var reason: String
        /// Short label of the outcome ("best", "slower", "imbalance bound", …) for counting.
        public var outcome: String

        public init(
            layout: String, stepSeconds: Double?, speedup: Double?, imbalance: Double?, capturedAffinity: Double?, auc: Double?, reason: String,
            outcome: String
        ) {
            self.layout = layout
            self.stepSeconds = stepSeconds
            self.speedup = speedup
            self.imbalance = imbalance
            self.capturedAffinity = capturedAffinity
            self.auc = auc
            self.reason = reason
            self.outcome = outcome
        }
    }

    /// One tower of the best plan.
    public struct Tower: Sendable {
        public var tower: Int
        public var domain: Int
        /// Path of the domain in the cluster (`rack[3]/host[1]`).
        public var domainPath: String
        public var features: [String]
        /// Cost / mean tower cost (1 is perfect balance).
        public var relativeCost: Double
        /// Tables and optimizer state, bytes.
        public var memoryBytes: Double
        public var outputWidth: Int

        public init(tower: Int, domain: Int, domainPath: String, features: [String], relativeCost: Double, memoryBytes: Double, outputWidth: Int) {
            self.tower = tower
            self.domain = domain
            self.domainPath = domainPath
            self.features = features
            self.relativeCost = relativeCost
            self.memoryBytes = memoryBytes
            self.outputWidth = outputWidth
        }
    }

    /// The plan re-simulated on a scaled variant of the cluster.
    public struct ScalingPoint: Sendable {
        public var gpus: Int
        public var flatSeconds: Double?
        public var towersSeconds: Double?
        /// What was simulated ("32 towers") or why not.
        public var detail: String

        public init(gpus: Int, flatSeconds: Double?, towersSeconds: Double?, detail: String) {
            self.gpus = gpus
            self.flatSeconds = flatSeconds
            self.towersSeconds = towersSeconds
            self.detail = detail
        }

        public var speedup: Double? {
            guard let flatSeconds, let towersSeconds, towersSeconds > 0 else { return nil }
            return flatSeconds / towersSeconds
        }
    }

    public var clusterName: String
    public var workloadName: String
    public var gpus: Int
    /// The best flat layout.
    public var flat: Step
    /// The best DMT plan; nil when no candidate met the constraints.
    public var towers: Step?
    /// Level whose domains hold the towers, the domain count, the balance bound (1 + ε).
    public var towerLevel: String?
    public var domainCount: Int
    public var balanceBound: Double
    public var towerTable: [Tower]
    public var candidates: [Candidate]
    /// "N candidates, P partitions, S simulations in X s".
    public var searchSummary: String
    public var scaling: [ScalingPoint]
    public var scalingMethod: String
    /// Lines on how the embeddings were learned (training steps, throughput, AUC, log-loss).
    public var embeddings: [String]
    public var assumptions: [String]
    /// Shell commands that reproduce the report's step numbers.
    public var reproduce: [String]
    /// The Graphviz drawing of the cluster with the towers coloured onto their domains.
    public var diagramSVG: String?
    public var notes: [String]
    /// Level names innermost first (for the traffic table).
    public var levelOrder: [String]

    public init(
        clusterName: String, workloadName: String, gpus: Int, flat: Step, towers: Step?, towerLevel: String?, domainCount: Int, balanceBound: Double,
        towerTable: [Tower], candidates: [Candidate], searchSummary: String, scaling: [ScalingPoint], scalingMethod: String, embeddings: [String],
        assumptions: [String], reproduce: [String], diagramSVG: String?, notes: [String], levelOrder: [String]
    ) {
        self.clusterName = clusterName
        self.workloadName = workloadName
        self.gpus = gpus
        self.flat = flat
        self.towers = towers
        self.towerLevel = towerLevel
        self.domainCount = domainCount
        self.balanceBound = balanceBound
        self.towerTable = towerTable
        self.candidates = candidates
        self.searchSummary = searchSummary
        self.scaling = scaling
        self.scalingMethod = scalingMethod
        self.embeddings = embeddings
        self.assumptions = assumptions
        self.reproduce = reproduce
        self.diagramSVG = diagramSVG
        self.notes = notes
        self.levelOrder = levelOrder
    }

    /// Candidates listed in full in the table; the rest are counted by outcome.
    public static let listedCandidates = 25

    /// The report laid out: summary, reproduction commands, cluster and tower map, step-time
    /// breakdown, scaling, towers, links, candidates, embeddings, assumptions.
    public func document() -> ReportDocument {
        var document = ReportDocument(title: "DMT plan: \(workloadName) on \(clusterName)")
        var blocks: [ReportDocument.Block] = []
        let speedup = towers.map { flat.stepSeconds / $0.stepSeconds }
        if let towers, let speedup {
            blocks.append(.paragraph(
                "**Best plan:** \(towers.label). Simulated step **\(Self.duration(towers.stepSeconds))** against **\(Self.duration(flat.stepSeconds))** for the best flat layout (\(flat.label)): **\(String(format: "%.2f", speedup))× speedup**, \(String(format: "%.2f", towers.samplesPerSecond / 1e6)) M samples/s on \(gpus) GPUs."))
        } else {
            blocks.append(.paragraph("**No DMT plan meets the constraints**; the best flat layout (\(flat.label)) takes \(Self.duration(flat.stepSeconds)) per step. The candidate table says why each DMT candidate was rejected."))
        }
        blocks.append(.paragraph(searchSummary))
        if !notes.isEmpty { blocks.append(.bullets(notes)) }

        blocks.append(.heading(level: 2, text: "Reproduce"))
        blocks.append(.paragraph("Every step time in this report is `towerplan simulate` on the same files; these commands print the same numbers:"))
        blocks.append(.code(reproduce.joined(separator: "\n")))

        blocks.append(.heading(level: 2, text: "Cluster and tower placement"))
        if let diagramSVG {
            blocks.append(.figure(
                file: "cluster.svg", svg: diagramSVG,
                caption: "\(clusterName), drawn by Graphviz (repeated parts drawn once); the domains holding towers are coloured, a collapsed box names its first tower and counts the rest"))
        }
        if let towerLevel, !towerTable.isEmpty {
            var cells = [Int?](repeating: nil, count: domainCount)
            for tower in towerTable where tower.domain < domainCount { cells[tower.domain] = tower.tower }
            let labels = cells.enumerated().map { index, tower in tower.map { "t\($0)" } ?? "\(towerLevel) \(index)" }
            let tips = cells.enumerated().map { index, tower in
                "\(towerLevel) \(index)" + (tower.map { t in ": tower \(t), " + (towerTable.first { $0.tower == t }?.features.joined(separator: ", ") ?? "") } ?? ": idle")
            }
            blocks.append(.figure(
                file: "tower-map.svg",
                svg: SVGChart.grid(title: "Towers on \(towerLevel) domains (\(towerTable.count) of \(domainCount))", cells: cells, labels: labels, tooltips: tips, columns: Self.gridColumns(domainCount)),
                caption: "one cell per \(towerLevel) in cluster order; tN is tower N (hover for its features)"))
        }

        blocks.append(.heading(level: 2, text: "Step time: flat against DMT"))
        let steps = [flat] + (towers.map { [$0] } ?? [])
        blocks.append(.figure(
            file: "step-breakdown.svg", svg: breakdownChart(steps),
            caption: "exposed time per phase on each layout's slowest GPU (communication hidden behind compute is not counted); the bar ends at the step time"))
        blocks.append(breakdownTable(steps))

        if !scaling.isEmpty {
            blocks.append(.heading(level: 2, text: "Step time and speedup against GPU count"))
            blocks.append(.paragraph(scalingMethod))
            let labels = scaling.map { String($0.gpus) }
            blocks.append(.figure(
                file: "scaling.svg",
                svg: SVGChart.lines(
                    title: "Simulated step time", xLabels: labels,
                    series: [
                        SVGChart.Series(name: "flat (\(flat.label))", values: scaling.map(\.flatSeconds), color: "#D55E00"),
                        SVGChart.Series(name: "DMT", values: scaling.map(\.towersSeconds), color: "#0072B2"),
                    ], format: Self.duration, xTitle: "GPUs", yTitle: "step time"),
                caption: "the plan's configuration re-simulated on scaled copies of the cluster"))
            blocks.append(.figure(
                file: "speedup.svg",
                svg: SVGChart.bars(
                    title: "DMT speedup over flat", categories: labels, values: scaling.map { $0.speedup ?? 0 },
                    references: [SVGChart.Reference(value: 1, label: "1× (no gain)", color: "#555555")], format: { String(format: "%.2f×", $0) },
                    axisTitle: "speedup"),
                caption: "flat step / DMT step at each size"))
            blocks.append(.table(
                header: ["GPUs", "flat step", "DMT step", "speedup", "DMT layout"],
                rows: scaling.map { point in
                    [String(point.gpus), point.flatSeconds.map(Self.duration) ?? "—", point.towersSeconds.map(Self.duration) ?? "—",
                     point.speedup.map { String(format: "%.2f×", $0) } ?? "—", point.detail]
                }, rightAligned: [0, 1, 2, 3]))
        }

        if !towerTable.isEmpty {
            blocks.append(.heading(level: 2, text: "Towers"))
            blocks.append(.figure(
                file: "imbalance.svg",
                svg: SVGChart.bars(
                    title: "Tower cost / mean tower cost", categories: towerTable.map { "t\($0.tower)" }, values: towerTable.map(\.relativeCost),
                    references: [
                        SVGChart.Reference(value: balanceBound, label: String(format: "bound %.2f×", balanceBound)),
                        SVGChart.Reference(value: 1, label: "mean", color: "#555555"),
                    ], format: { String(format: "%.2f", $0) }, axisTitle: "cost / mean"),
                caption: "imbalance per tower: each tower's cost (lookup bytes and tower-module FLOPs) over the mean"))
            blocks.append(towersTable())
        }

        blocks.append(.heading(level: 2, text: "Traffic and busiest links"))
        blocks.append(trafficTable(steps))
        for step in steps {
            blocks.append(.paragraph("Busiest link directions, \(step.label):"))
            blocks.append(.table(
                header: ["busy", "bytes", "bandwidth", "link"],
                rows: step.busiestLinks.map { link in
                    [String(format: "%.1f%%", link.utilization * 100), Units.formatBytes(link.bytes),
                     Units.formatBits(perSecond: link.bandwidth) + (link.medium.map { " " + $0 } ?? ""), "`\(link.from)` → `\(link.to)`"]
                }, rightAligned: [0, 1, 2]))
        }

        blocks.append(.heading(level: 2, text: "Candidates"))
        blocks.append(candidateTable())
        let unlisted = candidates.dropFirst(Self.listedCandidates)
        if !unlisted.isEmpty {
            var byOutcome: [String: Int] = [:]
            for candidate in unlisted { byOutcome[candidate.outcome, default: 0] += 1 }
            blocks.append(.paragraph(
                "\(unlisted.count) more candidates not listed: " + byOutcome.keys.sorted().map { "\(byOutcome[$0] ?? 0) \($0)" }.joined(separator: ", ") + "."))
        }

        if !embeddings.isEmpty {
            blocks.append(.heading(level: 2, text: "Learned embeddings"))
            blocks.append(.bullets(embeddings))
        }
        blocks.append(.heading(level: 2, text: "Assumptions and calibration"))
        blocks.append(.bullets(assumptions))
        document.blocks = blocks
        return document
    }

    // MARK: Pieces

    private func breakdownChart(_ steps: [Step]) -> String {
        var names: [String] = []
        for step in steps { for phase in step.phases where phase.exposedSeconds > 0 && !names.contains(phase.name) { names.append(phase.name) } }
        var segments = names.map { name in
            SVGChart.Series(name: name, values: steps.map { step in step.phases.filter { $0.name == name }.reduce(0) { $0 + $1.exposedSeconds } })
        }
        segments.append(SVGChart.Series(name: "waiting for slower GPUs", values: steps.map(\.idleSeconds), color: "#BAB0AC"))
        return SVGChart.stackedBars(title: "Step-time breakdown (exposed time on the slowest GPU)", categories: steps.map(\.label), segments: segments, format: Self.duration)
    }

    private func breakdownTable(_ steps: [Step]) -> ReportDocument.Block {
        var names: [String] = []
        for step in steps { for phase in step.phases where !names.contains(phase.name) { names.append(phase.name) } }
        var rows = names.map { name in
            [name] + steps.flatMap { step -> [String] in
                guard let phase = step.phases.first(where: { $0.name == name }) else { return ["—", "—"] }
                return [Self.duration(phase.seconds), Self.duration(phase.exposedSeconds)]
            }
        }
        rows.append(["waiting for slower GPUs"] + steps.flatMap { ["", Self.duration($0.idleSeconds)] })
        rows.append(["**step**"] + steps.flatMap { ["", "**\(Self.duration($0.stepSeconds))**"] })
        let header = ["phase"] + steps.flatMap { ["\($0.label): time", "exposed"] }
        return .table(header: header, rows: rows, rightAligned: Set(1..<header.count))
    }

    private func towersTable() -> ReportDocument.Block {
        let rows = towerTable.map { tower -> [String] in
            let names = tower.features.prefix(8).joined(separator: ", ") + (tower.features.count > 8 ? ", … (+\(tower.features.count - 8))" : "")
            return [
                String(tower.tower), "\(tower.domain) (`\(tower.domainPath)`)", String(tower.features.count), String(format: "%.3f", tower.relativeCost),
                Units.formatBytes(tower.memoryBytes), String(tower.outputWidth), names,
            ]
        }
        return .table(
            header: ["tower", "domain", "features", "cost / mean", "tables + optimizer", "output width", "feature names"], rows: rows,
            rightAligned: [0, 2, 3, 4, 5])
    }

    private func trafficTable(_ steps: [Step]) -> ReportDocument.Block {
        let levels = levelOrder.filter { level in steps.contains { $0.bytesPerGPUByLevel[level] != nil } }
        return .table(
            header: ["bytes per GPU and step crossing"] + steps.map(\.label),
            rows: levels.map { level in [level] + steps.map { step in step.bytesPerGPUByLevel[level].map { Units.formatBytes($0) } ?? "0 B" } },
            rightAligned: Set(1...steps.count))
    }

    private func candidateTable() -> ReportDocument.Block {
        let dash = "—"
        let rows = candidates.prefix(Self.listedCandidates).enumerated().map { index, candidate -> [String] in
            let step = candidate.stepSeconds.map(Self.duration) ?? dash
            let speedup = candidate.speedup.map { String(format: "%.2f×", $0) } ?? dash
            let imbalance = candidate.imbalance.map { String(format: "%.3f×", $0) } ?? dash
            let captured = candidate.capturedAffinity.map { String(format: "%.1f%%", $0 * 100) } ?? dash
            let auc = candidate.auc.map { String(format: "%.4f", $0) } ?? dash
            return [String(index + 1), candidate.layout, step, speedup, imbalance, captured, auc, candidate.reason]
        }
        return .table(
            header: ["#", "layout", "step", "speedup vs flat", "imbalance", "captured affinity", "AUC", "outcome"], rows: rows,
            rightAligned: [0, 2, 3, 4, 5, 6])
    }

    /// Columns of the tower map: 8 for 64 domains, at most 16.
    static func gridColumns(_ count: Int) -> Int {
        min(16, max(1, Int(Double(count).squareRoot().rounded(.up))))
    }

    /// Seconds as the CLI prints them ("12.3 ms").
    public static func duration(_ seconds: Double) -> String { Units.formatDuration(seconds) }
}
