import Foundation
import Simulation
import Topology
import Workload

/// Small clusters and workloads for the step-model tests, built inline.
enum StepFixtures {
    /// `hosts` hosts of `gpusPerHost` GPUs on an NVSwitch, one 100Gb/s NIC per GPU, all NICs on one
    /// switch: two levels (cluster, host), so "host" is the only boundary traffic can cross.
    /// With `sharedCores`, the accelerators time-share that many cores (`Cluster.sharedCores`).
    static func cluster(hosts: Int, gpusPerHost: Int, memory: String = "16GB", peak: String = "100TFLOP/s", sharedCores: Int? = nil) throws -> Cluster {
        let text = """
            <cluster name="grid"\(sharedCores.map { " shared-cores=\"\($0)\"" } ?? "")>
              <accelerator-model id="g" memory="\(memory)" memory-bandwidth="1TB/s"><peak precision="fp32" flops="\(peak)"/></accelerator-model>
              <template id="box">
                <accelerator id="gpu" model="g" count="\(gpusPerHost)"/>
                <switch id="nvswitch"/>
                <nic id="nic" count="\(gpusPerHost)"/>
                <link a="gpu" b="nvswitch" bandwidth="300GB/s" latency="0.5us"/>
                <link a="gpu" b="nic" pattern="one-to-one" bandwidth="32GB/s" latency="0.5us"/>
              </template>
              <fabric>
                <host template="box" count="\(hosts)"/>
                <switch id="fabric"/>
                <link a="host/nic" b="fabric" bandwidth="100Gb/s" latency="1us"/>
              </fabric>
            </cluster>
            """
        return try ClusterLoader.load(data: Data(text.utf8), name: "grid.xml")
    }

    /// One sparse feature as written in a workload file.
    struct Table {
        var rows: Int = 100_000
        var pooling: Double = 2
    }

    /// A DLRM with the given tables (dimension `dimension`, int64 ids), a bottom MLP ending at D,
    /// a dot interaction, fp32 throughout, SGD, and optionally a tower module element.
    static func workload(
        _ tables: [Table], dimension: Int = 16, batch: Int = 64, towerModule: String = "", bottomHidden: [Int] = [64], top: [Int] = [64, 1]
    ) throws -> Workload {
        let features = tables.enumerated().map { index, table in
            "<feature name=\"f\(index)\" rows=\"\(table.rows)\" pooling=\"\(table.pooling)\"/>"
        }
        let text = """
            <workload name="test">
              <recommendation>
                <sparse dimension="\(dimension)" id-bytes="8">
                  \(features.joined(separator: "\n      "))
                </sparse>
                <dense features="13"/>
                <bottom-mlp widths="\((bottomHidden + [dimension]).map(String.init).joined(separator: " "))"/>
                <interaction kind="dot"/>
                <top-mlp widths="\(top.map(String.init).joined(separator: " "))"/>
                \(towerModule)
              </recommendation>
              <training batch-per-gpu="\(batch)">
                <precision embedding="fp32" forward-communication="fp32" backward-communication="fp32" compute="fp32"/>
                <sparse-optimizer kind="sgd" learning-rate="0.1"/>
                <dense-optimizer kind="sgd" learning-rate="0.1"/>
              </training>
            </workload>
            """
        return try WorkloadLoader.load(data: Data(text.utf8), name: "test.xml")
    }

    /// `count` identical tables.
    static func uniform(_ count: Int, rows: Int = 100_000, pooling: Double = 2) -> [Table] {
        [Table](repeating: Table(rows: rows, pooling: pooling), count: count)
    }

    static func simulate(_ plan: StepPlan, on cluster: Cluster, overlap: Bool = true) throws -> StepResult {
        try StepModel(communication: ExactCommunicationModel(cluster: cluster), overlapInputDistribution: overlap).simulate(plan)
    }
}

extension StepResult {
    /// The timeline of the task called `name`.
    func task(_ name: String) -> TaskTimeline? { tasks.first { $0.name == name } }

    /// The phase called `name`.
    func phase(_ name: String) -> Phase? { phases.first { $0.name == name } }
}
