#if canImport(Glibc)
import Glibc
#endif
import CParleyLinux

/// How many CPUs this process may keep busy: the default shard count of a transceiver and
/// worker count of a relay. The affinity set
/// (sched_getaffinity) bounds it, and so does a CPU quota of the process's cgroup or any of
/// its ancestors (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`), rounded up:
/// a container allowed 1.5 CPUs gets 2 shards. At least 1.
public enum CPUBudget {
    public static func available() -> Int {
        var cpus = [Int32](repeating: 0, count: 1_024)
        let allowed = Int(parley_allowed_cpus(&cpus, Int32(cpus.count)))
        var budget = allowed > 0 ? allowed : 1
        if let quota = cgroupQuota(membership: readFile("/proc/self/cgroup") ?? "", read: readFile) {
            budget = min(budget, quota)
        }
        return max(1, budget)
    }

    /// The smallest CPU quota, in whole CPUs rounded up, over the cgroups `membership` (the
    /// text of /proc/self/cgroup) names and their ancestors, read through `read`; nil when
    /// none is set.
    static func cgroupQuota(membership: String, read: (String) -> String?) -> Int? {
        var quotas: [Int] = []
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let path = String(fields[2])
            if fields[0] == "0", controllers.isEmpty {
                for directory in ancestors(of: path) {
                    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                        if let text = read(root + directory + "cpu.max"), let quota = quota(cpuMax: text) {
                            quotas.append(quota)
                        }
                    }
                }
            } else if controllers.contains("cpu") {
                let mount = "/sys/fs/cgroup/" + controllers.joined(separator: ",")
                for root in Set([mount, "/sys/fs/cgroup/cpu"]) {
                    for directory in ancestors(of: path) {
                        if let quotaText = read(root + directory + "cpu.cfs_quota_us"),
                           let periodText = read(root + directory + "cpu.cfs_period_us"),
                           let quota = quota(cfsQuota: quotaText, cfsPeriod: periodText) {
                            quotas.append(quota)
                        }
                    }
                }
            }
        }
        return quotas.min()
    }

    /// cgroup v2 `cpu.max`: "QUOTA PERIOD" in microseconds, or "max PERIOD" for no limit.
    static func quota(cpuMax text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let quota = Int(fields[0]), let period = Int(fields[1]) else { return nil }
        return wholeCPUs(quota: quota, period: period)
    }

    /// cgroup v1 CFS bandwidth: a quota of -1 means no limit.
    static func quota(cfsQuota: String, cfsPeriod: String) -> Int? {
        func number(_ text: String) -> Int? { text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } }
        guard let quota = number(cfsQuota), let period = number(cfsPeriod) else { return nil }
        return wholeCPUs(quota: quota, period: period)
    }

    private static func wholeCPUs(quota: Int, period: Int) -> Int? {
        guard quota > 0, period > 0 else { return nil }
        return max(1, (quota + period - 1) / period)
    }

    /// "/a/b" → ["/a/b/", "/a/", "/"]: directories whose limits all apply.
    private static func ancestors(of path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var directories: [String] = []
        while true {
            directories.append("/" + parts.map { $0 + "/" }.joined())
            guard !parts.isEmpty else { return directories }
            parts.removeLast()
        }
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
