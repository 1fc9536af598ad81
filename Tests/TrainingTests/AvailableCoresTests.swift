import Testing

@testable import Training

/// The cores a process can keep busy: its affinity, capped by a cgroup CPU quota (v2 and v1).
@Suite struct AvailableCoresTests {
    /// A file system of `files` (path → contents).
    static func reader(_ files: [String: String]) -> (String) -> String? { { files[$0] } }

    @Test func cgroupV2QuotaInTheProcesssGroupOrAtTheRoot() {
        let group = "0::/system.slice/job.scope\n"
        #expect(AvailableCores.quota(cgroup: group, read: Self.reader(["/sys/fs/cgroup/system.slice/job.scope/cpu.max": "200000 100000\n"])) == 2)
        // A container sees its own group at the root of the mount.
        #expect(AvailableCores.quota(cgroup: "0::/\n", read: Self.reader(["/sys/fs/cgroup/cpu.max": "150000 100000"])) == 1.5)
        #expect(AvailableCores.quota(cgroup: group, read: Self.reader(["/sys/fs/cgroup/cpu.max": "max 100000"])) == nil)
        #expect(AvailableCores.quota(cgroup: group, read: Self.reader([:])) == nil)
    }

    @Test func cgroupV1QuotaOverPeriod() {
        let group = "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n0::/\n"
        let files = ["/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000", "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"]
        #expect(AvailableCores.quota(cgroup: group, read: Self.reader(files)) == 4)
        let unlimited = ["/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1", "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000"]
        #expect(AvailableCores.quota(cgroup: "1:cpu:/\n", read: Self.reader(unlimited)) == nil)
        // A quota without a readable period is no quota.
        #expect(AvailableCores.quota(cgroup: "1:cpu:/\n", read: Self.reader(["/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000"])) == nil)
    }

    @Test func theQuotaCapsTheAffinityToWholeCores() {
        #expect(AvailableCores.count(affinity: 64, quota: nil) == 64)
        #expect(AvailableCores.count(affinity: 64, quota: 4) == 4)
        #expect(AvailableCores.count(affinity: 2, quota: 8) == 2)
        #expect(AvailableCores.count(affinity: 8, quota: 2.6) == 3)
        #expect(AvailableCores.count(affinity: 8, quota: 0.2) == 1)
        #expect(AvailableCores.count >= 1)
    }
}
