// swift-tools-version:6.0
// towerplan: plan Disaggregated Multi-Tower layouts for recommendation-model training.
// Module layout and dependency direction follow DESIGN.md §2: Topology and Workload are leaves,
// Reports renders result types, the CLI (towerplan) sits on top. Modules named in DESIGN.md are
// added by the issues that implement them;
// Partitioning holds the partition file so far, the strategies come with the tower-partitioner issue.
import PackageDescription

let package = Package(
    name: "towerplan",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "towerplan", targets: ["towerplan"]),
        .library(name: "Topology", targets: ["Topology"]),
        .library(name: "Workload", targets: ["Workload"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "Partitioning", targets: ["Partitioning"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Planner", targets: ["Planner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, reached through pkg-config (apt names in `providers`).
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CGraphviz", pkgConfig: "libgvc", providers: [.apt(["libgraphviz-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, …) are macros over global symbols that Swift
        // cannot import; the shim header turns them into inline functions.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),

        // XML parsing with line numbers and XML Schema validation, shared by every file format.
        .target(name: "SchemaXML", dependencies: ["CLibXML2"]),
        .target(
            name: "Topology",
            dependencies: ["SchemaXML"],
            resources: [.copy("Resources/topology.xsd")]
        ),
        .target(name: "Simulation", dependencies: ["Topology", "Workload"]),
        .target(
            name: "Workload",
            dependencies: ["SchemaXML"],
            resources: [.copy("Resources/workload.xsd")]
        ),
        .target(name: "Partitioning", dependencies: ["Workload"]),
        // Real training on CPU (DESIGN §2): tensors over OpenBLAS, DLRM and DMT models, data readers.
        .target(name: "Training", dependencies: ["Workload", "COpenBLAS"]),
        // Search over tower layouts (DESIGN §2): enumerate → estimate → propose → partition → report.
        .target(name: "Planner", dependencies: ["Simulation", "Partitioning", "Training", "Topology", "Workload"]),
        .target(name: "Reports", dependencies: ["Topology", "CGraphviz"]),
        // The same models across MPI ranks (DESIGN §2): the MPI wrapper, flat and SPTT steps, the launcher.
        .target(name: "Distributed", dependencies: ["Training", "Workload", "Simulation", "Topology", "CMPI"]),
        // The process `mpirun` starts for a distributed run (and for the DistributedTests).
        .executableTarget(
            name: "towerplan-mpi-worker",
            dependencies: ["Distributed", "Training", "Workload", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "towerplan",
            dependencies: [
                "Topology", "Workload", "Partitioning", "Simulation", "Reports", "SchemaXML", "Training", "Planner", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Performance harnesses (Benchmarks/README.md): not part of the test suite.
        .executableTarget(
            name: "towerplan-bench", dependencies: ["Topology", "Workload", "Simulation", "Partitioning"], path: "Benchmarks/towerplan-bench"),

        .testTarget(name: "SchemaXMLTests", dependencies: ["SchemaXML"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Topology", "Workload"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Topology"]),
        .testTarget(name: "WorkloadTests", dependencies: ["Workload"]),
        .testTarget(name: "PartitioningTests", dependencies: ["Partitioning", "Workload"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Workload"]),
        // Finds the built executables for the suites that run them.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The towerplan binary end to end (it must be built: `swift build --build-tests`).
        .testTarget(name: "CLITests", dependencies: ["Partitioning", "Training", "Workload", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Simulation", "Topology", "Training", "Workload", "TestSupport"]),
        .testTarget(name: "PlannerTests", dependencies: ["Planner", "Simulation", "Partitioning", "Training", "Topology", "Workload"]),
    ]
)
