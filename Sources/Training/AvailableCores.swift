import Foundation

/// How many cores this process can keep busy at once: the CPUs its affinity mask allows
/// (`activeProcessorCount`), fewer when its cgroup's CPU quota grants less — what a container
/// runtime sets for `docker run --cpus N` or a Kubernetes CPU limit, which the affinity mask does
/// not show. Threads and ranks beyond it time-share, so thread defaults, Open MPI's yield setting
/// and a calibrated cluster's `shared-cores` all start from it. Cost: a few small file reads.
public enum AvailableCores {
    /// The cores of this process (at least 1).
    public static var count: Int {
        let affinity = ProcessInfo.processInfo.activeProcessorCount
        let group = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        return count(affinity: affinity, quota: quota(cgroup: group) { try? String(contentsOfFile: $0, encoding: .utf8) })
    }

    /// `affinity` cores, capped by a quota of `quota` cores (rounded to the nearest whole core,
    /// at least 1); nil: no quota.
    static func count(affinity: Int, quota: Double?) -> Int {
        guard let quota else { return max(affinity, 1) }
        return max(1, min(affinity, Int(quota.rounded())))
    }

    /// The CPU quota in cores of the cgroup `/proc/self/cgroup` names, read through `read` (a
    /// path → contents); nil when there is none or it says "max"/−1. cgroup v2: `cpu.max`
    /// ("quota period"); v1: `cpu.cfs_quota_us` over `cpu.cfs_period_us`, under whichever of the
    /// usual mount points holds them. Each candidate path is tried in the process's own cgroup, then
    /// at the root of the mount (where a container sees its own group).
    static func quota(cgroup: String, read: (String) -> String?) -> Double? {
        var candidates: [(quota: String, period: String?)] = []
        for line in cgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2]), controllers = fields[1].split(separator: ",")
            if fields[0] == "0" && fields[1].isEmpty {
                for directory in ["/sys/fs/cgroup" + path, "/sys/fs/cgroup"] { candidates.append((directory + "/cpu.max", nil)) }
            } else if controllers.contains("cpu") {
                for mount in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu"] {
                    for directory in [mount + path, mount] {
                        candidates.append((directory + "/cpu.cfs_quota_us", directory + "/cpu.cfs_period_us"))
                    }
                }
            }
        }
        for candidate in candidates {
            guard let text = read(candidate.quota)?.trimmingCharacters(in: .whitespacesAndNewlines) else { continue }
            let parts = text.split(separator: " ")
            let periodText = candidate.period.flatMap(read)?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let quota = parts.first.flatMap({ Double($0) }), quota > 0,
                  let period = (parts.count > 1 ? Double(parts[1]) : periodText.flatMap(Double.init)), period > 0
            else { return nil }
            return quota / period
        }
        return nil
    }
}
