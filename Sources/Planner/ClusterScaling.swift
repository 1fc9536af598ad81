import Topology

/// Smaller and larger copies of a cluster, for "how does the plan scale" and sweeps over cluster
/// sizes.
///
/// The method: the outermost repeated level is given another count and everything inside and
/// above it stays as written. Walking down from the root through groups of one instance, the
/// first group of several instances that holds GPUs is scaled (Grand Teton: its 32 racks of two
/// hosts, so 16-GPU steps: 64, 128, 256, 512, 1024 GPUs; Llama 3: its 8 pods of 3,072 GPUs).
/// Hosts, links and per-link figures are unchanged; links declared between levels (ToR to
/// spines) follow the new count, and an oversubscription ratio keeps its meaning per uplink. The
/// result is a cluster as if its file had said the other count.
///
/// Cost: the spec is edited in place; building the cluster is `Cluster(spec:)`, linear in devices.
public enum ClusterScaling {
    /// The scaled level's name, its count, and the GPUs in one instance.
    public struct Unit: Sendable, Hashable {
        public var level: String
        public var count: Int
        public var gpusPerInstance: Int
    }

    /// Which level scales and by how much per instance. Throws when no single repeated group holds
    /// the GPUs (GPUs beside the repeated group, or two repeated groups side by side).
    public static func unit(of spec: ClusterSpec) throws(PlannerError) -> Unit {
        let path = try scalablePath(spec.root, name: spec.name)
        var domain = spec.root
        for index in path { domain = domain.children[index] }
        return Unit(level: domain.level, count: domain.count, gpusPerInstance: accelerators(in: domain) / domain.count)
    }

    /// The cluster with `gpus` accelerators, named `NAME@GPUS` unless `gpus` is its own count.
    public static func scaled(_ spec: ClusterSpec, gpus: Int) throws -> Cluster {
        let path = try scalablePath(spec.root, name: spec.name)
        let unit = try unit(of: spec)
        guard gpus >= unit.gpusPerInstance, gpus % unit.gpusPerInstance == 0 else {
            throw PlannerError.invalid(
                "\(spec.name) scales by whole \(unit.level)s of \(unit.gpusPerInstance) GPUs; \(gpus) GPUs is not a multiple (try \(unit.gpusPerInstance), \(2 * unit.gpusPerInstance), …, \(unit.count * unit.gpusPerInstance))")
        }
        let count = gpus / unit.gpusPerInstance
        var changed = spec
        if count != unit.count {
            setCount(&changed.root, path: path[...], to: count)
            changed.name = "\(spec.name)@\(gpus)"
        }
        return try Cluster(spec: changed)
    }

    /// GPUs in one domain spec with its count: own accelerators and children's, times the count.
    static func accelerators(in domain: DomainSpec) -> Int {
        let own = domain.devices.filter { $0.kind == .accelerator }.reduce(0) { $0 + $1.count }
        return domain.count * (own + domain.children.reduce(0) { $0 + accelerators(in: $1) })
    }

    /// Child indices from the root to the group that scales.
    private static func scalablePath(_ root: DomainSpec, name: String) throws(PlannerError) -> [Int] {
        var path: [Int] = []
        var domain = root
        while true {
            let own = domain.devices.contains { $0.kind == .accelerator }
            let holding = domain.children.indices.filter { accelerators(in: domain.children[$0]) > 0 }
            guard !own, holding.count == 1, let child = holding.first else {
                throw PlannerError.invalid(
                    "\(name) cannot be scaled: no single repeated level holds all its GPUs (GPUs sit in \(holding.count) groups\(own ? " and directly in \(domain.level)" : "")); write the sizes as separate files")
            }
            path.append(child)
            domain = domain.children[child]
            if domain.count > 1 { return path }
        }
    }

    private static func setCount(_ domain: inout DomainSpec, path: ArraySlice<Int>, to count: Int) {
        guard let first = path.first else {
            domain.count = count
            return
        }
        setCount(&domain.children[first], path: path.dropFirst(), to: count)
    }
}
