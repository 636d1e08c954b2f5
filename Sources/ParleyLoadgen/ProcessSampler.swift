#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of a process on this machine, read from Linux `/proc`
/// (proc(5): `/proc/PID/stat` utime and stime, `/proc/PID/status` VmRSS).
public struct ProcessSample: Sendable, Codable, Equatable {
    /// User plus system CPU seconds used so far.
    public var cpuSeconds: Double
    public var residentKiB: Int

    /// Reads process `pid` (0 for this process); nil when it does not exist or is unreadable.
    public static func read(pid: Int32) -> ProcessSample? {
        let base = pid == 0 ? "/proc/self" : "/proc/\(pid)"
        guard let stat = readProcFile(base + "/stat"), let status = readProcFile(base + "/status") else { return nil }
        // The command name is in parentheses and may hold spaces: count fields after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0 else { return nil }
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return ProcessSample(cpuSeconds: (user + system) / ticks, residentKiB: kib)
    }

    /// `/proc` files report size 0: read until end of file.
    private static func readProcFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
